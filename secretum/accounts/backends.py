"""The one authentication backend: Django's, but a user row altered outside Secretum (its seal
no longer matches, ``accounts.integrity``) is nobody: every session of it stops at once (B1, C1).
Passwords are checked in ``accounts.services.check_password_step``, never through this backend's
``authenticate``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from secretum.accounts import integrity

PATH = "secretum.accounts.backends.SealedModelBackend"


class SealedModelBackend(ModelBackend):
    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        if user is not None and not integrity.checked(user):
            return None
        return user
