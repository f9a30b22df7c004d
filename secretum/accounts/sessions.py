"""The session store (B1, E1): Django's database sessions, with nothing usable in the database.

* The row's key is a keyed digest of the cookie's value (HMAC-SHA256 under the key file), so
  whoever reads the table (a stolen backup, a database administrator) holds no identifier that a
  browser could present.
* The session data is sealed under the key file (AES-256-GCM, associated data naming the row's
  digest): it cannot be read, nor moved to another row, without the key file.
* Each row points to the session's :class:`~secretum.accounts.models.UserSession` record, taken
  from the data itself, so that every identifier the session has had (each login, unlock, sudo and
  password change issues a new one) is found and deleted when the session is ended.

``SESSION_ENGINE = "secretum.accounts.sessions"``.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from django.contrib.sessions.backends import db
from django.utils import timezone

from secretum.accounts.models import SessionData, UserSession
from secretum.crypto import keyring
from secretum.lib.rawrows import Select, exists, value

log = logging.getLogger(__name__)

# The session data key that names the session's record (accounts.flow sets it at login).
RECORD = "sx_record"

# Read on every request of a session: written once, not composed by the ORM each time (issue 17).
_ROW = Select(SessionData, "WHERE session_key = %s AND expire_date > %s")
_LIVE = (
    f"SELECT 1 FROM {UserSession._meta.db_table} "  # noqa: S608  (our table; values apart)
    "WHERE id = %s AND user_id = %s AND ended_at IS NULL LIMIT 1"
)


def digest(session_key: str) -> str:
    """What the database holds in place of a session identifier."""
    return keyring.secret_digest("session", session_key).hex()


class SessionStore(db.SessionStore):
    @classmethod
    def get_model_class(cls) -> Any:
        return SessionData

    def _get_session_from_db(self) -> Any:
        now = value(SessionData, "expire_date", timezone.now())
        found = _ROW.first(digest(self.session_key or ""), now)
        if found is None:
            self._session_key = None
        return found

    def load(self) -> dict[str, Any]:
        row = self._get_session_from_db()
        return self._open(row.session_data, row.session_key) if row is not None else {}

    def exists(self, session_key: str) -> bool:
        return bool(self.model.objects.filter(session_key=digest(session_key)).exists())

    def create_model_instance(self, data: dict[str, Any]) -> Any:
        key = digest(self._get_or_create_session_key())  # type: ignore[attr-defined]
        record = data.get(RECORD)
        return self.model(
            session_key=key,
            session_data=self._seal(data, key),
            expire_date=self.get_expiry_date(),
            record_id=record if isinstance(record, int) else None,  # type: ignore[misc]
        )

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(session_key=digest(session_key)).delete()

    def _seal(self, data: dict[str, Any], row_key: str) -> str:
        plain = self.serializer().dumps(data)
        return base64.b64encode(keyring.seal_secret(plain, "session:" + row_key)).decode()

    def _open(self, sealed: str, row_key: str) -> dict[str, Any]:
        try:
            plain = keyring.open_secret(base64.b64decode(sealed), "session:" + row_key)
            loaded = self.serializer().loads(plain)
        except (ValueError, keyring.DecryptionError):
            # Altered in the database, or moved from another row: an empty (signed-out) session.
            log.warning("session data failed authentication; treated as signed out")
            return {}
        return loaded if isinstance(loaded, dict) else {}


# --- the records: one per signed-in session, listed to its owner, revoked by id ---------------


def open_record(user: Any, device: str, source: str) -> Any:
    return UserSession.objects.create(
        user=user, device=device[:120], source=source[:64], last_activity_at=timezone.now()
    )


def is_live(record_id: Any, user: Any) -> bool:
    """The session's record exists, is its user's, and was not ended: asked on every request
    of a signed-in session, so that no path that ends a session can be outrun by a new
    identifier (unlock, sudo, password change, language switch…)."""
    if not isinstance(record_id, int):
        return False
    return exists(_LIVE, record_id, value(UserSession, "user", user))


def records(**filters: Any) -> Any:
    """The session records matching ``filters`` (for ``end_records``)."""
    return UserSession.objects.filter(**filters)


def touch(record_id: int) -> None:
    """The session is active now (its record was found live by ``is_live`` just before)."""
    UserSession.objects.filter(pk=record_id).update(last_activity_at=timezone.now())


def end_records(records: Any, reason: str) -> int:
    """End these records (a queryset of UserSession) and delete every session row that belongs
    to them, under whichever identifier. Returns how many were still open."""
    ids = list(records.filter(ended_at__isnull=True).values_list("pk", flat=True))
    records.filter(pk__in=ids).update(ended_at=timezone.now(), end_reason=reason[:32])
    SessionData.objects.filter(record_id__in=ids).delete()
    return len(ids)
