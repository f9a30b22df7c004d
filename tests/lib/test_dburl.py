"""SECRETUM_DATABASE_URL and SECRETUM_DATABASE_PASSWORD_FILE (H3): the password from a file, and
never in what Secretum says about the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from secretum.lib import dburl

URL = "postgresql://secretum@db.example.invalid:5432/practice"


def test_the_password_comes_from_its_file(tmp_path: Path) -> None:
    """H3: the file's first line, without its newline, is the password."""
    secret = tmp_path / "password"
    secret.write_text("Fictitious pass phrase 42\n")
    config = dburl.parse(URL, secret)
    assert config["PASSWORD"] == "Fictitious pass phrase 42"
    assert config["USER"] == "secretum" and config["NAME"] == "practice"


@pytest.mark.parametrize(
    ("url", "content", "message"),
    [
        ("postgresql://secretum:inline@db/practice", "x", "given twice"),
        (URL, "", "is empty"),
        (URL, None, "cannot be read"),
        ("sqlite:////tmp/secretum.sqlite3", "x", "SQLite database, which has no password"),
    ],
)
def test_a_password_file_that_cannot_serve_is_one_sentence(
    tmp_path: Path, url: str, content: str | None, message: str
) -> None:
    secret = tmp_path / "password"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(dburl.DatabaseUrlError, match=message):
        dburl.parse(url, secret)


def test_a_database_is_named_without_its_password() -> None:
    """H3: what `check` and the key-file refusals print names user, host and database only."""
    config = dburl.parse("postgresql://app:Fictitious-Secret@db:5433/practice")
    assert dburl.describe(config) == "postgresql://app@db:5433/practice"
    assert "Fictitious-Secret" not in dburl.describe(config)
    assert dburl.url_password("postgresql://app:Fictitious-Secret@db/practice")
    assert not dburl.url_password(URL)
    sqlite = dburl.parse("sqlite:////srv/secretum/secretum.sqlite3")
    assert dburl.describe(sqlite) == "/srv/secretum/secretum.sqlite3"
