# Entries and records authenticated under the key file (E10, G3, O2; clinical/integrity.py,
# patients/integrity.py).

import django.utils.timezone
from django.db import migrations, models

KINDS = ("encounter", "problem", "allergy", "medication", "observation")


def seal_existing_records(apps, schema_editor):
    """Records written before seals existed are taken as they are now, once, at the upgrade."""
    from secretum.clinical import integrity
    from secretum.crypto.fields import SealedField
    from secretum.patients import integrity as records

    models_ = {kind: apps.get_model("clinical", kind) for kind in KINDS}
    fields = {
        kind: [f.name for f in m._meta.concrete_fields if isinstance(f, SealedField)]
        for kind, m in models_.items()
    }
    for patient in apps.get_model("patients", "Patient").objects.iterator():
        uid = str(patient.uid)
        seals = []
        for kind, model in models_.items():
            rows = list(model.objects.filter(patient=patient))
            for row in rows:
                row.row_seal = integrity.seal_of(row, uid, fields[kind])
                seals.append((kind, row.uid, row.row_seal))
            model.objects.bulk_update(rows, ["row_seal"], batch_size=500)
        records.stamp(patient, records.digest_of(seals))
        patient.save(update_fields=["record_version", "entries_digest", "record_seal"])


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0001_initial'),
        ('patients', '0002_record_seals'),
    ]

    operations = [
        migrations.AddField(
            model_name='allergy',
            name='row_seal',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='encounter',
            name='row_seal',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='medication',
            name='row_seal',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='observation',
            name='row_seal',
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name='problem',
            name='row_seal',
            field=models.BinaryField(null=True),
        ),
        migrations.AlterField(
            model_name='allergy',
            name='recorded_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AlterField(
            model_name='encounter',
            name='recorded_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AlterField(
            model_name='medication',
            name='recorded_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AlterField(
            model_name='observation',
            name='recorded_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AlterField(
            model_name='problem',
            name='recorded_at',
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.RunPython(seal_existing_records, migrations.RunPython.noop),
    ]
