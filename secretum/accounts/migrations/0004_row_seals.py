# Rows that grant rights, sealed under the key file (B1, B3, C1, O2; accounts/integrity.py).

from django.db import migrations, models


# The sealed fields as they stood at this migration: later migrations add fields the historical
# models here do not have yet (0005 re-stamps the rows with the fields it adds).
SEALED_FIELDS = {
    "accounts.User": (
        "username", "first_name", "last_name", "role", "is_active", "is_staff", "is_superuser",
        "password", "must_enrol_factor", "must_change_password",
    ),
    "accounts.Factor": (
        "user_id", "kind", "confirmed", "totp_secret", "credential_id", "public_key",
    ),
    "accounts.PracticeSettings": (
        "idle_timeout_minutes", "session_lifetime_hours", "password_renewal_days",
    ),
}


def seal_existing_rows(apps, schema_editor):
    """Rows written before seals existed are taken as they are now, once, at the upgrade."""
    from secretum.crypto.rows import stamp

    for label, fields in SEALED_FIELDS.items():
        model = apps.get_model(label)
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
