"""French by default; Dutch and English on request."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import SecureClient


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (None, ('lang="fr"', "Connexion")),
        ("nl", ('lang="nl"', "Aanmelden")),
        ("en", ('lang="en"', "Log in")),
    ],
)
def test_login_page_language(
    db: Any, settings: Any, language: str | None, expected: tuple[str, str]
) -> None:
    settings.LANGUAGE_CODE = "fr"
    headers = {"Accept-Language": language} if language else {}
    page = SecureClient().get("/accounts/login/", headers=headers).content.decode()
    for text in expected:
        assert text in page


def test_every_message_is_translated_into_french_and_dutch() -> None:
    from pathlib import Path

    locale = Path(__file__).resolve().parents[2] / "secretum" / "locale"
    for language in ("fr", "nl"):
        po = (locale / language / "LC_MESSAGES" / "django.po").read_text()
        assert (locale / language / "LC_MESSAGES" / "django.mo").exists()
        entries = po.split("\n\n")[1:]
        empty = [e for e in entries if e.rstrip().endswith('msgstr ""')]
        fuzzy = [e for e in entries if "#, fuzzy" in e]
        assert empty == [] and fuzzy == [], language
