"""Secretum's logs: JSON lines, the request id on every line of a request, no personal data (H2).

Every process of an instance (``secretum serve`` and its front, gunicorn's workers, the audit
signer, the commands) writes the same two files in the instance's ``logs/`` folder, one JSON
object per line::

    secretum.log   the application, gunicorn and the commands (SECRETUM_LOG_LEVEL and above)
    access.log     one line per request: ACCESS_FIELDS

Every line holds ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message`` and ``request_id``
(null outside a request), and ``exception`` when there is one. The request id is made once per
request where it enters the application (the workers' WSGI wrapper, ``lib.workers.behind_front``;
Django's ``RequestIdMiddleware`` when there is none), answered in the ``X-Request-Id`` header,
written on every line logged during the request (``RequestIdFilter`` reads the context variable
``REQUEST_ID``), on its access line, and in its audit events: one id ties them together.

No personal data: a line holds its message and the fields above, never the request object that
Django attaches to some records, its query string, a form's values or a user's name. Messages
name paths (opaque identifiers only, H2), never what was typed.

The files are the owner's alone (0600, in a 0700 folder) and rotate by size
(SECRETUM_LOG_MAX_BYTES, SECRETUM_LOG_BACKUPS old files kept); several processes write them at
once, so each write takes a lock and a file moved by another process (or by logrotate) is
reopened. SECRETUM_LOG_DIR=- writes both to standard error instead, for journald.

No Django here: the front and gunicorn's master use this module before any setting is read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import logging.handlers
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The request being served on this thread (a worker thread runs one request at a time).
REQUEST_ID: ContextVar[str | None] = ContextVar("secretum_request_id", default=None)
# Where the workers' WSGI wrapper leaves the id for Django (a key no HTTP header can become).
ENVIRON_KEY = "secretum.request_id"
RESPONSE_HEADER = "X-Request-Id"

APP_FILE = "secretum.log"
ACCESS_FILE = "access.log"
ACCESS_LOGGER = "secretum.requests"  # the access log: its own file, never propagated

# H2: the access log's fields, each read from the gunicorn atom named beside it (the atoms of
# gunicorn's "access_log_format"). The path is PATH_INFO, never with its query string; no field
# holds the Referer (%(f)s), the User-Agent (%(a)s), a header or a user's name (%(u)s). The
# client's address is kept, as in the audit log (D1). The register's H2 evidence reads these.
ACCESS_FIELDS: Mapping[str, str] = {
    "client": "h",
    "method": "m",
    "path": "U",
    "status": "s",
    "bytes": "B",
    "duration_ms": "M",
}
# The same, as gunicorn's access_log_format (what the workers are given).
ACCESS_LOG_FORMAT = " ".join(f"%({atom})s" for atom in ACCESS_FIELDS.values())
_ATOM = re.compile(r"%\(([^)]*)\)s")
_NAMES = {atom: name for name, atom in ACCESS_FIELDS.items()}

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_BACKUPS = 10


class LogSettingError(ValueError):
    """A SECRETUM_LOG_* variable that cannot be used, told in one sentence."""


def new_request_id() -> str:
    return str(uuid.uuid4())


def access_fields(log_format: str) -> dict[str, str]:
    """The access log's fields for a gunicorn ``access_log_format``: {field name: atom}, in
    order, each atom of ACCESS_FIELDS under its name, any other under the atom itself."""
    return {_NAMES.get(atom, atom): atom for atom in _ATOM.findall(log_format)}


def log_access(logger: logging.Logger, request_id: str | None, fields: dict[str, Any]) -> None:
    """One access line: ``fields`` (ACCESS_FIELDS' names) beside the common ones."""
    message = " ".join(str(fields.get(k, "-")) for k in ("method", "path", "status"))
    logger.info(message, extra={"access": fields, "request_id": request_id})


class RequestIdFilter(logging.Filter):
    """Gives each record the id of the request being served when it was logged (or None)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: the common fields, an access line's fields, the exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or REQUEST_ID.get(),
        }
        for name, value in (getattr(record, "access", None) or {}).items():
            line.setdefault(name, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # json escapes every line break: one line per record, whatever the message holds.
        return json.dumps(line, ensure_ascii=False, default=str, separators=(",", ":"))


class SharedRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file that several processes append to (the front, the workers, the signer).

    The standard handler rotates behind the other processes' backs: each would go on writing to
    the file it opened, now renamed. Here each write holds an exclusive lock (``flock`` on
    ``FILE.lock``), reopens the file when another process or logrotate has moved it, then
    rotates when the line would take it past ``maxBytes`` (0: never; leave it to logrotate).
    Files and the folder are created owner-only (0600, 0700), whatever the umask.
    """

    # maxBytes, backupCount: the standard handler's names, which dictConfig passes.
    def __init__(self, filename: str | Path, maxBytes: int = 0, backupCount: int = 0) -> None:
        super().__init__(
            filename, maxBytes=maxBytes, backupCount=backupCount, encoding="utf-8", delay=True
        )
        self.lock_file = self.baseFilename + ".lock"

    def _open(self) -> Any:
        fd = _private_file(self.baseFilename, os.O_WRONLY | os.O_APPEND)
        return open(fd, "a", encoding=self.encoding)  # the handler's stream, closed by it

    @contextlib.contextmanager
    def _held(self) -> Iterator[None]:
        fd = _private_file(self.lock_file, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def _follow(self) -> None:
        """Close the stream when the file it writes is no longer the one at the path."""
        if self.stream is None:
            return
        try:
            at_path = os.stat(self.baseFilename)
        except FileNotFoundError:
            at_path = None
        mine = os.fstat(self.stream.fileno())
        if at_path is None or (at_path.st_dev, at_path.st_ino) != (mine.st_dev, mine.st_ino):
            self.stream.close()
            # Reopened by emit (delay=True).
            self.stream = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            with self._held():
                self._follow()
                super().emit(record)  # rolls over when due, then writes
        except Exception:
            self.handleError(record)


def _private_file(path: str, flags: int) -> int:
    """Open ``path``, creating it and its folder owner-only (0600, 0700) whatever the umask."""
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    fd = os.open(path, flags | os.O_CREAT | os.O_CLOEXEC, 0o600)
    if os.fstat(fd).st_mode & 0o777 != 0o600:
        os.fchmod(fd, 0o600)
    return fd


@dataclass(frozen=True)
class LogSettings:
    directory: Path | None  # None: standard error
    level: str = "WARNING"
    max_bytes: int = DEFAULT_MAX_BYTES
    backups: int = DEFAULT_BACKUPS

    @classmethod
    def from_env(cls, environ: Mapping[str, str], home: Path) -> LogSettings:
        """SECRETUM_LOG_DIR (default HOME/logs; ``-``: standard error), SECRETUM_LOG_LEVEL,
        SECRETUM_LOG_MAX_BYTES, SECRETUM_LOG_BACKUPS. LogSettingError names a bad one."""
        where = environ.get("SECRETUM_LOG_DIR", "").strip()
        directory = None if where == "-" else Path(where or home / "logs").expanduser().resolve()
        level = environ.get("SECRETUM_LOG_LEVEL", "").strip().upper() or "WARNING"
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise LogSettingError(
                "SECRETUM_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, "
                f"not {level!r}."
            )
        return cls(
            directory,
            level,
            _count(environ, "SECRETUM_LOG_MAX_BYTES", DEFAULT_MAX_BYTES, 0, "0: never rotate"),
            _count(environ, "SECRETUM_LOG_BACKUPS", DEFAULT_BACKUPS, 1, "at least 1"),
        )


def _count(environ: Mapping[str, str], name: str, default: int, least: int, hint: str) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < least:
        raise LogSettingError(f"{name} must be a whole number ({hint}), not {raw!r}.")
    return int(raw)


def dict_config(conf: LogSettings) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of an instance: Django's LOGGING, and gunicorn's master."""

    def handler(filename: str) -> dict[str, Any]:
        common = {"formatter": "json", "filters": ["request_id"]}
        if conf.directory is None:
            return {"class": "logging.StreamHandler", **common}
        return {
            "class": "secretum.lib.logs.SharedRotatingFileHandler",
            "filename": str(conf.directory / filename),
            "maxBytes": conf.max_bytes,
            "backupCount": conf.backups,
            **common,
        }

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "secretum.lib.logs.RequestIdFilter"}},
        "formatters": {"json": {"()": "secretum.lib.logs.JsonFormatter"}},
        "handlers": {"app": handler(APP_FILE), "access": handler(ACCESS_FILE)},
        "root": {"handlers": ["app"], "level": conf.level},
        "loggers": {
            ACCESS_LOGGER: {"handlers": ["access"], "level": "INFO", "propagate": False},
            # At DEBUG, Django would write each SQL statement with its parameters (a user name,
            # a search): never, whatever the level.
            "django.db.backends": {"level": "INFO"},
        },
    }
