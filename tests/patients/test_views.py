"""The web pages: a secretary sees no medical data anywhere (C1); no identifier in a URL (H2)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from secretum.clinical import services as clinical
from secretum.scheduling import services as scheduling
from tests.conftest import actor_for, client_for, events, identity

# Fictitious clinical markers: if any appears in a secretary's response, C1 is broken.
MARKERS = {
    "encounter": {
        "reason": "Xylomarqueur-motif",
        "subjective": "Xylomarqueur-subjectif",
        "assessment": "Xylomarqueur-evaluation",
    },
    "problem": {"system": "icpc-2", "code": "A99", "label": "Xylomarqueur-diagnostic"},
    "allergy": {"substance": "Xylomarqueur-substance", "severity": "severe"},
    "medication": {
        "drug": "Xylomarqueur-medicament",
        "dose": "1",
        "frequency": "1",
        "duration": "1",
    },
    "observation": {"code": "weight", "value": "71.3"},
}


def _all_get_urls(patient_uid: str, entries: dict[str, str]) -> list[str]:
    """Every URL pattern, instantiated with this patient's and entries' identifiers."""
    urls = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                for kind, uid in entries.items():
                    url = route.replace("<slug:kind>", kind).replace("<uuid:uid>", uid)
                    url = url.replace("<uuid:patient>", patient_uid)
                    urls.append("/" + url)
                urls.append(
                    "/"
                    + route.replace("<uuid:uid>", patient_uid)
                    .replace("<uuid:patient>", patient_uid)
                    .replace("<slug:kind>", "observation")
                )

    walk(get_resolver().url_patterns, "")
    return sorted({u for u in urls if "<" not in u})


def test_secretary_never_receives_medical_data(practitioner: Any, secretary: Any) -> None:
    doctor = actor_for(practitioner)
    from secretum.patients import services as patients

    patient = patients.register_patient(doctor, identity())
    entries = {
        kind: clinical.record_entry(doctor, patient.uid, kind, values).uid
        for kind, values in MARKERS.items()
    }
    client = client_for(secretary)
    urls = _all_get_urls(patient.uid, entries)
    assert len(urls) > 10
    for url in urls:
        response = client.get(url)
        body = response.content.decode()
        assert "Xylomarqueur" not in body, url
        assert "71.3" not in body and "Q99X" not in body, url
        if url.startswith("/clinical/"):
            assert response.status_code in (403, 405), url
    # The patient page itself is served, with the identity.
    page = client.get(f"/patients/{patient.uid}/").content.decode()
    assert patient.family_name.upper() in page and 'data-testid="chart"' not in page
    # Search results show identities only.
    found = client.post("/patients/", {"q": patient.family_name[:6]}).content.decode()
    assert patient.family_name.upper() in found and "Xylomarqueur" not in found


def test_practitioner_records_an_observation_through_the_page(
    practitioner: Any, patient: Any
) -> None:
    client = client_for(practitioner)
    url = f"/clinical/{patient.uid}/observation/new/"
    refused = client.post(url, {"code": "bp", "value": "400/80"})
    assert refused.status_code == 200
    assert "400 mmHg" in refused.content.decode()
    accepted = client.post(url, {"code": "bp", "value": "131/79"})
    assert accepted.status_code == 302 and accepted["Location"] == f"/patients/{patient.uid}/"
    assert "131/79" in client.get(accepted["Location"]).content.decode()


def test_search_is_posted_so_no_identifier_reaches_a_url(practitioner: Any, patient: Any) -> None:
    """H2: a national number typed in the search box never becomes part of a URL."""
    client = client_for(practitioner)
    assert (
        client.get("/patients/", {"q": patient.niss})
        .content.decode()
        .count(patient.family_name.upper())
        == 0
    )
    response = client.post("/patients/", {"q": patient.niss})
    links = re.findall(r'href="([^"]+)"', response.content.decode())
    assert any(patient.uid in link for link in links)
    for link in links:
        assert patient.niss not in link and patient.family_name.lower() not in link.lower()


def test_url_patterns_take_only_opaque_identifiers() -> None:
    """H2: no integer primary key, name or national number in any route."""
    routes = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            else:
                routes.append(prefix + str(p.pattern))

    walk(get_resolver().url_patterns, "")
    converters = {c for r in routes for c in re.findall(r"<(\w+):", r)}
    assert converters <= {"uuid", "slug"}
    assert not [r for r in routes if re.search(r"<(?!uuid|slug)", r)]


def test_secretary_books_an_appointment(secretary: Any, practitioner: Any, patient: Any) -> None:
    client = client_for(secretary)
    # A day the agenda books (N2: at most five years ahead).
    day = (timezone.localdate() + dt.timedelta(days=30)).isoformat()
    response = client.post(
        f"/agenda/book/{patient.uid}/",
        {"practitioner": practitioner.pk, "day": day, "time": "09:30", "duration": 15},
    )
    assert response.status_code == 302
    booked = scheduling.patient_appointments(actor_for(secretary), patient.uid)
    assert [timezone.localtime(a.starts_at).strftime("%H:%M") for a in booked] == ["09:30"]
    clash = client.post(
        f"/agenda/book/{patient.uid}/",
        {"practitioner": practitioner.pk, "day": day, "time": "09:40", "duration": 15},
    )
    assert "already has an appointment" in clash.content.decode()
    assert events(action="create", resource="scheduling.Appointment")[0].actor == secretary
