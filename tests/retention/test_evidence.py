"""J2 in the measures register: live, and each way it fails."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from secretum.compliance import evidence
from secretum.retention import services
from secretum.retention.models import DestructionCertificate
from tests.conftest import actor_for
from tests.retention.conftest import age, full_record


def _j2() -> Any:
    return evidence.gather(["J2"])["J2"]


def test_met_with_nothing_past_the_law_and_every_certificate_verified(
    old_record: str, manager: Any
) -> None:
    assert _j2().met
    services.destroy_record(actor_for(manager), old_record)
    assert _j2().met


def test_not_met_with_a_record_past_50_years(practitioner: Any) -> None:
    age(full_record(practitioner), 51)
    assert not _j2().met


def test_not_met_with_a_certificate_altered_in_the_database(old_record: str, manager: Any) -> None:
    certificate = services.destroy_record(actor_for(manager), old_record)
    DestructionCertificate.objects.filter(pk=certificate.pk).update(
        text=certificate.text.replace("retention-ended", "art17-1d-unlawful")
    )
    assert not _j2().met


@pytest.mark.usefixtures("home")
def test_not_met_when_the_key_was_not_rotated_within_the_expiry(
    old_record: str, manager: Any
) -> None:
    certificate = services.destroy_record(actor_for(manager), old_record)
    DestructionCertificate.objects.filter(pk=certificate.pk).update(
        approved_at=timezone.now() - dt.timedelta(days=36)
    )
    assert not _j2().met
