"""Password rules beyond Django's (B2): not the practice's name, not one of the last five."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.crypto.keyring import normalise

HISTORY = 5
MAX_LENGTH = 128


class MaximumLengthValidator:
    """At least 128 characters are accepted (NIST SP 800-63B-4 §3.1.1.2), not more: a longer
    input only costs hashing time."""

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > MAX_LENGTH:
            raise ValidationError(
                _("A password is at most %(n)d characters.") % {"n": MAX_LENGTH},
                code="password_too_long",
            )

    def get_help_text(self) -> str:
        return _("At most %(n)d characters.") % {"n": MAX_LENGTH}


def _words(text: str) -> list[str]:
    return [w for w in (normalise(p) for p in text.replace("-", " ").split()) if len(w) >= 4]


class NamesValidator:
    """Neither the practice's name nor the user's own names, in any case or accent (B2).
    Django's similarity validator compares whole strings; this one finds a name inside."""

    def validate(self, password: str, user: Any = None) -> None:
        typed = normalise(password)
        if any(w in typed for w in _words(settings.PRACTICE_NAME)):
            raise ValidationError(
                _("A password must not contain the practice's name."),
                code="password_practice_name",
            )
        if user is not None:
            own = " ".join(
                str(getattr(user, a, "") or "") for a in ("username", "first_name", "last_name")
            )
            if any(w in typed for w in _words(own.replace(".", " "))):
                raise ValidationError(
                    _("A password must not contain your own name."), code="password_own_name"
                )

    def get_help_text(self) -> str:
        return _("Not the practice's name, nor your own.")


class HistoryValidator:
    def validate(self, password: str, user: Any = None) -> None:
        if user is None or user.pk is None:
            return
        from secretum.accounts.models import PasswordHistory

        recent = PasswordHistory.objects.filter(user=user).order_by("-created_at")[:HISTORY]
        earlier = [h.password for h in recent]
        if user.password and user.has_usable_password():
            earlier.append(user.password)
        if any(check_password(password, h) for h in earlier):
            raise ValidationError(
                _("This password was one of your last %(n)d: choose another.") % {"n": HISTORY},
                code="password_reused",
            )

    def get_help_text(self) -> str:
        return _("Not one of your last %(n)d passwords.") % {"n": HISTORY}
