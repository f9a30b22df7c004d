"""System checks of the network, the certificate, the updates and the host's firewall (F1, F3,
F4, E9, H1, G2), and what ``secretum check`` prints about them.

Errors stop ``serve`` (a setting that holds no network, a certificate that cannot serve);
warnings make ``check`` fail while ``serve`` goes on (a self-signed certificate on an instance
other machines reach, one about to expire, a known HIGH or CRITICAL vulnerability). What is
only not set up yet (no allowed networks, no vulnerability database) is said in ``status()``
and shown as not met in the register: a fresh instance still passes ``check``. The host's
firewall (E9, F3): one read that drops nothing by default is a warning; one this user may not
read (not root) is said in ``status()`` as "cannot tell", never as active.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from secretum.access import networks
from secretum.core import updates
from secretum.crypto import inventory
from secretum.lib import certificates, clamav, firewall
from secretum.lib.networks import too_broad

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"


@register("secretum", deploy=True)
def host_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    return [*_network_checks(), *_tls_checks(), *_update_checks(), *_firewall_checks()]


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


def _tls_checks() -> list[Any]:
    """H1: a certificate that serves, is not about to expire, and is not self-signed where other
    machines connect."""
    given = [n for n in ("SECRETUM_TLS_CERT_FILE", "SECRETUM_TLS_KEY_FILE") if os.environ.get(n)]
    if len(given) == 1:
        return [
            Error(
                f"{given[0]} is set alone: name both the certificate and its key "
                "(SECRETUM_TLS_CERT_FILE, SECRETUM_TLS_KEY_FILE).",
                id="secretum.E404",
            )
        ]
    path = settings.SECRETUM_TLS_CERT_FILE
    cert = certificates.inspect(path)
    if cert.problem:
        return [
            Error(f"No readable TLS certificate at {path} ({cert.problem}).", id="secretum.E006")
        ]
    until = cert.not_after.date().isoformat()
    if cert.expired:
        return [Error(f"The TLS certificate {path} expired on {until}.", id="secretum.E007")]
    problems: list[Any] = []
    if cert.expires_soon:
        problems.append(
            Warning(
                f"The TLS certificate {path} expires in {cert.days_left} days ({until}).",
                hint="ACME clients renew 30 days ahead: look at the client's log, or install "
                "the renewed certificate (serve loads it without a restart).",
                id="secretum.W001",
            )
        )
    hosts = certificates.network_hosts(settings.ALLOWED_HOSTS)
    if cert.self_signed and hosts:
        problems.append(
            Warning(
                f"The TLS certificate {path} is self-signed, and other machines reach this "
                f"instance ({', '.join(hosts)}): their browsers cannot tell it from an "
                "attacker's.",
                hint="Install the practice's certificate or an ACME client's and name it with "
                "SECRETUM_TLS_CERT_FILE and SECRETUM_TLS_KEY_FILE.",
                id="secretum.W402",
            )
        )
    if not _loads(path, settings.SECRETUM_TLS_KEY_FILE):
        problems.append(
            Error(
                f"The TLS certificate {path} does not load with the key "
                f"{settings.SECRETUM_TLS_KEY_FILE}.",
                hint="Name the key that belongs to the certificate (readable by this user only).",
                id="secretum.E403",
            )
        )
    return problems


def _loads(certfile: Any, keyfile: Any) -> bool:
    import ssl

    from secretum.lib.front import tls_context

    try:
        tls_context(certfile, keyfile)
    except (OSError, ssl.SSLError):
        return False
    return True


def _update_checks() -> list[Any]:
    """G2: no known HIGH or CRITICAL vulnerability in what is installed; a database that reads."""
    found = updates.state()
    if found.problem:
        return [
            Warning(
                f"The vulnerability database cannot be read: {found.problem}.",
                hint=updates.how_to_update(found.database).capitalize() + ".",
                id="secretum.W404",
            )
        ]
    if found.serious:
        return [
            Warning(
                f"{len(found.serious)} known HIGH or CRITICAL vulnerabilities in the installed "
                "packages: " + "; ".join(updates.describe(f) for f in found.serious),
                hint="Install the fixed versions now ('secretum vulns' lists them).",
                id="secretum.W403",
            )
        ]
    return []


def _firewall_checks(found: firewall.Reading | None = None) -> list[Any]:
    """E9, F3: the host's firewall, read, drops by default what comes in."""
    found = found or firewall.read()
    if found.state != firewall.State.OPEN:
        return []
    return [
        Warning(
            "No firewall on this host drops by default what comes in (read: "
            f"{', '.join(found.read)}): every port that listens is reachable (E9, F3).",
            hint="Turn on a default-deny input policy that lets in HTTPS (and SSH for the "
            "administrator), e.g. 'ufw default deny incoming', 'ufw allow 443/tcp', 'ufw enable'.",
            id="secretum.W405",
        )
    ]


