"""Updates (G2): which Secretum runs, since when, and the known vulnerabilities of what is
installed, from an offline database the practice or its provider keeps current.

The database (``SECRETUM_VULNERABILITY_DB``, default ``$SECRETUM_HOME/vulnerabilities``) is a
folder or a zip of OSV advisories for PyPI (``secretum.lib.osv``). Its age is the time since its
newest file changed there: the day it was last downloaded or copied in. Older than
``STALE_DAYS``, or missing, it proves nothing, and G2 is not met until it is updated
(``HOW_TO_UPDATE``). A HIGH or CRITICAL finding is shown in G2's evidence, which then fails:
the managers see it on their home page and in the register's daily e-mail
(``compliance.reminders``), and ``secretum check`` warns.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from secretum.lib import osv, sbom

STALE_DAYS = 30
OSV_PYPI_URL = "https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"
HOW_TO_UPDATE = (
    "put the OSV advisories for PyPI in {path} at least every {days} days, e.g. "
    "'curl -fsSL --create-dirs -o {path}/all.zip {url}' (or copy a recent all.zip there)"
)


def how_to_update(path: Path) -> str:
    return HOW_TO_UPDATE.format(url=OSV_PYPI_URL, path=path, days=STALE_DAYS)


def installed_at() -> dt.datetime | None:
    """When ``secretum init`` made this instance (the key file records it), None if unknown."""
    try:
        created = json.loads(settings.INSTANCE.key_content())["created"]
        return dt.datetime.fromisoformat(str(created))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@functools.cache
def installed() -> tuple[tuple[str, str], ...]:
    """The installed distributions (name, version): they change only with a new process."""
    return tuple(sorted(sbom.installed().items()))


def _listing(path: Path) -> tuple[tuple[str, int, int], ...]:
    """(name, mtime in ns, size) of the database's files; empty when there is none."""
    if path.is_dir():
        files = [p for p in path.rglob("*") if p.suffix in (".json", ".zip") and p.is_file()]
    elif path.is_file():
        files = [path]
    else:
        return ()
    out = []
    for item in files:
        try:
            st = item.stat()
        except FileNotFoundError:  # replaced while we looked: the next look sees the new one
            continue
        out.append((str(item), st.st_mtime_ns, st.st_size))
    return tuple(sorted(out))


@functools.lru_cache(maxsize=4)
def _scan(
    path: Path, listing: tuple[object, ...], packages: tuple[tuple[str, str], ...]
) -> osv.Scan:
    """A scan, done again only when the database's files or the installed packages change
    (``listing`` is the cache key): the register asks on every page."""
    return osv.scan(path, dict(packages))


@dataclass(frozen=True)
class UpdateState:
    version: str
    installed_at: dt.datetime | None
    database: Path
    updated_at: dt.datetime | None  # when the database last changed here; None: no database
    problem: str  # the database cannot be read ("" when it can, or when there is none)
    scan: osv.Scan | None
    now: dt.datetime

    @property
    def age_days(self) -> int | None:
        return None if self.installed_at is None else (self.now - self.installed_at).days

    @property
    def database_days(self) -> int | None:
        return None if self.updated_at is None else (self.now - self.updated_at).days

    @property
    def stale(self) -> bool:
        """No usable database, or one not updated for STALE_DAYS."""
        days = self.database_days
        return self.scan is None or days is None or days > STALE_DAYS

    @property
    def serious(self) -> list[osv.Finding]:
        return self.scan.serious if self.scan is not None else []


def state(database: Path | None = None, now: dt.datetime | None = None) -> UpdateState:
    path = Path(database or settings.SECRETUM_VULNERABILITY_DB)
    now = now or dt.datetime.now(dt.UTC)
    listing = _listing(path)
    updated = (
        dt.datetime.fromtimestamp(max(m for _, m, _ in listing) / 1e9, dt.UTC) if listing else None
    )
    scan, problem = None, ""
    if listing:
        try:
            scan = _scan(path, listing, installed())
        except OSError as exc:
            problem = str(exc)
    return UpdateState(
        sbom.version_of("secretum"), installed_at(), path, updated, problem, scan, now
    )


def describe(found: osv.Finding) -> str:
    """One line: the package, its version, the advisory, how severe, what fixes it."""
    fix = f"fixed in {found.fixed_in}" if found.fixed_in else "no fixed version yet"
    severity = found.severity or "severity not stated"
    return f"{found.package} {found.version}: {', '.join(found.ids)} ({severity}; {fix})" + (
        f" — {found.summary}" if found.summary else ""
    )
