"""The states of a browser session, kept server-side in the session (nothing in the browser).

    anonymous ──password──► pending (5 min) ──second factor──► signed in
    signed in ──idle (E1)──► locked ──password + second factor──► signed in (new session id)
    signed in ──absolute lifetime / logout / revoked──► anonymous

Gates for a signed-in user, in order: a second factor to enrol (B3), a password to change (B2),
the charter to accept (A1, A2). Until they are passed, only the pages that pass them are served.
"""

from __future__ import annotations

import time
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model, login, logout
from django.http import HttpRequest

from secretum.accounts import backends, services, sessions, throttle
from secretum.accounts import charter as charters
from secretum.audit.log import record_event

PENDING = "sx_pending"  # {"user": id, "at": epoch}
AUTH_AT = "sx_auth_at"  # epoch of the full login: absolute lifetime
REAUTH_AT = "sx_reauth_at"  # epoch of the last password + second factor: sudo mode
LAST_SEEN = "sx_last_seen"  # epoch of the last activity: idle lock (E1)
LOCKED = "sx_locked"  # epoch of the request that found the session idle (E1)
SHOW_CODES = "sx_recovery_codes"  # shown once, right after they are generated
CHARTER_OK = "sx_charter_ok"  # version accepted, to spare a query per request
RECORD = sessions.RECORD  # the session's UserSession: revocation is decided there


class Gate(StrEnum):
    ENROL = "enrol"
    PASSWORD = "password"  # noqa: S105  (the name of a gate, not a password)
    CHARTER = "charter"
    UNLOCK = "unlock"


def source(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def device(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:120]


def begin_pending(request: HttpRequest, user: Any) -> None:
    request.session.cycle_key()
    request.session[PENDING] = {"user": user.pk, "at": int(time.time())}


def pending_user(request: HttpRequest) -> Any:
    """The account whose password was right, while its second factor is awaited. A locked or
    disabled account has no pending login: a lock-out stops every pending login at once (B3)."""
    pending = request.session.get(PENDING)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > (
        services.PENDING_SECONDS
    ):
        return None
    # Written by begin_pending alone, in the server-side session: the account's id.
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    if user is None or throttle.is_locked(user):
        request.session.pop(PENDING, None)
        return None
    return user


def complete_login(request: HttpRequest, user: Any, factor: str, *, both: bool = True) -> None:
    """A new session identifier, and a new session record. ``both``: the password and a second
    factor passed (the account's failure counters reset); else this is an enrolment link's
    session, which the ENROL gate confines to enrolling a second factor."""
    request.session.pop(PENDING, None)
    if both:
        services.login_succeeded(user)
        # The known-device cookie, set on the response by the access middleware.
        request.known_device_for = user  # type: ignore[attr-defined]
    user.backend = backends.PATH
    login(request, user)  # rotates the session key; fires user_logged_in (audited)
    now = int(time.time())
    request.session[AUTH_AT] = now
    request.session[REAUTH_AT] = now
    request.session[LAST_SEEN] = now
    request.session["sx_factor"] = factor
    request.session[RECORD] = sessions.open_record(user, device(request), source(request)).pk
    request.session.save()
    if user.must_change_password is False and services.password_renewal_due(user):
        user.must_change_password = True
        user.save(update_fields=["must_change_password"])


def reauthenticated(request: HttpRequest, factor: str) -> None:
    """Unlock or sudo: the factors were checked again; a new session identifier is issued (the
    session's record, and so its revocation, stays the same), and the unlock (or the
    re-authentication) is audited with the factor used."""
    record_event(
        services.actor_of(request.user, source(request), getattr(request, "request_id", "")),
        "unlock" if request.session.get(LOCKED) else "reauthenticate",
        "session",
        detail={"factor": factor},
    )
    request.session.cycle_key()
    now = int(time.time())
    request.session[REAUTH_AT] = now
    request.session[LAST_SEEN] = now
    request.session.pop(LOCKED, None)


def end(request: HttpRequest, reason: str) -> None:
    """This session ends: its record, every row it has had, and the browser's cookie."""
    record = request.session.get(RECORD)
    if isinstance(record, int):
        sessions.end_records(sessions.records(pk=record), reason)
    logout(request)


def known_device(request: HttpRequest, user: Any) -> bool:
    """This browser completed a login on this account before (``accounts.throttle``)."""
    return user is not None and user.pk in throttle.device_accounts(request)


def recent_reauth(request: HttpRequest) -> bool:
    at = request.session.get(REAUTH_AT)
    return at is not None and time.time() - at <= services.SUDO_SECONDS


def gate_for(request: HttpRequest) -> Gate | None:
    user = request.user
    if user.must_enrol_factor or not services.has_factor(user):  # type: ignore[union-attr]
        return Gate.ENROL
    if user.must_change_password:  # type: ignore[union-attr]
        return Gate.PASSWORD
    if settings.SECRETUM_READ_ONLY:
        # I5: nothing is accepted on a continuity copy (a write, never merged back): a charter
        # published since someone last accepted one waits for the server, rather than locking
        # them out of the records during the outage. The two gates above still hold there.
        return None
    charter = charters.current_charter()
    if charter is not None and request.session.get(CHARTER_OK) != charter.version:
        if charters.charter_pending(user) is not None:
            return Gate.CHARTER
        request.session[CHARTER_OK] = charter.version
    return None


def idle_timeout_seconds(current: Any = None) -> int:
    from django.conf import settings

    current = current or services.practice_settings()
    return min(current.idle_timeout_minutes * 60, settings.SECRETUM_IDLE_TIMEOUT)


def lifetime_seconds(current: Any = None) -> int:
    return (current or services.practice_settings()).session_lifetime_hours * 3600


def lock_in(session: Any, current: Any = None, now: int | None = None) -> int:
    """Seconds until this session locks (E1) or its absolute lifetime ends, whichever comes
    first: the page hides itself then, and no activity (nor "Stay signed in") postpones it past
    the lifetime, nor makes the idle time longer than the practice's setting."""
    current = current or services.practice_settings()
    now = int(time.time()) if now is None else now
    idle_end = session.get(LAST_SEEN, now) + idle_timeout_seconds(current)
    lifetime_end = session.get(AUTH_AT, now) + lifetime_seconds(current)
    return max(0, min(idle_end, lifetime_end) - now)
