# Accounts disabled when unused (C2; accounts/lifecycle.py). The practice's inactivity limit is
# sealed with its settings (accounts/integrity.py): the row is sealed again with it, only if it
# still matched its seal, so that settings altered before the upgrade stay refused.

import django.core.validators
from django.db import migrations, models

BEFORE = ("idle_timeout_minutes", "session_lifetime_hours", "password_renewal_days")
AFTER = (*BEFORE, "inactive_days")


def reseal(apps, schema_editor):
    import hmac

    from secretum.crypto.rows import seal_of, stamp

    model = apps.get_model("accounts", "PracticeSettings")
    for row in model.objects.all():
        expected = seal_of("accounts.PracticeSettings", row.pk, [getattr(row, f) for f in BEFORE])
        if row.row_seal is not None and hmac.compare_digest(bytes(row.row_seal), expected):
            stamp(row, AFTER)
            model.objects.filter(pk=row.pk).update(row_seal=row.row_seal)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_role_dates'),
    ]

    operations = [
        migrations.AddField(
            model_name='practicesettings',
            name='inactive_days',
            field=models.PositiveSmallIntegerField(default=90, validators=[django.core.validators.MinValueValidator(30), django.core.validators.MaxValueValidator(365)]),
        ),
        migrations.AddField(
            model_name='user',
            name='disabled_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.AddField(
            model_name='user',
            name='disabled_reason',
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name='user',
            name='enabled_at',
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(reseal, migrations.RunPython.noop),
    ]
