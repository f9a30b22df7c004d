# Name tokens padded to the same count for every patient (issue 9; patients/services.py
# search_tokens): a patient indexed before padding existed is indexed again, so that the number
# of their tokens no longer tells the length of their name.

import sys

from django.db import migrations
from django.db.models import Count


def pad_existing_tokens(apps, schema_editor):
    from secretum.crypto import keyring
    from secretum.patients.models import IDENTITY_FIELDS
    from secretum.patients.services import NAME_TOKENS, search_tokens

    Patient = apps.get_model("patients", "Patient")
    SearchToken = apps.get_model("patients", "SearchToken")
    names = dict(
        SearchToken.objects.filter(kind="name")
        .values_list("patient_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for patient in Patient.objects.iterator():
        if names.get(patient.pk, 0) >= NAME_TOKENS:
            continue
        try:
            key = keyring.unwrap_data_key(patient.wrapped_key, f"patients.Patient:{patient.uid}")
            values = {
                name: key.open(getattr(patient, name), f"patients.Patient.{name}:{patient.uid}")
                for name in IDENTITY_FIELDS
            }
        except keyring.DecryptionError:
            # Altered outside Secretum: left as it is; `secretum records verify` names it.
            sys.stderr.write(f"  patient {patient.uid}: does not open, its index left as it is\n")
            continue
        SearchToken.objects.filter(patient=patient).delete()
        SearchToken.objects.bulk_create(
            SearchToken(patient=patient, kind=kind, token=token)
            for kind, token in search_tokens(values)
        )


class Migration(migrations.Migration):

    dependencies = [
        ("patients", "0002_record_seals"),
    ]

    operations = [
        migrations.RunPython(pad_existing_tokens, migrations.RunPython.noop),
    ]
