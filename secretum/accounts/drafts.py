"""What was typed when the idle lock came (E1, issue 16 / WCAG 2.2.1): kept, then given back.

When the lock comes while a form holds typed input, its fields are kept as a *draft*: sent by the
page as it empties itself (``views.draft_view``), or taken from a form POST that reached a session
already locked (``access.middleware``: the POST itself is never applied without unlocking). After
the unlock the user returns to the draft's page, and the page refills the form from it, once.

Where it is kept: in the server-side session, nowhere else (never in the browser's storage or a
cookie). The session store seals its data under the key file (``accounts.sessions``: AES-256-GCM),
so the database alone does not give the draft; it ends with the session (sign-out, lifetime,
revocation: ``flow.end`` flushes it). A draft names its user: given to no other account.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from django.http import HttpRequest

from secretum.accounts import flow

DRAFT = "sx_draft"  # {"user", "url", "action", "form", "fields": [[name, value], …], "at"}
MAX_BYTES = 64 * 1024  # the fields, as JSON: a note is far shorter; a bigger body is refused
MAX_FIELDS = 200
MAX_PATH = 512
# The page sends its draft as the lock comes, so a session locked a moment ago still takes one;
# after that, a locked session takes none (nobody at a locked screen writes into the next unlock).
GRACE_SECONDS = 60
# Never kept: secrets, and what the next form gets fresh (its CSRF token).
SKIPPED = ("csrfmiddlewaretoken", "password", "token", "secret")
# Forms of the accounts pages carry passwords, codes and tokens: nothing of them is kept.
NOT_KEPT_UNDER = "/accounts/"


class DraftRefused(ValueError):
    """The draft is not kept; the message says why (for the page, not the user)."""


class DraftTooLarge(DraftRefused):
    """The draft is over ``MAX_BYTES``: not kept (the page is answered 413)."""


def local_path(value: Any) -> str | None:
    """A path of this site ("/…", not "//…"), or None: a draft returns to nowhere else."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return None
    if len(value) > MAX_PATH or "\\" in value or any(ord(c) < 32 for c in value):
        return None
    return value


def _kept_name(name: str) -> bool:
    lowered = name.lower()
    return bool(name) and not any(word in lowered for word in SKIPPED)


def clean_fields(pairs: Any) -> list[list[str]]:
    """The (name, value) pairs worth keeping, within the limits; raises DraftRefused."""
    if not isinstance(pairs, list) or len(pairs) > MAX_FIELDS:
        raise DraftRefused(f"fields: a list of at most {MAX_FIELDS} [name, value] pairs")
    fields = []
    for pair in pairs:
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(part, str) for part in pair)
        ):
            raise DraftRefused("fields: each one a [name, value] pair of strings")
        if _kept_name(pair[0]):
            fields.append([pair[0][:200], pair[1]])
    if len(json.dumps(fields).encode()) > MAX_BYTES:
        raise DraftTooLarge(f"the draft is larger than {MAX_BYTES} bytes")
    return fields


def may_keep(request: HttpRequest, now: int | None = None) -> bool:
    """A live session takes a draft; a locked one only within GRACE_SECONDS of the request that
    found it locked (``flow.LOCKED`` holds that moment), and only the first: what the page sends
    as it locks, even after a laptop slept, and not what someone at the locked screen sends
    later."""
    session = request.session
    locked_at = session.get(flow.LOCKED)
    if not locked_at:
        return True
    if isinstance(locked_at, bool) or not isinstance(locked_at, int):
        return False
    now = int(time.time()) if now is None else now
    draft = session.get(DRAFT)
    taken_since_lock = isinstance(draft, dict) and draft.get("at", 0) >= locked_at
    return now - locked_at <= GRACE_SECONDS and not taken_since_lock


def keep(request: HttpRequest, url: Any, action: Any, form: Any, pairs: Any) -> None:
    """Keep this form's fields as the session's draft (replacing any earlier one); raises
    DraftRefused when it is not kept."""
    page = local_path(url)
    target = local_path(action) or page
    if page is None or target is None:
        raise DraftRefused("url: a path of this site")
    if page.startswith(NOT_KEPT_UNDER) or target.startswith(NOT_KEPT_UNDER):
        raise DraftRefused("the forms of the accounts pages are not kept")
    fields = clean_fields(pairs)
    if not fields:
        raise DraftRefused("nothing to keep")
    request.session[DRAFT] = {
        "user": request.user.pk,
        "url": page,
        "action": target,
        "form": form if isinstance(form, int) and 0 <= form < 1000 else None,
        "fields": fields,
        "at": int(time.time()),
    }


def referer_page(request: HttpRequest) -> str | None:
    """The page of this site a form was posted from (its Referer, same host), or None."""
    try:
        parts = urlsplit(request.META.get("HTTP_REFERER", ""))
    except ValueError:  # a malformed Referer is no error (N2)
        return None
    if parts.netloc != request.get_host():
        return None
    return local_path(parts.path)


def keep_post(request: HttpRequest) -> bool:
    """A form POST that reached a locked session: its fields (no files, no CSRF token, no
    password) become the draft, to be refilled on the page it was posted from after the unlock.
    False when it was not kept (too large, an accounts form, nothing typed)."""
    pairs = [[name, value] for name, values in request.POST.lists() for value in values]
    try:
        keep(request, referer_page(request) or request.path, request.path, None, pairs)
    except DraftRefused:
        return False
    return True


def _own(request: HttpRequest) -> dict[str, Any] | None:
    draft = request.session.get(DRAFT)
    if not isinstance(draft, dict):
        return None
    if draft.get("user") != request.user.pk:
        request.session.pop(DRAFT, None)  # another account's: given to nobody
        return None
    return draft


def return_url(request: HttpRequest) -> str | None:
    """Where the unlock leads when a draft waits: its page."""
    draft = _own(request)
    return local_path(draft.get("url")) if draft else None


def take(request: HttpRequest) -> dict[str, str] | None:
    """The draft (as JSON) of the page this request shows (a GET of its URL by its user, the
    session unlocked, the page served), removed from the session: a draft is given back once."""
    if request.method != "GET" or getattr(request, "session", None) is None:
        return None
    if request.session.get(flow.LOCKED):
        return None
    if not getattr(request, "serves_page", False):  # refused (403) or not a page: kept
        return None
    draft = _own(request)
    if draft is None or draft.get("url") != request.path:
        return None
    request.session.pop(DRAFT, None)
    given = {"action": draft.get("action"), "form": draft.get("form"), "fields": draft["fields"]}
    return {"json": json.dumps(given)}  # for the page's script (a data attribute: strict CSP)
