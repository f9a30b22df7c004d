"""Every request decides anew who may read what (C1, C2; issue 10, "Performance"): the chart
page's checks are made quicker, never remembered. Nothing a request learnt about the practice's
policy, a care relationship or an emergency access is kept for the next one, in the same server
process: each change applies to the very next page."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from secretum.access import care, relationships
from secretum.access.models import CareRelationship, GlassBreak
from tests.access.conftest import REASON
from tests.conftest import actor_for, client_for


def _chart_shown(browser: Any, uid: str) -> bool:
    page = browser.get(f"/patients/{uid}/")
    assert page.status_code == 200
    shown = 'data-testid="chart"' in page.text
    assert shown == ("Arachide" in page.text)  # no medical value without the chart
    assert shown != ('data-testid="care-needed"' in page.text)
    return shown


def test_a_policy_change_applies_to_the_very_next_page(
    record: str, practitioner: Any, colleague: Any, manager: Any
) -> None:
    browser = client_for(colleague)
    assert not _chart_shown(browser, record)
    care.set_policy(actor_for(manager), shared_record=True, relationship_months=18, glass_hours=4)
    assert _chart_shown(browser, record)
    care.set_policy(actor_for(manager), shared_record=False, relationship_months=18, glass_hours=4)
    assert not _chart_shown(browser, record)
    # The period of a relationship too: the own doctor's last contact was 7 months ago.
    row = CareRelationship.objects.get(patient__uid=record, practitioner=practitioner)
    row.last_contact_at = relationships.months_before(timezone.now(), 7)
    row.save()
    doctor = client_for(practitioner)
    assert _chart_shown(doctor, record)
    care.set_policy(actor_for(manager), shared_record=False, relationship_months=6, glass_hours=4)
    assert not _chart_shown(doctor, record)


def test_a_relationship_ended_between_two_pages_closes_the_next(
    record: str, practitioner: Any
) -> None:
    browser = client_for(practitioner)
    assert _chart_shown(browser, record)
    care.end_care(actor_for(practitioner), record)
    assert not _chart_shown(browser, record)
    care.declare_care(actor_for(practitioner), record)
    assert _chart_shown(browser, record)


def test_an_emergency_access_closes_on_the_first_page_after_its_end(
    record: str, colleague: Any
) -> None:
    browser = client_for(colleague)
    care.break_the_glass(actor_for(colleague), record, "emergency", REASON)
    assert _chart_shown(browser, record)
    grant = GlassBreak.objects.get(patient__uid=record, practitioner=colleague)
    grant.expires_at = timezone.now() - dt.timedelta(seconds=1)
    grant.save()  # through Secretum: the seal matches, only the time has passed
    assert not _chart_shown(browser, record)
