"""A declaration never hides failing evidence (issue 11).

Before: a manager declared C2 (or B3, or D2) "not needed" while its check failed, and the measure
showed "declared", left the reminders and the mailed summary, and the signed report overstated.
Now the evidence always shows beside the declaration; a declaration that failing evidence
contradicts counts as not met ("contradicted") until the check passes or the declaration is
withdrawn, stays among the reminders and in the summary, and the report says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from secretum.access.actor import AccessDenied
from secretum.access.policy import Role
from secretum.compliance import access_review, declarations, register, reminders, reports
from secretum.compliance.models import Declaration
from tests.conftest import actor_for, client_for, events, make_user
from tests.pdf import pdf_text

NOT_NEEDED = "We are two colleagues who trust each other: no review is needed."


def _declare(manager: Any, measure: str, choice: str = "not-needed", **kw: Any) -> Any:
    values: dict[str, Any] = {
        "choice": choice,
        "justification": NOT_NEEDED if choice != "adopted" else "",
        "owner_id": manager.pk,
        "next_review": timezone.localdate() + dt.timedelta(days=365),
    }
    values.update(kw)
    return declarations.declare(actor_for(manager), measure, **values)


def _row(manager: Any, measure: str) -> Any:
    return register.register(actor_for(manager)).row(measure)


def test_a_declaration_against_failing_evidence_is_contradicted_until_the_check_passes(
    manager: Any,
) -> None:
    # No access review recorded: C2's live check fails.
    assert _row(manager, "C2").failing_evidence
    _declare(manager, "C2")
    row = _row(manager, "C2")
    assert (row.status, row.contradicted) == ("not-met", True)
    assert row.status_label == "not met: declaration contradicted by the evidence"
    assert row.reason.startswith("Contradicted: the practice declared “not needed”, but the ")
    assert "No access review recorded yet." in row.reason
    assert row.evidence is not None and not row.evidence.met  # the evidence shows
    assert row.declaration is not None and row.declaration.justification == NOT_NEEDED
    assert "withdraw the declaration" in row.action
    assert row.failing_evidence and row.needs_attention
    found = register.register(actor_for(manager))
    assert found.counts["contradicted"] == 1 and found.row("C2").status == "not-met"
    # The check passes: the declaration is the status again, the evidence beside it.
    access_review.record_access_review(actor_for(manager), "Every account reviewed.")
    row = _row(manager, "C2")
    assert (row.status, row.contradicted) == ("declared", False)
    assert row.evidence is not None and row.evidence.met
    assert [p.summary for p, said in row.proof_lines if said] == [row.evidence.summary]


def test_an_adopted_declaration_against_failing_evidence_is_contradicted_too(
    manager: Any,
) -> None:
    make_user(Role.PRACTITIONER, factor=False)  # B3: one active user without a second factor
    _declare(manager, "B3", choice="adopted")
    row = _row(manager, "B3")
    assert (row.status, row.contradicted) == ("not-met", True)
    assert "“adopted”" in row.reason and "have a confirmed second factor" in row.reason
    assert row.status_label.startswith("not met")


def test_withdrawing_a_contradicted_declaration_leaves_the_evidence_alone(manager: Any) -> None:
    make_user(Role.SECRETARY, factor=False)
    _declare(manager, "B3")
    assert _row(manager, "B3").contradicted
    withdrawn = declarations.withdraw(actor_for(manager), "B3")
    assert withdrawn.withdrawn and withdrawn.version == 2 and not withdrawn.overdue
    row = _row(manager, "B3")
    assert (row.status, row.contradicted, row.declaration) == ("not-met", False, None)
    assert row.reason == row.evidence.summary  # type: ignore[union-attr]
    history = register.measure_detail(actor_for(manager), "b3").history
    assert [(d.version, d.change) for d in history] == [(2, "withdrawn"), (1, "declared")]
    assert Declaration.objects.filter(measure="B3").count() == 2  # nothing erased
    (create, update) = events(resource="compliance.Declaration")
    assert (create.action, update.action) == ("create", "update")
    assert '"change":"withdrawn"' in update.detail
    # A withdrawn declaration is not reviewed, nor withdrawn twice; it may be declared again.
    with pytest.raises(ValidationError, match="no declaration to review"):
        declarations.confirm_review(
            actor_for(manager), "B3", next_review=timezone.localdate() + dt.timedelta(days=9)
        )
    with pytest.raises(ValidationError, match="no declaration to withdraw"):
        declarations.withdraw(actor_for(manager), "B3")
    assert _declare(manager, "B3").version == 3 and _row(manager, "B3").contradicted


def test_only_a_manager_withdraws_and_there_must_be_something_to_withdraw(
    manager: Any,
) -> None:
    with pytest.raises(ValidationError, match="no declaration to withdraw"):
        declarations.withdraw(actor_for(manager), "E5")
    _declare(manager, "E5", choice="adopted")
    auditor = make_user(Role.AUDITOR)
    with pytest.raises(AccessDenied):
        declarations.withdraw(actor_for(auditor), "E5")
    assert events(resource="compliance.Declaration")[-1].outcome == "denied"
    assert _row(manager, "E5").status == "declared"


def test_a_contradicted_declaration_stays_in_the_reminders_and_the_daily_summary(
    manager: Any,
) -> None:
    _declare(manager, "C2")
    found = reminders.reminders(actor_for(manager))
    assert "C2" in [r.id for r in found.failing]
    text = reminders.daily_summary().text
    line = next(x for x in text.splitlines() if x.strip().startswith("- C2:"))
    assert "Contradicted: the practice declared “not needed”" in line
    assert "No access review recorded yet." in line
    home = client_for(manager).get("/").content.decode()
    assert "declaration contradicted by the evidence" in home


def test_the_register_pages_show_the_evidence_beside_a_contradicted_declaration(
    manager: Any,
) -> None:
    _declare(manager, "C2")
    client = client_for(manager)
    page = client.get("/compliance/").content.decode()
    assert 'data-testid="measure-C2" data-status="not-met" data-contradicted="yes"' in page
    assert 'data-testid="contradicted-count"' in page
    measure = client.get("/compliance/measures/c2/").content.decode()
    assert 'data-contradicted="yes"' in measure
    assert 'data-testid="proof-live" data-verdict="not-met"' in measure
    assert 'data-testid="declared-choice">Not needed<' in measure
    # Withdrawn through the page: the evidence alone decides.
    response = client.post("/compliance/measures/c2/withdraw/")
    assert response.status_code == 302 and response["Location"] == "/compliance/measures/c2/"
    measure = client.get("/compliance/measures/c2/").content.decode()
    assert 'data-contradicted="yes"' not in measure and "No declaration yet." in measure
    again = client.post("/compliance/measures/c2/withdraw/")
    assert again.status_code == 302
    assert "There is no declaration to withdraw." in client.get(again["Location"]).content.decode()


def test_the_signed_report_says_a_declaration_is_contradicted(manager: Any) -> None:
    _declare(manager, "C2")
    issued = reports.issue_report(actor_for(manager))
    actor = actor_for(manager)
    html = reports.report_file(actor, issued.uid, "html").data.decode()
    row = html[html.index('data-testid="report-C2"') :]
    row = row[: row.index("</tr>")]
    assert "not met: declaration contradicted by the evidence" in row
    assert "Contradicted: the practice declared “not needed”, but the evidence fails" in row
    assert "[live evidence: fails]" in row
    assert "Declarations contradicted by failing evidence, counted as not met: 1." in html
    text = pdf_text(reports.report_file(actor, issued.uid, "pdf").data)
    assert "Declarations contradicted by failing evidence, counted as not met: 1." in text
    assert "not met: declaration contradicted by the evidence" in text
    assert "Contradicted: the practice declared “not needed”, but the evidence fails" in text
    assert issued.met == register.build_register().counts["met"]  # C2 not among the met


def test_a_declared_measure_whose_check_passes_shows_its_evidence_beside_it(
    manager: Any,
) -> None:
    _declare(manager, "E1", choice="equivalent", justification="Locked screens by a GPO too.")
    row = _row(manager, "E1")
    assert (row.status, row.contradicted) == ("declared", False)
    assert row.reason == "Equivalent measure: Locked screens by a GPO too."
    (proof, said) = row.proof_lines[0]
    assert proof.met and said and proof.summary.startswith("Idle lock")


# --- B2: password renewal off is an equivalent measure, recorded with its justification -------

JUSTIFICATION = "No forced renewal (NIST SP 800-63B-4): a compromised password is flagged."


def test_password_renewal_off_needs_the_equivalent_measure_recorded(manager: Any) -> None:
    from secretum.accounts.services import practice_settings

    assert practice_settings().password_renewal_days == 0  # off by default
    row = _row(manager, "B2")
    assert (row.status, row.failing_evidence) == ("not-met", True)
    assert row.reason.startswith("Passwords are never renewed")
    assert "equivalent measure with its justification" in row.action
    with pytest.raises(ValidationError, match="needs its justification"):
        _declare(manager, "B2", choice="equivalent", justification="")
    # "Not needed" or "adopted" does not say what replaces renewal: contradicted.
    _declare(manager, "B2", choice="not-needed")
    assert _row(manager, "B2").contradicted
    _declare(manager, "B2", choice="equivalent", justification=JUSTIFICATION)
    row = _row(manager, "B2")
    assert (row.status, row.status_label) == ("declared", "declared: equivalent measure")
    assert row.reason == f"Equivalent measure: {JUSTIFICATION}"
    assert row.evidence is not None and row.evidence.met
    assert "recorded as an equivalent measure on" in row.evidence.summary


def test_password_renewal_on_meets_b2_without_a_declaration(manager: Any) -> None:
    from secretum.accounts import services

    current = services.practice_settings()
    services.update_practice_settings(
        actor_for(manager),
        idle_timeout_minutes=current.idle_timeout_minutes,
        session_lifetime_hours=current.session_lifetime_hours,
        password_renewal_days=365,
    )
    row = _row(manager, "B2")
    assert row.status == "met" and "renewal every 365 days" in row.reason
