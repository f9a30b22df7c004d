"""System check of the key file's binding to the database (O2, G3, E10, H3): run by
`secretum check` and `secretum serve`."""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register
from django.db import DatabaseError

from secretum.crypto import binding
from secretum.instance import InstanceError


@register("secretum", deploy=True)
def key_binding_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    try:
        binding.verify_once()  # reads only: `check` writes nothing
    except binding.KeyMismatch as exc:
        return [Error(exc.fact + ".", hint=exc.hint, id="secretum.E301")]
    except InstanceError:
        return []  # secretum.E003 names what is wrong with the key file itself
    except DatabaseError:
        return []  # no database yet (`serve` migrates after its checks), or unreachable
    return []
