"""The body of a JSON request, read once and checked (N2).

The WebAuthn endpoints take a JSON object posted by Secretum's own script. Anything else (another
JSON value such as ``[]`` or ``null``, bytes that are not UTF-8, nesting deep enough to exhaust
the parser's recursion, a string that PostgreSQL or a password hasher cannot take) is refused here
with :class:`JsonBodyError`, whose text is one sentence for the person (or the script) that sent
it, and which the views answer with a 400 JSON error: never a traceback quoting the raw body.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.http import HttpRequest
from django.utils.translation import gettext as _

# A WebAuthn credential is three levels deep; anything much deeper is not one of ours.
MAX_DEPTH = 16

T = TypeVar("T", dict, str)

# JSON's own names of the kinds a member may be asked for (not translated: they are the format's).
_KIND_NAMES: dict[type, str] = {dict: "object", str: "string"}


class JsonBodyError(ValueError):
    """The request body is not what the endpoint takes; ``str(error)`` says what is expected."""


def _check_text(text: str) -> None:
    # A lone surrogate (JSON allows "\ud800") cannot be encoded, hashed or stored; NUL cannot be
    # stored in PostgreSQL text. Django's form fields refuse NUL the same way.
    if "\x00" in text:
        raise JsonBodyError(_("Null characters are not allowed."))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonBodyError(_("The request holds text that is not valid Unicode.")) from None


def _check_values(value: Any) -> None:
    """Every string of a parsed value checked, and its nesting bounded; without recursion, so a
    deep value cannot exhaust the stack here either."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise JsonBodyError(_("The request body is nested too deeply to be a valid request."))
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def parse_object(request: HttpRequest) -> dict[str, Any]:
    """The request body as a JSON object (a ``dict``), or JsonBodyError."""
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        raise JsonBodyError(
            _("The request body is not UTF-8 text: send a JSON object in UTF-8.")
        ) from None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        # ValueError: not JSON, or an integer too long to convert; RecursionError: nesting.
        raise JsonBodyError(_("The request body is not valid JSON: send a JSON object.")) from None
    if not isinstance(value, dict):
        raise JsonBodyError(_("The request body must be a JSON object, not another JSON value."))
    _check_values(value)
    return value


def member(body: dict[str, Any], name: str, kind: type[T], *, default: T | None = None) -> T:
    """``body[name]``, which must be a JSON ``kind`` (object or string); ``default`` when it is
    missing, if one is given; JsonBodyError otherwise."""
    if name not in body and default is not None:
        return default
    value = body.get(name)
    if not isinstance(value, kind):
        raise JsonBodyError(
            _('The request needs "%(name)s" as a JSON %(kind)s.')
            % {"name": name, "kind": _KIND_NAMES[kind]}
        )
    return value
