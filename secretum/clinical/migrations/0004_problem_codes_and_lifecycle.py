# Problems gain a code system (ICD-10 or ICPC-2) and a lifecycle (issue 15). Both are sealed
# fields, and a row's seal covers every sealed field of its model (clinical/integrity.py): the
# seals of the rows made before are renewed here, where they held over the fields they had. An
# altered row, or a record whose seal or set of entries did not hold, stays as it was: this
# upgrade makes nothing altered look intact (E10, G3).

import hmac

import secretum.crypto.fields
from django.db import migrations

BEFORE = ("code", "label", "onset")
AFTER = ("code", "label", "onset", "system", "status")


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


def renew_problem_seals(apps, schema_editor):
    from secretum.clinical import integrity
    from secretum.patients import integrity as records

    problem = apps.get_model("clinical", "Problem")
    patients = apps.get_model("patients", "Patient")
    for patient_id in problem.objects.values_list("patient_id", flat=True).distinct():
        patient = patients.objects.get(pk=patient_id)
        uid = str(patient.uid)
        held = patient.entries_digest is not None and hmac.compare_digest(
            bytes(patient.entries_digest), _entries_digest(apps, patient_id)
        )
        record_held = held and records.intact(patient)
        rows = list(problem.objects.filter(patient_id=patient_id))
        for row in rows:
            before = integrity.seal_of(row, uid, BEFORE)
            if row.row_seal is not None and hmac.compare_digest(bytes(row.row_seal), before):
                row.row_seal = integrity.seal_of(row, uid, AFTER)
        problem.objects.bulk_update(rows, ["row_seal"], batch_size=500)
        if record_held:
            patient.entries_digest = _entries_digest(apps, patient_id)
            patient.record_seal = records.seal_of(patient)
            patient.save(update_fields=["entries_digest", "record_seal"])


class Migration(migrations.Migration):

    dependencies = [
        ('clinical', '0003_vaccinations'),
        ('documents', '0003_row_seals'),  # the set of entries counts documents by their seals
    ]

    operations = [
        migrations.AddField(
            model_name='problem',
            name='system',
            field=secretum.crypto.fields.SealedField(null=True),
        ),
        migrations.AddField(
            model_name='problem',
            name='status',
            field=secretum.crypto.fields.SealedField(null=True),
        ),
        migrations.RunPython(renew_problem_seals, migrations.RunPython.noop),
    ]
