"""The one authentication backend: Django's, but a user row altered outside Secretum (its seal
no longer matches, ``accounts.integrity``) is nobody: every session of it stops at once (B1, C1).
Passwords are checked in ``accounts.services.check_password_step``, never through this backend's
``authenticate``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from secretum.accounts import integrity
from secretum.accounts.models import User
from secretum.lib.rawrows import Select, value

# Read on every request of a signed-in session: written once, not composed by the ORM each time
# (issue 17). ``ModelBackend.get_user`` reads the same row.
_BY_PK = Select(User, "WHERE id = %s")

PATH = "secretum.accounts.backends.SealedModelBackend"


class SealedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        """The active user of this id whose row is intact (B1, C1), or None."""
        user = _BY_PK.first(value(User, "id", user_id))
        if user is None or not self.user_can_authenticate(user) or not integrity.checked(user):
            return None
        return user
