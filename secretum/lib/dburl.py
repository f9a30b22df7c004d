"""Turn ``SECRETUM_DATABASE_URL`` into a Django DATABASES entry (standard library only).

The PostgreSQL password belongs in a file (``SECRETUM_DATABASE_PASSWORD_FILE``, mode 600), not in
the URL: an environment variable is seen by every process of the user and often by logs (H3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class DatabaseUrlError(ValueError):
    pass


def sqlite_config(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "secretum.lib.sqlite3",  # Django's, writers queued in turn (issue 17)
        "NAME": str(path),
        # Keep each worker thread's connection: opening SQLite and running the PRAGMAs for
        # every request cost about a tenth of a chart opening (bench/README.md).
        "CONN_MAX_AGE": 600,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            # One writer at a time, taken at BEGIN: no lock upgrade deadlock under concurrency.
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            # WAL lets readers go on while one request writes; FULL syncs each commit to disk,
            # so a crash or power cut loses no committed audit event or clinical entry.
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                "PRAGMA foreign_keys=ON; PRAGMA busy_timeout=20000;"
            ),
        },
        "TEST": {"NAME": str(path.with_name("test-" + path.name))},
    }


def parse(url: str, password_file: str | Path = "") -> dict[str, Any]:
    """The DATABASES entry of ``url``; ``password_file`` names a file holding the password."""
    parts = urlsplit(url)
    if parts.scheme in ("sqlite", "sqlite3"):
        path = unquote(parts.path)
        if not path or path == "/":
            raise DatabaseUrlError("A sqlite URL needs a file path: sqlite:////abs/path.sqlite3")
        if path.startswith("//"):  # sqlite:////abs/path: one leading slash, as the file is named
            path = "/" + path.lstrip("/")
        if password_file:
            raise DatabaseUrlError(
                "SECRETUM_DATABASE_PASSWORD_FILE is set for a SQLite database, which has no "
                "password: unset it."
            )
        return sqlite_config(Path(path))
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        password = unquote(parts.password or "")
        if password_file:
            if password:
                raise DatabaseUrlError(
                    "The database password is given twice, in SECRETUM_DATABASE_URL and in "
                    "SECRETUM_DATABASE_PASSWORD_FILE: remove it from the URL."
                )
            password = read_password_file(Path(password_file))
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")) or "secretum",
            "USER": unquote(parts.username or ""),
            "PASSWORD": password,
            "HOST": parts.hostname or "",
            "PORT": str(parts.port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise DatabaseUrlError(
        f"Unsupported database URL scheme '{parts.scheme}': use sqlite:// or postgresql://"
    )


def read_password_file(path: Path) -> str:
    """The password a file holds (its first line; a final newline is not part of it)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DatabaseUrlError(
            f"The database password file {path} cannot be read ({reason})."
        ) from None
    password = text.splitlines()[0] if text else ""
    if not password:
        raise DatabaseUrlError(f"The database password file {path} is empty.")
    return password


def url_password(url: str) -> bool:
    """Whether a database URL carries a password (never returns the password itself)."""
    try:
        return bool(urlsplit(url).password)
    except ValueError:
        return False


def describe(config: dict[str, Any]) -> str:
    """A DATABASES entry as a person names it, never with its password: a SQLite file's path,
    or ``postgresql://user@host:port/name``."""
    if str(config.get("ENGINE", "")).endswith("sqlite3"):
        return str(config.get("NAME", ""))
    user = str(config.get("USER") or "")
    host = str(config.get("HOST") or "")
    port = str(config.get("PORT") or "")
    where = (f"{user}@" if user else "") + host + (f":{port}" if port else "")
    return f"postgresql://{where}/{config.get('NAME', '')}"
