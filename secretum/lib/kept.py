"""What a process makes once and gives again at every request that asks for the same (issue 17):
a route's address, a page's fixed fragment. Only for what follows from its key alone, never
from a user, a session or a permission (those are decided at each request, and a value of
theirs is part of the key where it changes what is made).

Bounded: when full, everything is forgotten and made again as asked. The keys of a sound use
are a few hundred at most (routes, roles, languages); the bound only keeps a mistake, a key
holding a value of a request, from growing a process's memory for ever.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


class Kept(dict[Hashable, Any]):
    """A dictionary whose ``made(key, make, *args)`` gives ``make(*args)`` the first time
    ``key`` is asked and the same value after; at most ``most`` values at once."""

    def __init__(self, most: int) -> None:
        super().__init__()
        self.most = most

    def made(self, key: Hashable, make: Callable[..., T], *args: Any) -> T:
        found: T | None = self.get(key)
        if found is None:
            if len(self) >= self.most:
                self.clear()
            found = self[key] = make(*args)
        return found
