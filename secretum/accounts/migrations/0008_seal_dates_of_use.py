# C2, B1: an account's dates of use (joined, last login, enabled again) are sealed with the fields
# that grant rights (accounts/models.py). Each row is sealed again with them, only if it still
# matched its seal, so that accounts altered before the upgrade stay refused.

from django.db import migrations

BEFORE = (
    "username", "first_name", "last_name", "role", "is_active", "is_staff", "is_superuser",
    "password", "must_enrol_factor", "must_change_password", "role_starts_at", "role_ends_at",
)  # fmt: skip
AFTER = (*BEFORE, "date_joined", "last_login", "enabled_at")


def reseal(apps, schema_editor):
    import hmac

    from secretum.crypto.rows import seal_of, stamp

    model = apps.get_model("accounts", "User")
    for row in model.objects.all():
        expected = seal_of("accounts.User", row.pk, [getattr(row, f) for f in BEFORE])
        if row.row_seal is not None and hmac.compare_digest(bytes(row.row_seal), expected):
            stamp(row, AFTER)
            model.objects.filter(pk=row.pk).update(row_seal=row.row_seal)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_nurse_and_technician"),
    ]

    operations = [migrations.RunPython(reseal, migrations.RunPython.noop)]
