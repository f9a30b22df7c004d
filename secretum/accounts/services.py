"""Accounts: one personal account per person (B1), Argon2id passwords checked by policy (B2)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.db import transaction

from secretum.access.actor import Actor
from secretum.access.policy import Role
from secretum.audit.services import record_event


def create_user(
    actor: Actor,
    *,
    username: str,
    role: Role,
    password: str,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> Any:
    User = get_user_model()
    user = User(
        username=username, role=role, first_name=first_name, last_name=last_name, email=email
    )
    password_validation.validate_password(password, user)
    user.set_password(password)
    with transaction.atomic():
        user.save()
        record_event(
            actor, "create", "accounts.User", resource_ref=str(user.pk), detail={"role": str(role)}
        )
    return user
