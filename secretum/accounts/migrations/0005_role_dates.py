# Roles given for a period (C2; access/actor.py role_of). A role's dates are sealed with the user
# row (accounts/integrity.py): every row is sealed again with them, each only if it still matched
# its seal, so that a row altered before the upgrade stays refused.

import django.utils.timezone
from django.db import migrations, models

BEFORE = (
    "username", "first_name", "last_name", "role", "is_active", "is_staff", "is_superuser",
    "password", "must_enrol_factor", "must_change_password",
)
AFTER = (*BEFORE, "role_starts_at", "role_ends_at")


def date_and_reseal(apps, schema_editor):
    import hmac

    from secretum.crypto.rows import seal_of, stamp

    model = apps.get_model("accounts", "User")
    for row in model.objects.all():
        expected = seal_of("accounts.User", row.pk, [getattr(row, f) for f in BEFORE])
        intact = row.row_seal is not None and hmac.compare_digest(bytes(row.row_seal), expected)
        # The role of an existing account applies since the account was made: when it was
        # given is not known any better.
        row.role_starts_at = row.date_joined
        values = {"role_starts_at": row.role_starts_at}
        if intact:  # an altered row is never laundered into a valid seal: it stays refused
            stamp(row, AFTER)
            values["row_seal"] = row.row_seal
        model.objects.filter(pk=row.pk).update(**values)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0004_row_seals'),
    ]

    operations = [
        migrations.AddField(
            model_name='user',
            name='role_ends_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='user',
            name='role_starts_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(date_and_reseal, migrations.RunPython.noop),
    ]
