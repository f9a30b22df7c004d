# The archive period (J1; patients/archive.py), sealed with the practice's settings: the row is
# sealed again with it, only if it still matched its seal, so that settings altered before the
# upgrade stay refused (as 0006 did for the inactivity limit).

import django.core.validators
from django.db import migrations, models

BEFORE = ("idle_timeout_minutes", "session_lifetime_hours", "password_renewal_days", "inactive_days")
AFTER = (*BEFORE, "archive_years")


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
        ('accounts', '0008_seal_dates_of_use'),
    ]

    operations = [
        migrations.AddField(
            model_name='practicesettings',
            name='archive_years',
            field=models.PositiveSmallIntegerField(default=5, validators=[django.core.validators.MinValueValidator(2), django.core.validators.MaxValueValidator(30)]),
        ),
        migrations.RunPython(reseal, migrations.RunPython.noop),
    ]
