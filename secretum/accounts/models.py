"""One personal account per person (B1). No shared or generic account exists in Secretum."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models

from secretum.access.policy import ROLE_LABELS, Role


class User(AbstractUser):
    # No default: an account holds no right until a role is given to it.
    role = models.CharField(max_length=32, choices=[(r.value, ROLE_LABELS[r]) for r in Role])
    preferred_language = models.CharField(max_length=8, blank=True)

    def __str__(self) -> str:
        return self.get_full_name() or self.username
