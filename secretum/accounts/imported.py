"""The authors of entries imported from another system (L1, L2): one account for each name.

An entry's author is an account (``ClinicalEntry.author``); an imported entry was written by
someone who has no account here. Each original author's name becomes an account of its own, so
the chart shows who wrote the entry and an export of the record names them again: the name as
the source gave it (``last_name``; the first name empty), a user name derived from it
(``imported-`` and 16 hex digits of its SHA-256), no role, no usable password, disabled. Such an
account holds no permission and cannot sign in (B1): it only names. Made once per name, with an
audit event ("create", detail ``imported``); the same name given again finds the same account.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission

PREFIX = "imported-"
NAME_MAX = 150  # the length of ``last_name``


def username_for(name: str) -> str:
    return PREFIX + hashlib.sha256(name.encode()).hexdigest()[:16]


def imported_author(actor: Actor, name: str) -> Any:
    """The account named after an imported entry's author, made on first use (disabled, no
    role, no password); ValidationError for an empty or too long name."""
    text = " ".join(str(name).split())
    if not text or len(text) > NAME_MAX or not text.isprintable():
        raise ValidationError(
            _("An author's name has 1 to %(max)d printable characters.") % {"max": NAME_MAX}
        )
    User = get_user_model()
    found = User.objects.filter(username=username_for(text)).first()
    if found is not None:
        return found
    with guarded(actor, Permission.USERS_MANAGE, "create", "accounts.User") as draft:
        user = User(username=username_for(text), last_name=text, is_active=False)
        user.set_unusable_password()
        user.save()
        draft.resource_ref = str(user.pk)
        draft.detail["imported"] = True
    return user
