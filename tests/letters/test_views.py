"""The letter pages (issue 15): write, edit, finalise, correct and print through the whole stack;
a draft's bad input said on the form; the secretary refused every page (C1)."""

from __future__ import annotations

from typing import Any

from secretum.letters.models import Letter
from tests.conftest import client_for
from tests.pdf import pdf_text


def test_write_finalise_print_and_correct_a_certificate(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    page = client.get(f"/letters/{patient.uid}/")
    assert page.status_code == 200 and b"No letter written." in page.content
    made = client.post(f"/letters/{patient.uid}/new/", {"kind": "sick-leave", "language": "nl"})
    letter = Letter.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/letters/letter/{letter.uid}/"
    url = made["Location"]
    form = {"start": "2026-12-01", "end": "2026-12-03", "outings": "not-allowed", "reason": "Quz"}
    assert client.post(url, form).status_code == 302
    # N2: out of bounds, said on the form (400), nothing saved.
    bad = client.post(url, {**form, "end": "2026-11-01"})
    assert bad.status_code == 400 and b"ends before it starts" in bad.content
    assert client.post(f"{url}finalise/", {}).status_code == 302
    shown = client.get(url)
    assert b'data-testid="print-employer"' in shown.content
    assert b'data-testid="letter-form"' not in shown.content
    printed = client.post(f"{url}print/", {"copy": "employer"})
    assert printed["Content-Type"] == "application/pdf"
    text = pdf_text(printed.content)
    assert "Getuigschrift van arbeidsongeschiktheid" in text and "Quz" not in text
    assert "Mag de woning niet verlaten" in text
    # A finalised letter is kept: an edit is refused and said; a correction is a new draft.
    refused = client.post(url, {**form, "reason": "Other"}, follow=True)
    assert b"A finalised letter is kept as it is" in refused.content
    corrected = client.post(f"{url}correct/", {})
    assert corrected.status_code == 302 and corrected["Location"] != url
    listing = client.get(f"/letters/{patient.uid}/")
    assert listing.content.count(b"/letters/letter/") == 2


def test_a_draft_is_not_printed(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    url = client.post(f"/letters/{patient.uid}/new/", {"kind": "report", "language": "en"})[
        "Location"
    ]
    said = client.post(f"{url}print/", {}, follow=True)
    assert b"Only a finalised letter is printed or sent." in said.content
    missing = client.post(f"{url}finalise/", {}, follow=True)
    assert b"is needed before the letter is finalised" in missing.content


def test_a_bad_choice_goes_back_to_the_list(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    answer = client.post(f"/letters/{patient.uid}/new/", {"kind": "poem", "language": "fr"})
    assert answer.status_code == 302 and answer["Location"] == f"/letters/{patient.uid}/"
    assert not Letter.objects.exists()


def test_the_secretary_is_refused_every_letter_page(
    practitioner: Any, secretary: Any, patient: Any
) -> None:
    doctor = client_for(practitioner)
    url = doctor.post(f"/letters/{patient.uid}/new/", {"kind": "report", "language": "fr"})[
        "Location"
    ]
    client = client_for(secretary)
    for method, path in (
        ("get", f"/letters/{patient.uid}/"),
        ("post", f"/letters/{patient.uid}/new/"),
        ("get", url),
        ("post", url),
        ("post", f"{url}finalise/"),
        ("post", f"{url}correct/"),
        ("post", f"{url}print/"),
    ):
        assert getattr(client, method)(path, {}).status_code == 403, path


def test_a_form_out_of_bounds_and_a_record_altered_are_said(
    practitioner: Any, patient: Any
) -> None:
    from secretum.letters.forms import LetterForm

    form = LetterForm("report", {"subject": "x" * 201, "body": "y"})
    assert not form.is_valid() and "subject" in form.errors
    client = client_for(practitioner)
    url = client.post(f"/letters/{patient.uid}/new/", {"kind": "report", "language": "fr"})[
        "Location"
    ]
    other = client.post(f"/letters/{patient.uid}/new/", {"kind": "report", "language": "fr"})
    Letter.objects.exclude(uid=url.split("/")[-2]).delete()  # an attacker removes a letter
    assert other.status_code == 302
    said = client.post(url, {"subject": "Bilan", "body": "Rien."})
    assert said.status_code == 400 and b"altered outside Secretum" in said.content


def test_a_second_correction_is_refused_on_the_page(practitioner: Any, patient: Any) -> None:
    client = client_for(practitioner)
    url = client.post(f"/letters/{patient.uid}/new/", {"kind": "report", "language": "en"})[
        "Location"
    ]
    client.post(url, {"subject": "Check-up", "body": "Nothing to report."})
    client.post(f"{url}finalise/", {})
    assert client.post(f"{url}correct/", {}).status_code == 302
    again = client.post(f"{url}correct/", {}, follow=True)
    assert b"A correction of this letter is already being written." in again.content
