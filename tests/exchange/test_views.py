"""The patient's copy from the chart (GDPR art. 15/20; L1, E7, M3): a practitioner in care
downloads the FHIR bundle encrypted; the passphrase is on the answer's page only."""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

from secretum.access.policy import Role
from secretum.crypto import age
from tests.conftest import client_for, events, make_user


def _download(page: str) -> bytes:
    found = re.search(r'href="data:application/octet-stream;base64,([A-Za-z0-9+/=]+)"', page)
    assert found, "no download link"
    return base64.b64decode(found.group(1))


def test_the_chart_offers_the_copy_and_the_page_gives_it(
    practitioner: Any, full_chart: Any
) -> None:
    client = client_for(practitioner)
    chart = client.get(f"/patients/{full_chart.uid}/").content.decode()
    assert f'href="/exchange/{full_chart.uid}/copy/"' in chart
    form = client.get(f"/exchange/{full_chart.uid}/copy/")
    assert form.status_code == 200 and full_chart.family_name.upper() in form.content.decode()
    answer = client.post(f"/exchange/{full_chart.uid}/copy/", {"recipient": ""})
    assert answer.status_code == 200 and answer["Cache-Control"] == "no-store"
    page = answer.content.decode()
    passphrase = re.search(r'data-testid="copy-passphrase"><code>([a-z0-9-]+)</code>', page)
    assert passphrase, page
    blob = _download(page)
    assert full_chart.family_name.encode() not in blob
    bundle = json.loads(
        b"".join(age.decrypt(io.BytesIO(blob), age.ScryptIdentity(passphrase.group(1))))
    )
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == full_chart.niss
    assert full_chart.family_name not in page  # the answer names no one but in the file
    assert 'data-testid="copy-altered"' not in page
    (event,) = events(action="export")
    assert event.outcome == "success" and passphrase.group(1) not in event.detail
    assert "patient's copy" in event.detail


def test_for_the_patients_key_and_a_wrong_key_said_clearly(
    practitioner: Any, full_chart: Any
) -> None:
    client = client_for(practitioner)
    identity = age.X25519Identity.generate()
    page = client.post(
        f"/exchange/{full_chart.uid}/copy/",
        {"delivery": "recipient", "delivery_key": identity.recipient().encode()},
    ).content.decode()
    assert 'data-testid="copy-passphrase"' not in page
    bundle = json.loads(b"".join(age.decrypt(io.BytesIO(_download(page)), identity)))
    assert bundle["type"] == "collection"
    wrong = client.post(
        f"/exchange/{full_chart.uid}/copy/", {"delivery": "recipient", "delivery_key": "not-a-key"}
    )
    assert wrong.status_code == 200 and "not an age public key" in wrong.content.decode()
    assert len(events(action="export")) == 1


def test_in_clear_only_with_a_reason_as_on_the_command_line(
    practitioner: Any, full_chart: Any
) -> None:
    """E7, M3: the web as the command line: a plain copy needs its reason, which the event keeps."""
    client = client_for(practitioner)
    url = f"/exchange/{full_chart.uid}/copy/"
    refused = client.post(url, {"delivery": "plain", "delivery_reason": "short"})
    assert "base64," not in refused.content.decode() and not events(action="export")
    reason = "Le patient demande une copie lisible sur sa clé USB (fictif)."
    page = client.post(url, {"delivery": "plain", "delivery_reason": reason}).content.decode()
    assert 'data-testid="copy-passphrase"' not in page and 'download="patient-' in page
    bundle = json.loads(_download(page))
    assert bundle["entry"][0]["resource"]["identifier"][0]["value"] == full_chart.niss
    (event,) = events(action="export")
    detail = json.loads(event.detail)
    assert (detail["encryption"], detail["plain_reason"]) == ("none", reason)
    assert detail["file"].endswith(".fhir.json")


def test_refused_to_the_secretary_and_to_a_practitioner_without_care(full_chart: Any) -> None:
    secretary = client_for(make_user(Role.SECRETARY))
    assert secretary.get(f"/exchange/{full_chart.uid}/copy/").status_code == 403
    assert secretary.post(f"/exchange/{full_chart.uid}/copy/").status_code == 403
    stranger = client_for(make_user(Role.PRACTITIONER))
    answer = stranger.post(f"/exchange/{full_chart.uid}/copy/", {"recipient": ""})
    assert answer.status_code == 403 and b"base64," not in answer.content
    (event,) = events(action="export")
    assert event.outcome == "denied"


def test_a_record_altered_outside_secretum_is_said_on_the_copy(
    practitioner: Any, full_chart: Any
) -> None:
    """Patient safety: a copy of a record with an entry deleted in the database says so."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM clinical_allergy WHERE substance IS NOT NULL")
    page = client_for(practitioner).post(f"/exchange/{full_chart.uid}/copy/", {"recipient": ""})
    assert 'data-testid="copy-altered"' in page.content.decode()
    (event,) = events(action="export")
    assert event.outcome == "success"  # the alert itself is the chart's (test_record_integrity)
