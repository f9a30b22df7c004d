"""Letters and certificates (issue 15; P1, C1, C3, N2): made from the chart, edited as drafts,
kept once finalised, printed as every patient document is, and refused to whoever may not
read them."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from secretum.access import care
from secretum.access.actor import AccessDenied, Actor
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.clinical import services as clinical
from secretum.compliance.models import PrintLog
from secretum.letters import integrity, services
from secretum.letters.models import Letter
from secretum.patients import services as patients
from tests.conftest import actor_for, events, identity, make_user
from tests.pdf import pdf_text

DIAGNOSIS = "Épisode dépressif Quzdiagnosis"  # fictitious (N3)


def _chart(actor: Actor, uid: str) -> None:
    clinical.record_entry(
        actor, uid, "problem", {"system": "icpc-2", "code": "K86", "label": "HTA"}
    )
    clinical.record_entry(
        actor, uid, "medication",
        {"drug": "Amlodipine 5 mg", "dose": "1 co", "frequency": "1x/j", "duration": "3 mois"},
    )  # fmt: skip
    clinical.record_entry(
        actor, uid, "allergy", {"substance": "Pénicilline", "reaction": "urticaire",
                                "severity": "severe"}
    )  # fmt: skip


def _final(actor: Actor, uid: str, kind: str = "referral", **content: str) -> str:
    made = services.create_letter(actor, uid, kind, "fr")
    fields = {
        "referral": {"reason": "Douleur thoracique", "question": "Avis cardiologique ?"},
        "sick-leave": {"start": "2026-12-01", "end": "2026-12-07", "outings": "allowed",
                       "reason": DIAGNOSIS},
        "report": {"subject": "Bilan", "body": "Rien à signaler."},
    }[kind]  # fmt: skip
    services.update_letter(actor, made.info.uid, {**made.content, **fields, **content})
    services.finalise_letter(actor, made.info.uid)
    return made.info.uid


def test_a_referral_letter_is_filled_from_the_chart(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    _chart(actor, patient.uid)
    made = services.create_letter(actor, patient.uid, "referral", "fr")
    assert "K86 HTA" in made.content["history"]
    assert "Amlodipine 5 mg - 1 co" in made.content["medication"]
    assert made.content["allergies"] == "Pénicilline (urticaire)"
    assert made.info.status == "draft"
    # The chart read to fill it, then the letter made: each its own event (D1).
    assert [(e.action, e.resource) for e in events(patient_ref=patient.uid)][-2:] == [
        ("read", "clinical.Chart"), ("create", "letters.Letter"),
    ]  # fmt: skip
    row = Letter.objects.get(uid=made.info.uid)
    assert b"HTA" not in bytes(row.content)  # sealed (E10)
    assert integrity.intact(row, patient.uid)


def test_a_draft_is_edited_a_finalised_letter_is_kept(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    uid = _final(actor, patient.uid)
    with pytest.raises(ValidationError, match="finalised letter is kept"):
        services.update_letter(actor, uid, {"reason": "Autre chose", "question": "?"})
    assert services.access_letter(actor, uid).content["reason"] == "Douleur thoracique"
    last = events(patient_ref=patient.uid)[-2]
    assert (last.action, last.outcome) == ("update", "failure")
    with pytest.raises(ValidationError):
        services.finalise_letter(actor, uid)  # once only
    # A correction is a new version; the finalised one is kept, superseded when it is final.
    new = services.correct_letter(actor, uid)
    assert new.info.corrects and new.content["reason"] == "Douleur thoracique"
    with pytest.raises(ValidationError, match="already being written"):
        services.correct_letter(actor, uid)
    services.update_letter(actor, new.info.uid, {**new.content, "reason": "Dyspnée"})
    services.finalise_letter(actor, new.info.uid)
    old = Letter.objects.get(uid=uid)
    assert old.superseded_at is not None and old.status == "final"
    assert services.access_letter(actor, uid).content["reason"] == "Douleur thoracique"
    with pytest.raises(ValidationError, match="current finalised version"):
        services.correct_letter(actor, uid)
    _identity, listed = services.patient_letters(actor, patient.uid)
    assert [(x.current, x.corrects) for x in listed] == [(True, True), (False, False)]


def test_a_finalised_letter_made_a_draft_in_the_database_is_refused(
    practitioner: Any, patient: Any
) -> None:
    """An attacker with the database turns a finalised letter back into a draft to edit it:
    the row seal no longer matches, the write is refused and reported."""
    actor = actor_for(practitioner)
    uid = _final(actor, patient.uid)
    Letter.objects.filter(uid=uid).update(status="draft")
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        services.update_letter(actor, uid, {"reason": "Falsifié", "question": "?"})
    assert services.access_letter(actor, uid).altered
    with pytest.raises(ValidationError):
        services.print_letter(actor, uid)
    assert any(e.detail and "row-altered" in e.detail for e in events(resource="letters.Letter"))


def test_finalising_needs_the_required_fields(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    made = services.create_letter(actor, patient.uid, "sick-leave", "nl")
    with pytest.raises(ValidationError, match="needed before the letter is finalised"):
        services.finalise_letter(actor, made.info.uid)
    bad = {"start": "2026-12-07", "end": "2026-12-01", "outings": "allowed"}
    with pytest.raises(ValidationError, match="ends before it starts"):
        services.update_letter(actor, made.info.uid, bad)
    with pytest.raises(ValidationError, match="at most 300 characters"):
        services.update_letter(actor, made.info.uid, {"reason": "x" * 301})  # N2
    with pytest.raises(ValidationError, match="give a date"):
        services.update_letter(actor, made.info.uid, {"start": "demain"})
    with pytest.raises(ValidationError, match="choose one"):
        services.update_letter(actor, made.info.uid, {"outings": "maybe"})
    with pytest.raises(ValidationError, match="at most a year"):
        services.update_letter(actor, made.info.uid, {"start": "2026-01-01", "end": "2027-06-01"})
    with pytest.raises(ValidationError, match="No such kind"):
        services.create_letter(actor, patient.uid, "prescription", "fr")
    with pytest.raises(ValidationError, match="French, Dutch or English"):
        services.create_letter(actor, patient.uid, "report", "de")


def test_a_certificate_a_nurse_drafted_is_signed_by_the_practitioner_who_finalised_it(
    practitioner: Any, patient: Any
) -> None:
    """Finalising is signing (clinical:record:sign): a nurse may draft, never finalise; the
    printed letter names who finalised it, not who drafted it; a replaced letter is not printed
    again (its correction is)."""
    nurse = make_user(Role.NURSE)
    nurse.first_name, nurse.last_name = "Quzinette", "Drafter"
    nurse.save()
    care.declare_care(actor_for(nurse), patient.uid)
    practitioner.first_name, practitioner.last_name = "Quzimir", "Signer"
    practitioner.save()
    drafted = services.create_letter(actor_for(nurse), patient.uid, "report", "fr")
    services.update_letter(
        actor_for(nurse), drafted.info.uid, {"subject": "Bilan", "body": "Rien à signaler."}
    )
    with pytest.raises(AccessDenied):
        services.finalise_letter(actor_for(nurse), drafted.info.uid)
    services.finalise_letter(actor_for(practitioner), drafted.info.uid)
    text = pdf_text(services.print_letter(actor_for(practitioner), drafted.info.uid).data)
    assert "Quzimir Signer" in text and "Quzinette" not in text
    correction = services.correct_letter(actor_for(practitioner), drafted.info.uid)
    services.finalise_letter(actor_for(practitioner), correction.info.uid)
    with pytest.raises(ValidationError, match="replaced by a correction"):
        services.print_letter(actor_for(practitioner), drafted.info.uid)


def test_the_employer_certificate_never_carries_the_diagnosis(
    practitioner: Any, patient: Any
) -> None:
    """C3: the medical reason is printed on the medical adviser's copy only; the employer's copy,
    and the copy a sending path takes, say it is withheld."""
    actor = actor_for(practitioner)
    uid = _final(actor, patient.uid, "sick-leave")
    employer = pdf_text(services.print_letter(actor, uid).data)
    assert "Certificat d'incapacité de travail" in employer
    assert "du 01/12/2026 au 07/12/2026 inclus" in employer
    assert "Sortie autorisée" in employer
    assert "non communiqué (secret médical)" in employer
    assert "Quzdiagnosis" not in employer and "dépressif" not in employer
    _name, sent, patient_uid = services.letter_document(actor, uid)
    assert patient_uid == patient.uid and "Quzdiagnosis" not in pdf_text(sent)
    adviser = pdf_text(services.print_letter(actor, uid, "adviser").data)
    assert DIAGNOSIS in adviser
    with pytest.raises(ValidationError):
        services.print_letter(actor, uid, "employer-with-reason")


def test_every_name_prints_as_written(practitioner: Any) -> None:
    """P1: Łukasz Wałęsa, Yılmaz, with the footer and the watermark, logged like a summary."""
    actor = actor_for(practitioner)
    practitioner.first_name, practitioner.last_name = "Ayşe", "Yılmaz"
    practitioner.save()
    actor = actor_for(practitioner)
    uid = patients.register_patient(actor, identity(family_name="Wałęsa", given_name="Łukasz")).uid
    letter = _final(actor, uid, "referral", recipient="Dr Øyvind Ødegård, CHU Liège")
    printed = services.print_letter(actor, letter)
    text = pdf_text(printed.data)
    for name in ("WAŁĘSA", "Łukasz", "Ayşe Yılmaz", "Øyvind Ødegård"):
        assert name in text, name
    assert "Lettre de référence" in text and "Avis cardiologique ?" in text
    assert "destroy by shredding after use" in text  # the footer, in the interface's language
    log = PrintLog.objects.get()
    assert (log.document, log.scope, log.patient_ref) == ("letter", "medical", uid)
    event = events(action="print")[-1]
    assert (event.resource, event.resource_ref) == ("letters.Letter", str(log.uid))
    report = _final(actor, uid, "report")
    assert "Rapport médical" in pdf_text(services.print_letter(actor, report).data)


def test_a_draft_is_neither_printed_nor_sent(practitioner: Any, patient: Any) -> None:
    actor = actor_for(practitioner)
    made = services.create_letter(actor, patient.uid, "report", "en")
    with pytest.raises(ValidationError, match="Only a finalised letter"):
        services.print_letter(actor, made.info.uid)
    with pytest.raises(ValidationError, match="Only a finalised letter"):
        services.letter_document(actor, made.info.uid)
    assert not PrintLog.objects.exists()


def test_the_system_prints_no_letter(practitioner: Any, patient: Any) -> None:
    uid = _final(actor_for(practitioner), patient.uid, "report")
    system = Actor(user=None, role=None)
    with pytest.raises(AccessDenied):
        services.print_letter(system, uid)


def test_a_secretary_reads_nor_writes_any_letter(
    practitioner: Any, secretary: Any, patient: Any
) -> None:
    """C1: the secretary holds no medical permission: every call refused by the gate, audited."""
    uid = _final(actor_for(practitioner), patient.uid)
    actor = actor_for(secretary)
    calls = (
        lambda: services.patient_letters(actor, patient.uid),
        lambda: services.access_letter(actor, uid),
        lambda: services.create_letter(actor, patient.uid, "referral", "fr"),
        lambda: services.update_letter(actor, uid, {}),
        lambda: services.finalise_letter(actor, uid),
        lambda: services.correct_letter(actor, uid),
        lambda: services.print_letter(actor, uid),
        lambda: services.letter_document(actor, uid),
    )
    for call in calls:
        with pytest.raises(AccessDenied):
            call()
    refused = [e for e in events(actor=secretary) if e.resource == "letters.Letter"]
    assert len(refused) == len(calls) and {e.outcome for e in refused} == {"denied"}


def test_a_practitioner_without_care_is_refused(practitioner: Any, patient: Any) -> None:
    uid = _final(actor_for(practitioner), patient.uid)
    stranger = actor_for(make_user(Role.PRACTITIONER))
    for call in (
        lambda: services.access_letter(stranger, uid),
        lambda: services.print_letter(stranger, uid),
        lambda: services.letter_document(stranger, uid),
        lambda: services.correct_letter(stranger, uid),
        lambda: services.create_letter(stranger, patient.uid, "report", "fr"),
        lambda: services.patient_letters(stranger, patient.uid),
    ):
        with pytest.raises(NoCareRelationship):
            call()
    assert not PrintLog.objects.exists()


def test_an_auditor_sees_the_audit_rows_only(practitioner: Any, auditor: Any, patient: Any) -> None:
    uid = _final(actor_for(practitioner), patient.uid)
    with pytest.raises(AccessDenied):
        services.access_letter(actor_for(auditor), uid)


def test_an_unknown_letter_is_not_found(practitioner: Any) -> None:
    actor = actor_for(practitioner)
    for uid in ("00000000-0000-4000-8000-000000000000", "not-a-uid"):
        with pytest.raises(Http404):
            services.access_letter(actor, uid)


def test_a_letter_altered_or_deleted_in_the_database_is_reported_and_refused(
    practitioner: Any, patient: Any
) -> None:
    """An attacker with the database gives a finalised certificate another kind (to print it
    as a letter), then deletes a letter: each refused, reported to the auditor (the "tampered"
    alert), never laundered by a new seal."""
    actor = actor_for(practitioner)
    uid = _final(actor, patient.uid, "sick-leave")
    draft = services.create_letter(actor, patient.uid, "report", "fr").info.uid
    Letter.objects.filter(uid=uid).update(kind="report")
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        services.print_letter(actor, uid)
    services.patient_letters(actor, patient.uid)  # listed, and reported
    tampered = [
        e for e in events(resource="letters.Letter") if e.detail and "row-altered" in e.detail
    ]
    assert {e.resource_ref for e in tampered} == {uid}
    Letter.objects.filter(uid=uid).delete()
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        services.update_letter(actor, draft, {"subject": "x"})
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        services.create_letter(actor, patient.uid, "report", "fr")


def test_the_bounds_are_the_service_s_own() -> None:
    """N2: a kind the form does not offer, and a birth date unknown, said plainly."""
    from secretum.letters import kinds
    from secretum.letters.pdf import _day

    with pytest.raises(ValidationError, match="No such kind"):
        kinds.clean_content("poem", {})
    assert _day(None) == "-" and _day("2026-12-01") == "01/12/2026"
    assert kinds.language_of("nl-be") == "nl" and kinds.language_of("de") == "fr"
