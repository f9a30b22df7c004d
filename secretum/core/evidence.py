"""Evidence of the server's own measures (E4, E9, F3, G2, H1, H2, H3, N1, N3), for the register.

Live: the installed software against the vulnerability database (G2), the certificate and the
transport settings (H1), the access log format in use (H2), the database's credentials and the
host's listening ports (H3), the host's firewall (E9, F3). By construction: no caching (E4),
privacy-friendly defaults (N1) and fictitious data (N3), properties of the code proven by the
tests each names.
"""

from __future__ import annotations

import inspect
import re
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met
from secretum.lib import certificates, firewall, listening

HSTS_MIN_SECONDS = 365 * 24 * 3600
DB_PASSWORD_MIN = 16


@evidence("H1", proof=Proof.LIVE)
def transport_security() -> Evidence:
    """H1: the certificate serve presents (the instance's own, or the practice's by path) is
    readable, matches its key, is not expired nor within 14 days of it, and is not self-signed on
    an instance other machines reach; TLS 1.2+, HSTS, HTTP redirected, secure cookies."""
    from secretum.core.management.commands.serve import tls_context

    certfile, keyfile = settings.SECRETUM_TLS_CERT_FILE, settings.SECRETUM_TLS_KEY_FILE
    cert = certificates.inspect(certfile)
    if cert.problem:
        return not_met(
            _("No readable TLS certificate at %(path)s.") % {"path": certfile},
            _("Install the practice's certificate (or run 'secretum init' on a new instance)."),
        )
    problems = []
    until = {"day": day(cert.not_after)}
    if cert.expired:
        problems.append(_("the certificate expired on %(day)s") % until)
    elif cert.expires_soon:
        problems.append(
            _("the certificate expires on %(day)s, in less than 14 days: its renewal failed")
            % until
        )
    hosts = certificates.network_hosts(settings.ALLOWED_HOSTS)
    if cert.self_signed and hosts:
        problems.append(
            _(
                "the certificate is self-signed while other machines reach this instance "
                "(%(hosts)s): their browsers cannot tell it from an attacker's"
            )
            % {"hosts": ", ".join(hosts)}
        )
    if keyfile.exists() and keyfile.stat().st_mode & 0o077:
        problems.append(_("the TLS private key is readable by others"))
    if settings.SECURE_HSTS_SECONDS < HSTS_MIN_SECONDS:
        problems.append(_("HSTS is shorter than a year"))
    if not settings.SECURE_SSL_REDIRECT:
        problems.append(_("plain HTTP is not redirected to HTTPS"))
    if not (settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE):
        problems.append(_("cookies may travel without TLS"))
    try:
        context = tls_context(SimpleNamespace(certfile=str(certfile), keyfile=str(keyfile)), None)
        if context.minimum_version < ssl.TLSVersion.TLSv1_2:
            problems.append(_("TLS versions older than 1.2 are accepted"))
    except (OSError, ssl.SSLError):
        problems.append(_("the certificate and its key cannot be loaded together"))
    if problems:
        return not_met(
            _("TLS is not set up as it should be: %(what)s.") % {"what": "; ".join(problems)},
            _(
                "Install the practice's certificate or an ACME client's and name it with "
                "SECRETUM_TLS_CERT_FILE and SECRETUM_TLS_KEY_FILE (serve loads a renewed one "
                "without a restart); restore the transport settings of secretum/settings.py."
            ),
        )
    kind = (
        _("self-signed, for this machine only")
        if cert.self_signed
        else _("issued by a certificate authority")
    )
    return met(
        _(
            "TLS 1.2+ only with forward-secret AEAD suites; HSTS for a year; HTTP redirected; "
            "certificate %(kind)s, valid until %(day)s."
        )
        % {"kind": kind, **until}
    )


# H3: what listens on the forbidden ports is named by its protocol where it has a usual one.
PORT_NAMES = {21: "FTP", 23: "Telnet"}
REDIRECT_MODULE = "secretum.lib.redirect"  # Secretum's own plain-HTTP redirect (H1)


def listening_problems() -> tuple[list[str], list[str]]:
    """H3: (what listens where it must not, Secretum's redirects on the plain-HTTP ports), from
    the host's listening sockets. Raises ``listening.Unavailable`` when they cannot be read."""
    forbidden = set(settings.SECRETUM_FORBIDDEN_PORTS)
    plain = set(settings.SECRETUM_PLAIN_HTTP_PORTS) - forbidden
    found = [s for s in listening.listeners() if s.port in forbidden | plain]
    owners = listening.owners({s.inode for s in found if s.port in plain})
    wrong, redirects = [], []
    for socket in found:
        argv = owners.get(socket.inode, ())
        if socket.port in plain and REDIRECT_MODULE in argv:
            redirects.append(socket.where)
        elif socket.port in plain:
            # The program's name only: its arguments may hold a secret.
            program = Path(argv[0]).name if argv and argv[0] else _("owner unknown")
            wrong.append(
                _("%(where)s: plain HTTP (%(owner)s)") % {"where": socket.where, "owner": program}
            )
        else:
            name = PORT_NAMES.get(socket.port, _("a forbidden port"))
            wrong.append(_("%(where)s: %(name)s") % {"where": socket.where, "name": name})
    return wrong, redirects


