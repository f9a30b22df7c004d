# Medications gain product codes (CNK, ATC), a strength, a route, start and stop dates, a number
# of packages and a "deliver from" date (issue 15: prescriptions), all sealed; and practitioners
# a RIZIV/INAMI number to prescribe under. A row's seal covers every sealed field of its model
# (clinical/integrity.py): the seals of the medications made before are renewed here, where
# they held over the fields they had, as 0004 did for problems. An altered row, or a record whose
# seal or set of entries did not hold, stays as it was: this upgrade makes nothing altered look
# intact (E10, G3).

import hmac

import django.db.models.deletion
import secretum.crypto.fields
import secretum.crypto.rows
from django.conf import settings
from django.db import migrations, models

BEFORE = ("drug", "dose", "frequency", "duration")
AFTER = (
    *BEFORE, "cnk", "atc", "strength", "route", "start", "stop", "quantity", "not_before",
)
ADDED = AFTER[len(BEFORE):]


def _entries_digest(apps, patient_pk):
    """The digest of a record's entries (patients/integrity.py) from the tables as they stand at
    this migration: a kind whose table a later migration makes holds no row yet."""
    from secretum.patients import integrity as records

    entries = []
    for kind, registered in records.ENTRY_KINDS.items():
        meta = registered.model._meta
        try:
            model = apps.get_model(meta.app_label, meta.model_name)
        except LookupError:
            continue
        rows = model.objects.filter(patient_id=patient_pk).values_list("uid", "row_seal")
        entries += [(kind, uid, seal) for uid, seal in rows]
    return records.digest_of(entries)


def renew_medication_seals(apps, schema_editor):
    from secretum.clinical import integrity
    from secretum.patients import integrity as records

    medication = apps.get_model("clinical", "Medication")
    patients = apps.get_model("patients", "Patient")
    for patient_id in medication.objects.values_list("patient_id", flat=True).distinct():
        patient = patients.objects.get(pk=patient_id)
        uid = str(patient.uid)
        held = patient.entries_digest is not None and hmac.compare_digest(
            bytes(patient.entries_digest), _entries_digest(apps, patient_id)
        )
        record_held = held and records.intact(patient)
        rows = list(medication.objects.filter(patient_id=patient_id))
        for row in rows:
            before = integrity.seal_of(row, uid, BEFORE)
            if row.row_seal is not None and hmac.compare_digest(bytes(row.row_seal), before):
                row.row_seal = integrity.seal_of(row, uid, AFTER)
        medication.objects.bulk_update(rows, ["row_seal"], batch_size=500)
        if record_held:
            patient.entries_digest = _entries_digest(apps, patient_id)
            patient.record_seal = records.seal_of(patient)
            patient.save(update_fields=["entries_digest", "record_seal"])


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0005_lab_results'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        *(
            migrations.AddField(
                model_name='medication',
                name=name,
                field=secretum.crypto.fields.SealedField(null=True),
            )
            for name in ADDED
        ),
        migrations.RunPython(renew_medication_seals, migrations.RunPython.noop),
        migrations.CreateModel(
            name='Prescriber',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('riziv', models.CharField(max_length=11)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('row_seal', models.BinaryField(max_length=32, null=True)),
                ('user', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='prescriber', to=settings.AUTH_USER_MODEL)),
            ],
            bases=(secretum.crypto.rows.SealedRow, models.Model),
        ),
    ]
