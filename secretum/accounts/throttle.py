"""Brute force (B2, B3): how many tries an account name and a source address still get.

Two counters, both keyed by HMAC so that neither an account name nor an address is stored in
clear, and so that an unknown account name is counted exactly like a real one:

* **per account**: every wrong password, second-factor code, security key or current password
  counts. From the 4th consecutive failure each try waits 2, 4, 8… s (at most 5 min); the 10th
  locks the account for 15 minutes (``User.failed_logins``). Only a complete login (both factors)
  resets it: knowing the password never buys unlimited code guesses.
* **per address**: a leaky bucket. Each failure adds one, one leaks away every minute, and delays
  start only after 20 failures in the bucket, growing to at most one minute. The trade-off: an
  address shared by a whole office (or every user behind a reverse proxy, see the README) fills
  slowly and empties by itself, so a colleague's typos or one attacker's unknown names there
  never make the next user wait for long; a single address guessing fast against many accounts
  is still slowed down, while each account stays protected by its own counter and lock-out.
  A browser that completed a login on an account before (a *known device*: a signed cookie
  naming that account) is not slowed down by its address at all, only by the account's counter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core import signing
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from secretum.accounts.models import LoginThrottle
from secretum.crypto import keyring

FREE_ATTEMPTS = 3
MAX_DELAY_SECONDS = 300
LOCKOUT_AFTER = 10
LOCKOUT_MINUTES = 15

ADDRESS_FREE_ATTEMPTS = 20
ADDRESS_LEAK_SECONDS = 60
ADDRESS_MAX_DELAY_SECONDS = 60

DEVICE_COOKIE = "__Host-secretum-device"
DEVICE_MAX_AGE = 365 * 24 * 3600
_DEVICE_SALT = "secretum.accounts.known-device"


def _now() -> dt.datetime:
    return timezone.now()


def account_key(username: str) -> bytes:
    return keyring.secret_digest("throttle-user", username.strip().casefold())


def address_key(source: str) -> bytes:
    return keyring.secret_digest("throttle-addr", source or "-")


def _account_wait(row: LoginThrottle) -> int:
    if row.failures < FREE_ATTEMPTS:
        return 0
    delay = min(2 ** (row.failures - FREE_ATTEMPTS + 1), MAX_DELAY_SECONDS)
    left = (row.last_failure_at + dt.timedelta(seconds=delay) - _now()).total_seconds()
    return max(0, int(left + 0.999))


def _in_bucket(row: LoginThrottle) -> int:
    """The address's failures still in the bucket: one leaks away per ADDRESS_LEAK_SECONDS."""
    leaked = int((_now() - row.last_failure_at).total_seconds() // ADDRESS_LEAK_SECONDS)
    return max(0, row.failures - leaked)


def _address_wait(row: LoginThrottle) -> int:
    excess = _in_bucket(row) - ADDRESS_FREE_ATTEMPTS
    if excess < 0:
        return 0
    delay = min(2 ** (excess + 1), ADDRESS_MAX_DELAY_SECONDS)
    left = (row.last_failure_at + dt.timedelta(seconds=delay) - _now()).total_seconds()
    return max(0, int(left + 0.999))


def wait_seconds(username: str, source: str, *, known_device: bool = False) -> int:
    """How long this account name (and, unless the browser is a known device of it, this
    address) must wait before its next try; 0: it may try now."""
    keys = {account_key(username): _account_wait}
    if not known_device:
        keys[address_key(source)] = _address_wait
    rows = LoginThrottle.objects.filter(key__in=list(keys))
    return max([keys[bytes(row.key)](row) for row in rows], default=0)


def record_failure(username: str, source: str, *, known_device: bool = False) -> None:
    """One more failure for the account name, and for the address unless the browser is a
    known device of that account."""
    now = _now()
    key = account_key(username)
    if not LoginThrottle.objects.filter(key=key).update(
        failures=F("failures") + 1, last_failure_at=now
    ):
        LoginThrottle.objects.create(key=key, failures=1, last_failure_at=now)
    if known_device:
        return
    key = address_key(source)
    for _attempt in range(5):  # a conditional update: concurrent failures are all counted
        row = LoginThrottle.objects.filter(key=key).first()
        if row is None:
            LoginThrottle.objects.create(key=key, failures=1, last_failure_at=now)
            return
        if LoginThrottle.objects.filter(
            pk=row.pk, failures=row.failures, last_failure_at=row.last_failure_at
        ).update(failures=_in_bucket(row) + 1, last_failure_at=now):
            return


def forget_account(username: str) -> None:
    """Both factors passed: the account's counter starts again."""
    LoginThrottle.objects.filter(key=account_key(username)).delete()


def count_lockout_failure(user: Any) -> bool:
    """One more consecutive failure on the account (password, second factor or current
    password); the 10th locks it for LOCKOUT_MINUTES. True when this failure locked it."""
    user.failed_logins += 1
    locked = user.failed_logins >= LOCKOUT_AFTER
    if locked:
        user.locked_until = _now() + dt.timedelta(minutes=LOCKOUT_MINUTES)
        user.last_lockout_at = _now()
        user.failed_logins = 0
    user.save(update_fields=["failed_logins", "locked_until", "last_lockout_at"])
    return locked


def is_locked(user: Any) -> bool:
    return user.locked_until is not None and user.locked_until > _now()


# --- known devices --------------------------------------------------------------------------


def device_accounts(request: HttpRequest) -> frozenset[int]:
    """The accounts this browser completed a login on (a cookie signed with the key file's
    secret): their address's counter does not apply to them."""
    value = request.COOKIES.get(DEVICE_COOKIE, "")
    try:
        named = signing.loads(value, salt=_DEVICE_SALT, max_age=DEVICE_MAX_AGE)
    except signing.BadSignature:
        return frozenset()
    # Signed with this server's secret: the list of account ids remember_device wrote.
    return frozenset(pk for pk in named if isinstance(pk, int))


def remember_device(request: HttpRequest, response: HttpResponse, user: Any) -> None:
    """After a complete login: this browser is a known device of this account (and of the
    accounts it already knew: a shared workstation, at most 8)."""
    accounts = [*sorted(device_accounts(request) - {user.pk})[-7:], user.pk]
    response.set_cookie(
        DEVICE_COOKIE,
        signing.dumps(accounts, salt=_DEVICE_SALT),
        max_age=DEVICE_MAX_AGE,
        path="/",
        secure=True,
        httponly=True,
        samesite="Strict",
    )
