# Rows that grant rights, sealed under the key file (B1, B3, C1, O2; accounts/integrity.py).

from django.db import migrations, models


def seal_existing_rows(apps, schema_editor):
    """Rows written before seals existed are taken as they are now, once, at the upgrade."""
    from django.apps import apps as current

    from secretum.crypto.rows import stamp

    for label in ("accounts.User", "accounts.Factor", "accounts.PracticeSettings"):
        model = apps.get_model(label)
        fields = current.get_model(label).SEALED_FIELDS
        for row in model.objects.all():
            stamp(row, fields)
            model.objects.filter(pk=row.pk).update(row_seal=row.row_seal)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_sessions_and_links'),
    ]

    operations = [
        migrations.AddField(
            model_name='factor',
            name='row_seal',
            field=models.BinaryField(max_length=32, null=True),
        ),
        migrations.AddField(
            model_name='practicesettings',
            name='row_seal',
            field=models.BinaryField(max_length=32, null=True),
        ),
        migrations.AddField(
            model_name='user',
            name='row_seal',
            field=models.BinaryField(max_length=32, null=True),
        ),
        migrations.RunPython(seal_existing_rows, migrations.RunPython.noop),
    ]
