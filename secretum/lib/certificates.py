"""The server's TLS certificate (H1): what it is, and a TLS context that follows its renewals.

``secretum init`` makes a self-signed certificate for this machine's own names (127.0.0.1,
localhost): enough for a demo or for one workstation, not for an instance that other machines
reach by name, where a browser cannot tell it from an attacker's. Such an instance uses the
practice's certificate, or an ACME client's (certbot, acme.sh, lego, Caddy's...), named by
``SECRETUM_TLS_CERT_FILE`` and ``SECRETUM_TLS_KEY_FILE``. ACME clients renew a certificate when
30 days are left; 14 days left means a renewal failed (``SOON_DAYS``).

``ReloadingContext`` gives the front a TLS context for each new connection, loaded again when
the files change: a renewed certificate is served without restarting ``secretum serve``.
"""

from __future__ import annotations

import datetime as dt
import os
import ssl
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cryptography import x509
from cryptography.exceptions import InvalidSignature

SOON_DAYS = 14
# The names by which only this machine reaches the server.
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def read_leaf(path: Path) -> x509.Certificate:
    """The server's own certificate: the first of the file (a full chain follows it).
    OSError when the file cannot be read, ValueError when it holds no PEM certificate."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def is_self_signed(cert: x509.Certificate) -> bool:
    """Whether ``cert`` vouches for itself: its own issuer, signed with its own key."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def network_hosts(allowed_hosts: Iterable[str]) -> list[str]:
    """The host names other machines reach the server by (``ALLOWED_HOSTS`` beyond this
    machine's own names): an instance with any is in production."""
    return [h for h in allowed_hosts if h and h.lower() not in LOCAL_NAMES]


@dataclass(frozen=True)
class CertificateState:
    """What ``inspect`` found: ``problem`` when the certificate cannot be read (the rest is then
    meaningless)."""

    path: Path
    problem: str = ""
    self_signed: bool = False
    not_after: dt.datetime = EPOCH
    days_left: int = 0
    expired: bool = False

    @property
    def expires_soon(self) -> bool:
        """Expired, or fewer than SOON_DAYS days left: a renewal failed."""
        return not self.problem and self.days_left < SOON_DAYS


def inspect(path: Path, now: dt.datetime | None = None) -> CertificateState:
    try:
        cert = read_leaf(path)
    except OSError as exc:
        return CertificateState(path, problem=exc.strerror or type(exc).__name__)
    except ValueError:
        return CertificateState(path, problem="no PEM certificate in it")
    left = cert.not_valid_after_utc - (now or dt.datetime.now(dt.UTC))
    return CertificateState(
        path,
        self_signed=is_self_signed(cert),
        not_after=cert.not_valid_after_utc,
        days_left=left.days,
        expired=left.total_seconds() <= 0,
    )


def _signature(paths: tuple[Path, Path]) -> tuple[tuple[int, ...], ...]:
    """What changes when a file is replaced or rewritten (through symbolic links, as ACME
    clients point at the latest files)."""
    out: list[tuple[int, ...]] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            out.append(())
            continue
        out.append((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
    return tuple(out)


class ReloadingContext:
    """The TLS context for the next connection, from ``certfile`` and ``keyfile`` as they are now.

    The files are looked at (two ``stat`` calls) at most every ``interval`` seconds. When they
    changed, a new context is made from them, and new connections get it; connections already
    open keep theirs. A renewal caught half-way (a new certificate beside the old key) does not
    load: the current context stays until the pair matches again, and the failure is told once
    per change on ``out``.
    """

    def __init__(
        self,
        certfile: Path,
        keyfile: Path,
        make: Callable[[Path, Path], ssl.SSLContext],
        interval: float = 1.0,
        out: TextIO = sys.stdout,
    ) -> None:
        self.paths = (Path(certfile), Path(keyfile))
        self.make = make
        self.interval = interval
        self.out = out
        self.seen = _signature(self.paths)
        self.context = make(*self.paths)  # at start, a bad pair is an error: nothing is served
        self.checked = time.monotonic()

    def current(self) -> ssl.SSLContext:
        now = time.monotonic()
        if now - self.checked < self.interval:
            return self.context
        self.checked = now
        signature = _signature(self.paths)
        if signature == self.seen:
            return self.context
        self.seen = signature
        try:
            self.context = self.make(*self.paths)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.out.write(
                f"TLS certificate {self.paths[0]} changed but does not load with its key "
                f"({exc}); still serving the previous one.\n"
            )
        else:
            try:
                until = read_leaf(self.paths[0]).not_valid_after_utc.date().isoformat()
            except (OSError, ValueError):  # replaced again since: the next look tells
                until = "?"
            self.out.write(f"TLS certificate {self.paths[0]} reloaded (valid until {until}).\n")
        self.out.flush()
        return self.context