def firewall_line(found: firewall.Reading) -> str:
    """What ``secretum check`` says of the host's firewall (E9, F3)."""
    if found.state == firewall.State.DENY:
        return f"Firewall: active, default-deny input policy (read: {', '.join(found.read)})."
    if found.state == firewall.State.OPEN:
        return f"Firewall: none drops by default (read: {', '.join(found.read)}): E9, F3 not met."
    return (
        "Firewall: cannot tell, E9 and F3 not met ("
        + "; ".join(found.unread)
        + "): run 'secretum check' as root to read it."
    )


def status() -> list[str]:
    """What ``secretum check`` tells beside the problems: the version and age of the
    installation, the certificate, the allowed networks, the host's firewall, the vulnerability
    database, the cryptographic inventory."""
    found = updates.state()
    since = (
        f"installed {found.installed_at.date().isoformat()} ({found.age_days} days ago)"
        if found.installed_at is not None
        else "installation date unknown"
    )
    lines = [f"Secretum {found.version}, {since}."]
    cert = certificates.inspect(settings.SECRETUM_TLS_CERT_FILE)
    if not cert.problem:
        kind = "self-signed" if cert.self_signed else "issued by a certificate authority"
        lines.append(f"TLS certificate: {cert.path} ({kind}), valid until {cert.not_after.date()}.")
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
    lines.append(firewall_line(firewall.read()))
    lines.append(antivirus_line(settings.SECRETUM_CLAMD_SOCKET))
    lines.append(_database_line(found))
    lines.extend(inventory.lines())  # algorithms, key versions, their uses, last rotation (O1)
    return lines


def antivirus_line(socket: str) -> str:
    """E2: whether the ClamAV daemon that scans every document answers, and how old its
    signatures are. A silent daemon is safe (uploads are refused, never taken unscanned) but
    leaves the practice without documents: said here, and not met in the register."""
    try:
        found = clamav.version(socket)
    except clamav.ScannerUnavailable as exc:
        return (
            f"Antivirus (E2): {exc}; document uploads and the scan intake are refused until "
            "it answers (install and start clamav-daemon, or set SECRETUM_CLAMD_SOCKET)."
        )
    if found.database_date is None:
        return (
            f"Antivirus (E2): ClamAV {found.engine} answers at {socket}, without an official "
            "signature database (let freshclam download it)."
        )
    return (
        f"Antivirus (E2): ClamAV {found.engine} answers at {socket}; signatures version "
        f"{found.database} of {found.database_date.date().isoformat()}."
    )


def _database_line(found: updates.UpdateState) -> str:
    if found.updated_at is None:
        return (
            f"Vulnerability database: none at {found.database} (G2 not met): "
            + updates.how_to_update(found.database)
            + "."
        )
    if found.problem:
        return f"Vulnerability database: {found.database} cannot be read ({found.problem})."
    said = (
        f"Vulnerability database: {found.database}, updated {found.updated_at.date()} "
        f"({found.database_days} days ago)"
    )
    scan = found.scan
    if found.stale or scan is None:
        return said + f", too old (G2 not met): {updates.how_to_update(found.database)}."
    return said + (
        f"; {scan.advisories} advisories, {len(scan.findings)} known vulnerabilities in the "
        f"{len(updates.installed())} installed packages ({len(scan.serious)} HIGH or CRITICAL)."
    )
