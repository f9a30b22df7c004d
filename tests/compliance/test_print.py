"""Printed patient documents (P1, C3): logged, footed, watermarked; medical content only for
those who may read it."""

from __future__ import annotations

from typing import Any

import pytest

from secretum.access.actor import AccessDenied
from secretum.access.policy import Role
from secretum.clinical import services as clinical
from secretum.compliance import printing
from secretum.compliance.models import PrintLog
from tests.conftest import actor_for, client_for, events, make_user
from tests.pdf import pdf_text


@pytest.fixture
def chart(practitioner: Any, patient: Any) -> Any:
    actor = actor_for(practitioner)
    clinical.record_entry(
        actor, patient.uid, "allergy", {"substance": "Pénicilline", "severity": "severe"}
    )
    clinical.record_entry(
        actor, patient.uid, "problem", {"system": "icpc-2", "code": "K86", "label": "Hypertension"}
    )
    clinical.record_entry(
        actor,
        patient.uid,
        "medication",
        {"drug": "Amlodipine 5 mg", "dose": "1", "frequency": "1x/j", "duration": "3 mois"},
    )
    return patient


def test_a_practitioner_prints_the_summary_with_footer_and_watermark(
    practitioner: Any, chart: Any
) -> None:
    printed = printing.print_patient_summary(actor_for(practitioner), chart.uid)
    assert printed.data.startswith(b"%PDF")
    text = pdf_text(printed.data)
    assert chart.family_name.upper() in text
    assert "Pénicilline" in text
    assert "Hypertension" in text and "Amlodipine 5 mg" in text
    assert "Confidential — destroy by shredding after use" in text
    # The watermark (drawn first on the page, under the text): who printed it, and when (UTC).
    assert text.startswith(f"{practitioner.get_full_name()} ({practitioner.username}) - ")
    assert " UTC" in text.split("Patient summary")[0]


def test_a_print_is_logged_and_audited_in_one_transaction(practitioner: Any, chart: Any) -> None:
    printing.print_patient_summary(actor_for(practitioner), chart.uid)
    log = PrintLog.objects.get()
    assert (log.user, log.scope, log.patient_ref) == (practitioner, "medical", chart.uid)
    printed = events(action="print")
    assert len(printed) == 1
    event = printed[0]
    assert (event.resource, event.patient_ref, event.resource_ref) == (
        "clinical.Chart",
        chart.uid,
        str(log.uid),
    )
    assert '"document":"patient-summary"' in event.detail


def test_a_secretary_prints_the_identity_only(secretary: Any, chart: Any) -> None:
    printed = printing.print_patient_summary(actor_for(secretary), chart.uid)
    text = pdf_text(printed.data)
    assert chart.family_name.upper() in text
    assert "Hypertension" not in text and "Amlodipine" not in text  # C1, C3
    assert PrintLog.objects.get().scope == "identity"
    assert events(action="print")[0].resource == "patients.Patient"


def test_a_manager_cannot_print_patient_documents(manager: Any, chart: Any) -> None:
    with pytest.raises(AccessDenied):
        printing.print_patient_summary(actor_for(manager), chart.uid)
    assert events(action="print")[-1].outcome == "denied"
    assert not PrintLog.objects.exists()


def test_the_print_page_answers_a_pdf_to_a_post_only(practitioner: Any, chart: Any) -> None:
    client = client_for(practitioner)
    # GET asks how the file leaves (E7, M3; tests/exchange/test_delivery.py) and prints nothing.
    assert b"%PDF" not in client.get(f"/compliance/print/{chart.uid}/").content
    response = client.post(
        f"/compliance/print/{chart.uid}/",
        {"delivery": "plain", "delivery_reason": "Fictitious test of the file in clear."},
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert (
        make_user(Role.AUDITOR)
        and client_for(make_user(Role.AUDITOR)).post(f"/compliance/print/{chart.uid}/").status_code
        == 403
    )
