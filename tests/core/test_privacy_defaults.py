"""N1 and N3, the properties of the code that the register's evidence names (proofs by
construction): privacy-friendly defaults, fictitious data only."""

from __future__ import annotations

import io
from typing import Any

from django.conf import settings
from django.core.management import call_command
from faker.providers.person.fr_BE import Provider as FrenchNames
from faker.providers.person.nl_BE import Provider as DutchNames

from secretum.core.middleware import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY
from secretum.lib import niss
from tests.conftest import client_for


def test_no_device_or_other_site_is_reached_by_default(practitioner: Any) -> None:
    """N1: no content from other sites, no referrer leaves the practice, the browser refuses
    the camera, the microphone and the location, strict session cookie."""
    response = client_for(practitioner).get("/")
    assert response["Permissions-Policy"] == PERMISSIONS_POLICY
    for api in ("camera", "microphone", "geolocation"):
        assert f"{api}=()" in response["Permissions-Policy"]
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY and "http" not in CONTENT_SECURITY_POLICY
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")
    assert settings.SESSION_COOKIE_SAMESITE == "Strict" and settings.SESSION_COOKIE_HTTPONLY


def test_demo_identities_are_fictitious(db: Any) -> None:
    """N3: the demo's patients carry Faker's Belgian (fr_BE, nl_BE) invented names and national
    numbers built with valid check digits from invented birth dates."""
    out = io.StringIO()
    call_command("demo", patients=4, seed=7, print_patients=True, stdout=out)
    lines = [line.split("\t") for line in out.getvalue().splitlines() if line.count("\t") == 2]
    assert len(lines) == 4
    family_names = {n.upper() for n in [*FrenchNames.last_names, *DutchNames.last_names]}
    for name, born, number in lines:
        family = name.rsplit(" ", 1)[0]
        assert family in family_names, name
        digits = niss.clean(number)  # valid check digits, or NissError
        day, month, year = born.split("/")
        assert digits[:6] == year[2:] + month + day
