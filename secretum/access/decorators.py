"""Every view declares who may use it (deny by default, opt out by name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from secretum.access.policy import Permission

PUBLIC = "public"  # the login page, static assets: served to anyone
ATTRIBUTE = "secretum_permission"

F = TypeVar("F", bound=Callable[..., Any])


def requires(permission: Permission) -> Callable[[F], F]:
    def mark(view: F) -> F:
        setattr(view, ATTRIBUTE, permission)
        return view

    return mark


def public(view: F) -> F:
    setattr(view, ATTRIBUTE, PUBLIC)
    return view


def declared_permission(view: Any) -> Permission | str | None:
    # Class-based views: as_view() copies attributes of dispatch; check the view class too.
    found = getattr(view, ATTRIBUTE, None)
    if found is None and hasattr(view, "view_class"):
        found = getattr(view.view_class, ATTRIBUTE, None)
    return found