@evidence("H3", proof=Proof.LIVE)
def database_credentials() -> Evidence:
    """H3: strong credentials for the database, and no service on the host that carries
    passwords in clear (FTP, Telnet, plain HTTP other than Secretum's redirect to HTTPS), read
    from the host's listening sockets."""
    problems = []
    db = settings.DATABASES["default"]
    if connection.vendor == "sqlite":
        path = Path(str(db.get("NAME", "")))
        if path.is_file() and path.stat().st_mode & 0o077:
            problems.append(_("the database file is readable by others"))
        said = _("Embedded database in a file readable by its owner only; no network access.")
    else:
        password = str(db.get("PASSWORD", ""))
        if password and len(password) < DB_PASSWORD_MIN:
            problems.append(
                _("the database password is shorter than %(n)d characters") % {"n": DB_PASSWORD_MIN}
            )
        said = (
            _("Database password of %(n)d characters.") % {"n": len(password)}
            if password
            else _(
                "No database password in the configuration: the server authenticates "
                "Secretum otherwise (peer or certificate)."
            )
        )
    if len(settings.SECRET_KEY) < 50:
        problems.append(_("the application's secret key is missing or short"))
    try:
        wrong, redirects = listening_problems()
    except listening.Unavailable:
        wrong, redirects = [], []
        unreadable = _(
            "The host's listening ports cannot be read (no /proc/net/tcp): nothing says that no "
            "service listens in clear."
        )
    else:
        unreadable = ""
    ports = ", ".join(str(p) for p in sorted(settings.SECRETUM_FORBIDDEN_PORTS))
    http = ", ".join(str(p) for p in sorted(settings.SECRETUM_PLAIN_HTTP_PORTS))
    if problems:
        return not_met(
            _("Weak credentials: %(what)s.") % {"what": "; ".join(problems)},
            _("Use a generated password of at least 16 characters, and 'chmod 600' the files."),
            *wrong,
        )
    if unreadable:
        return not_met(unreadable, _("Run Secretum on Linux, where the register reads them."))
    if wrong:
        return not_met(
            _(
                "A service listens on this host where passwords would travel in clear (ports "
                "%(ports)s, and plain HTTP on %(http)s other than Secretum's redirect)."
            )
            % {"ports": ports, "http": http},
            _(
                "Stop these services (FTP, Telnet, plain HTTP), or move them behind TLS (SFTP, "
                "SSH, HTTPS)."
            ),
            *wrong,
        )
    return met(
        said,
        _(
            "Nothing listens on this host's ports %(ports)s (FTP, Telnet) nor on plain HTTP "
            "(%(http)s) but Secretum's redirect to HTTPS."
        )
        % {"ports": ports, "http": http},
        *(_("%(where)s: Secretum's redirect to HTTPS") % {"where": w} for w in redirects),
    )


@evidence("E9", "F3", proof=Proof.LIVE)
def host_firewall() -> Evidence:
    """E9, F3: the host's firewall drops by default what comes in (IPv4, and IPv6 where the
    host has it), read from nftables and iptables (``lib.firewall``); "cannot tell" when this
    user may not read them is said as such, never met."""
    return firewall_evidence(firewall.read())


def firewall_evidence(found: firewall.Reading) -> Evidence:
    """What the register says of this reading of the host's firewall (E9, F3)."""
    details = [
        *(_("Read: %(source)s.") % {"source": s} for s in found.read),
        *(_("Not read: %(why)s.") % {"why": w} for w in found.unread),
    ]
    if found.state == firewall.State.DENY:
        return met(
            _(
                "A firewall is active on this host: what comes in is dropped unless a rule "
                "accepts it (a default-deny input policy)."
            ),
            *details,
        )
    if found.state == firewall.State.OPEN:
        return not_met(
            _(
                "No firewall drops by default what comes in to this host: every port that "
                "listens is reachable."
            ),
            _(
                "Turn on the host's firewall with a default-deny input policy that lets in "
                "HTTPS (and SSH for its administrator), e.g. 'ufw default deny incoming', "
                "'ufw allow 443/tcp', 'ufw enable'."
            ),
            *details,
        )
    return not_met(
        _(
            "Cannot tell whether a firewall protects this host: its rules can be read only by "
            "root, or the tools that print them are missing. Nothing here says it is active."
        ),
        _(
            "Run 'secretum check' as root on the server to read the firewall, and make sure "
            "its input policy drops by default."
        ),
        *details,
    )


