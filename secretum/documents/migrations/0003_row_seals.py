# Documents sealed under the key file, each content's SHA-256 kept in its row, and counted in
# the record's set of entries (issue 15; D4, E10, G3; documents/integrity.py). Each existing
# document is sealed, and its record's entries digest recomputed with them, only where the
# record still matched its seal and its set of clinical entries: a record altered before the
# upgrade stays altered (its documents are sealed when someone acknowledges it, `secretum
# records acknowledge`).

from django.db import migrations, models

KINDS = ("encounter", "problem", "allergy", "medication", "observation")


def seal_existing_documents(apps, schema_editor):
    import hmac

    from secretum.documents import integrity
    from secretum.patients import integrity as records

    clinical = {kind: apps.get_model("clinical", kind) for kind in KINDS}
    document = apps.get_model("documents", "Document")
    patients = apps.get_model("patients", "Patient").objects.filter(
        id__in=document.objects.values("patient_id")
    )
    for row in (
        document.objects.filter(content__isnull=False).only("id", "content").iterator(chunk_size=50)
    ):  # the hash of each content as it stands: a fact, sealed below only in intact records
        document.objects.filter(pk=row.pk).update(content_sha256=integrity.content_sha256(row))
    for patient in patients.order_by("id").iterator(chunk_size=500):
        seals = [
            (kind, uid, seal)
            for kind, model in clinical.items()
            for uid, seal in model.objects.filter(patient=patient).values_list("uid", "row_seal")
        ]
        digest = patient.entries_digest
        if not (
            records.intact(patient)
            and digest is not None
            and hmac.compare_digest(bytes(digest), records.digest_of(seals))
        ):
            continue  # altered before the upgrade: left so
        uid = str(patient.uid)
        rows = list(document.objects.filter(patient=patient).defer("content"))
        for row in rows:
            row.row_seal = integrity.seal_of(row, uid)
            seals.append((integrity.KIND, row.uid, row.row_seal))
        document.objects.bulk_update(rows, ["row_seal"], batch_size=100)
        # The same version: the record's own history is unchanged, only what its seal covers.
        patient.entries_digest = records.digest_of(seals)
        patient.record_seal = records.seal_of(patient)
        patient.save(update_fields=["entries_digest", "record_seal"])


class Migration(migrations.Migration):
    dependencies = [
        ("documents", "0002_unfiled"),
        ("clinical", "0002_record_seals"),
        ("patients", "0003_pad_search_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="document",
            name="content_sha256",
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name="document",
            name="row_seal",
            field=models.BinaryField(null=True),
        ),
        migrations.RunPython(seal_existing_documents, migrations.RunPython.noop),
    ]
