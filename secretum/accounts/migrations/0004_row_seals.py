# Rows that grant rights, sealed under the key file (B1, B3, C1, O2; accounts/integrity.py).

from django.db import migrations, models


def seal_existing_rows(apps, schema_editor):
    """Rows written before seals existed are taken as they are now, once, at the upgrade."""
    from secretum.accounts.integrity import SEALED, seal_of

    for label in SEALED:
        model = apps.get_model(label)
        for row in model.objects.all():
            values = {name: getattr(row, name) for name in SEALED[label]}
            model.objects.filter(pk=row.pk).update(row_seal=seal_of(label, row.pk, values))


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
