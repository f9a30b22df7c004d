"""System checks of the network (F1, F4), and what ``secretum check`` prints about it.

Errors stop ``serve`` (a setting that holds no network); warnings make ``check`` fail while
``serve`` goes on (a network that holds outsiders). What is only not set up yet (no allowed
networks) is said in ``status()`` and shown as not met in the register: a fresh instance still
passes ``check``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from secretum.access import networks
from secretum.lib.networks import too_broad

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


@register("secretum", deploy=True)
def host_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return _network_checks()


def _network_checks() -> list[Any]:
    """F1, F4: every entry a network; enforced early, before any session, when configured."""
    try:
        policy = networks.policy()
    except ValueError as exc:
        return [Error(str(exc), id="secretum.E401")]
    problems: list[Any] = []
    chain = list(settings.MIDDLEWARE)
    enforced = networks.MIDDLEWARE in chain and (
        SESSION_MIDDLEWARE not in chain
        or chain.index(networks.MIDDLEWARE) < chain.index(SESSION_MIDDLEWARE)
    )
    if policy.configured and not enforced:
        problems.append(
            Error(
                "Allowed networks are set, but ClientNetworkMiddleware is not in MIDDLEWARE "
                "before the session: they would not be enforced.",
                hint=f"Restore {networks.MIDDLEWARE} in secretum/settings.py.",
                id="secretum.E402",
            )
        )
    broad = [str(n) for n in (*policy.allowed, *policy.remote) if too_broad(n)]
    if broad:
        problems.append(
            Warning(
                f"The allowed networks {', '.join(broad)} hold addresses of people outside the "
                "practice (the whole Internet, or a public block larger than a /24 or an IPv6 "
                "/48).",
                hint="Name the practice's own networks and the VPN's range only.",
                id="secretum.W401",
            )
        )
    return problems


def status() -> list[str]:
    """What ``secretum check`` tells beside the problems: the allowed networks."""
    lines: list[str] = []
    try:
        policy = networks.policy()
    except ValueError:
        policy = None
    if policy is not None and policy.configured:
        named = [
            ("practice", policy.allowed),
            ("VPN", policy.remote),
            ("trusted proxies", policy.proxies),
        ]
        lines.append(
            "Allowed networks: "
            + "; ".join(f"{k} {', '.join(map(str, v)) or 'none'}" for k, v in named)
            + "."
        )
    elif policy is not None:
        lines.append(
            "Allowed networks: not configured, every address may connect (F1 and F4 not met): "
            "set SECRETUM_ALLOWED_NETWORKS and SECRETUM_REMOTE_NETWORKS."
        )
    return lines
