"""Transport and browser security headers (H1, E4), cookies that cannot leak."""

from __future__ import annotations

from typing import Any

from django.test import Client

from tests.conftest import client_for


def test_plain_http_is_redirected_to_https(db: Any) -> None:
    response = Client().get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_pages_carry_strict_security_headers(practitioner: Any, patient: Any) -> None:
    response = client_for(practitioner).get(f"/patients/{patient.uid}/")
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["Cache-Control"] == "no-store"
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_template_holds_inline_script_or_style() -> None:
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "secretum" / "templates"
    for page in templates.rglob("*.html"):
        text = page.read_text()
        assert "<script>" not in text and " style=" not in text and "<style" not in text, page
        for handler in ("onclick=", "onload=", "onsubmit=", "onchange=", "javascript:"):
            assert handler not in text, page