# H2: gunicorn's access log atoms (its documentation, "access_log_format") that hold neither a
# query string nor personal data. The client's address is kept, as in the audit log (D1).
SAFE_LOG_ATOMS = frozenset("h l t m U s B b M D L T p H".split())
SAFE_LOG_HEADERS = frozenset({"x-request-id", "content-type", "content-length"})
LOG_ATOM = re.compile(r"%\((\{([^}]*)\}([ieo])|[^)]*)\)s")
UNSAFE_LOG_ATOMS = {
    "r": gettext_lazy("the request line, with its query string"),
    "q": gettext_lazy("the query string"),
    "f": gettext_lazy("the referring address, with its query string"),
    "u": gettext_lazy("the user's name"),
    "a": gettext_lazy("the browser's description (a fingerprint of the person's device)"),
}


def access_log_problems(log_format: str, logging: dict[str, Any]) -> list[str]:
    """H2: what this access log format (gunicorn's atoms) and Django's ``LOGGING`` would write
    beyond the path: a query string, a header, a user's name."""
    found = []
    for atom in LOG_ATOM.finditer(log_format):
        whole, name, where = atom.group(1), (atom.group(2) or "").lower(), atom.group(3)
        if (where in ("i", "o") and name in SAFE_LOG_HEADERS) or whole in SAFE_LOG_ATOMS:
            continue
        if where in ("i", "o"):
            found.append(_("the header %(name)s") % {"name": name})
        elif where == "e":
            found.append(_("the variable %(name)s") % {"name": name})
        else:
            found.append(str(UNSAFE_LOG_ATOMS.get(whole, whole)))
        found[-1] = f"%({whole})s: {found[-1]}"
    for name, formatter in (logging.get("formatters") or {}).items():
        text = str(formatter.get("format", "")) if isinstance(formatter, dict) else ""
        if "request" in text:  # Django's request: the whole address, query string included
            found.append(_("the log formatter %(name)s writes the request") % {"name": name})
    return found


@evidence("H2", proof=Proof.LIVE)
def access_log() -> Evidence:
    """H2: the access log format the workers are given (``lib.workers.config``, which serve
    uses) and Django's LOGGING write the path, never a query string, a header or a name."""
    from secretum.lib import workers

    log_format = workers.config(Path(settings.INSTANCE.home), 1, 1, 1)["access_log_format"]
    problems = access_log_problems(log_format, settings.LOGGING)
    if problems:
        return not_met(
            _("The access log writes more than the path: a query string or personal data."),
            _(
                "Unset %(variable)s (Secretum's format logs the path alone), and remove the "
                "request from the log formatters (secretum/settings.py LOGGING)."
            )
            % {"variable": workers.ACCESS_LOG_FORMAT_VARIABLE},
            *problems,
        )
    return met(
        _(
            "The access log writes the client's address, the method, the path without its query "
            "string, the status, the size and the duration: no identifier, token or name."
        ),
        log_format,
    )


@evidence(
    "E4",
    proof=Proof.BY_CONSTRUCTION,
    tests=("tests/core/test_headers.py::test_pages_carry_strict_security_headers",),
)
def nothing_cached_on_devices() -> Evidence:
    from secretum.core.middleware import SecurityHeadersMiddleware

    installed = "secretum.core.middleware.SecurityHeadersMiddleware" in settings.MIDDLEWARE
    response = SecurityHeadersMiddleware(lambda request: HttpResponse())(RequestFactory().get("/"))
    if not installed or response.get("Cache-Control") != "no-store":
        return not_met(
            _("Pages may be kept in the cache of browsers and devices."),
            _("Restore SecurityHeadersMiddleware in secretum/settings.py."),
        )
    return met(
        _(
            "Every page is sent with Cache-Control: no-store: no patient data are kept on phones, "
            "tablets or computers; the session locks when idle (E1)."
        )
    )


