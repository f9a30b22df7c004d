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
    # Views are functions. A class-based view declares on its dispatch (as_view() copies that
    # method's attributes); a declaration on the class itself is not seen, so it is refused.
    return getattr(view, ATTRIBUTE, None)


GATES_ATTRIBUTE = "secretum_gates"


def during(*gates: str) -> Callable[[F], F]:
    """This view may also be used while the session is locked or a gate is not yet passed
    (the unlock page, enrolling a factor, changing a password, accepting the charter)."""

    def mark(view: F) -> F:
        setattr(view, GATES_ATTRIBUTE, frozenset(gates))
        return view

    return mark


def declared_gates(view: Any) -> frozenset[str]:
    return getattr(view, GATES_ATTRIBUTE, None) or frozenset()
