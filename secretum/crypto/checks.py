"""System checks of the keys (O2, G3, E10, H3): the key file's binding to the database, and where
the keys come from (``providers``). Run by `secretum check` and `secretum serve`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.db import DatabaseError

from secretum.crypto import binding, providers, token
from secretum.instance import KEY_VARIABLE, InstanceError


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


@register("secretum", deploy=True)
def key_provider_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    """E10, G3, O2: the key file apart from the database and the web root (an error: `serve`
    refuses), the token named whole, and a key in the environment said to be weaker."""
    inst = settings.INSTANCE
    problems: list[Any] = [
        Error(fact + ".", hint=hint, id="secretum.E011")
        for fact, hint in providers.location_faults(inst)
    ]
    try:
        token.TokenConfig.from_env()
    except token.TokenError as exc:
        problems.append(Error(str(exc), id="secretum.E012"))
    if inst.provider == "environment":
        problems.append(
            Warning(
                f"The key is given in {KEY_VARIABLE}: other processes of the same user, and "
                "root, can read it in /proc/PID/environ, and every child process inherits it.",
                hint="Mount it as a file (mode 600) and name it with SECRETUM_KEY_FILE.",
                id="secretum.W011",
            )
        )
    return problems