@evidence(
    "N1",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/core/test_headers.py::test_pages_carry_strict_security_headers",
        "tests/core/test_privacy_defaults.py::test_no_device_or_other_site_is_reached_by_default",
        "tests/accounts/test_attacks.py::"
        "test_every_cookie_is_host_prefixed_secure_httponly_and_strict",
    ),
)
def privacy_by_default() -> Evidence:
    from secretum.core.middleware import CONTENT_SECURITY_POLICY, PERMISSIONS_POLICY

    problems = []
    if "default-src 'none'" not in CONTENT_SECURITY_POLICY or "http" in CONTENT_SECURITY_POLICY:
        problems.append(_("pages may load content from other sites"))
    if settings.SECURE_REFERRER_POLICY not in ("same-origin", "no-referrer"):
        problems.append(_("addresses may leak to other sites in the Referer header"))
    if any(
        f"{api}=()" not in PERMISSIONS_POLICY for api in ("camera", "microphone", "geolocation")
    ):
        problems.append(_("the camera, microphone or location are not refused"))
    if settings.SESSION_COOKIE_SAMESITE != "Strict" or not settings.SESSION_COOKIE_HTTPONLY:
        problems.append(_("the session cookie is not strict"))
    if problems:
        return not_met(
            _("Defaults are not privacy-friendly: %(what)s.") % {"what": "; ".join(problems)},
            _("Restore the defaults of secretum/settings.py and secretum/core/middleware.py."),
        )
    return met(
        _(
            "Privacy by default: nothing loaded from other sites, no referrer leaves the practice, "
            "camera, microphone and location refused, strict cookies, a new account holds no "
            "right until given a role."
        )
    )


@evidence(
    "N3",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/core/test_privacy_defaults.py::test_demo_identities_are_fictitious",
        "tests/core/test_cli.py::test_demo_is_deterministic_and_prints_patients",
    ),
)
def fictitious_test_data() -> Evidence:
    # The demo's source, never Faker itself: Faker is not part of a production install.
    from secretum.core.management.commands import demo

    source = inspect.getsource(demo)
    uses_faker = "from faker import Faker" in source
    locales = set(demo.LOCALES) == {"fr_BE", "nl_BE"}
    if not (uses_faker and locales and "niss.build" in source):
        return not_met(
            _("The demo and test data generator does not use Faker's fictitious identities."),
            _("Restore secretum/core/management/commands/demo.py."),
        )
    return met(
        _(
            "Demo, test and benchmark data are fictitious: Faker fr_BE/nl_BE names and addresses, "
            "generated national numbers; no real person's data."
        )
    )


@evidence("G2", proof=Proof.LIVE)
def known_vulnerabilities() -> Evidence:
    """G2: Secretum's version and the installation's age; the installed packages checked against
    the offline vulnerability database, itself updated within 30 days; no HIGH or CRITICAL
    finding (those are the managers' reminder until the fixed versions are installed)."""
    from secretum.core import updates

    found = updates.state()
    about = _about_installation(found)
    update = _(
        "Download %(url)s into %(path)s (or copy a recent copy there) at least every %(days)d "
        "days; 'secretum vulns' then lists what needs updating."
    ) % {"url": updates.OSV_PYPI_URL, "path": found.database, "days": updates.STALE_DAYS}
    if found.updated_at is None:
        return not_met(
            _(
                "No vulnerability database at %(path)s: the installed packages are not checked "
                "for known vulnerabilities."
            )
            % {"path": found.database},
            update,
            about,
        )
    if found.problem or found.scan is None:
        return not_met(
            _("The vulnerability database %(path)s cannot be read (%(problem)s).")
            % {"path": found.database, "problem": found.problem},
            update,
            about,
        )
    if found.stale:
        return not_met(
            _(
                "The vulnerability database was last updated on %(day)s, %(n)d days ago: older "
                "than %(max)d days, it misses the latest advisories."
            )
            % {"day": day(found.updated_at), "n": found.database_days, "max": updates.STALE_DAYS},
            update,
            about,
        )
    lines = [updates.describe(f) for f in found.scan.findings]
    if found.serious:
        return not_met(
            ngettext(
                "%(n)d known HIGH or CRITICAL vulnerability in the installed packages: %(what)s.",
                "%(n)d known HIGH or CRITICAL vulnerabilities in the installed packages: %(what)s.",
                len(found.serious),
            )
            % {
                "n": len(found.serious),
                "what": ", ".join(f"{f.package} {f.version}" for f in found.serious),
            },
            _(
                "Install the fixed versions now (the provider's update of Secretum, or "
                "'pip install' of the versions named below), then restart Secretum."
            ),
            about,
            *lines,
        )
    return met(
        _(
            "%(n)d installed packages checked against a vulnerability database updated on "
            "%(day)s: no known HIGH or CRITICAL vulnerability."
        )
        % {"n": len(updates.installed()), "day": day(found.updated_at)},
        about,
        *lines,
    )


def _about_installation(found: Any) -> str:
    if found.installed_at is None:
        return _("Secretum %(version)s; installation date unknown.") % {"version": found.version}
    n = found.age_days
    return ngettext(
        "Secretum %(version)s, installed on %(day)s (%(n)d day ago).",
        "Secretum %(version)s, installed on %(day)s (%(n)d days ago).",
        n,
    ) % {"version": found.version, "day": day(found.installed_at), "n": n}
