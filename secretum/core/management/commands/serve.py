"""`secretum serve`: HTTPS (TLS 1.2+) through an event-driven front, plain HTTP redirected.

The serving path (G4, issue 8):

    client ──TLS──► front (asyncio, this process) ──Unix socket, whole requests──► gunicorn workers

The front (``secretum.lib.front``) terminates TLS and reads each request head and body within
deadlines and size limits before a worker sees it, so slow clients cannot hold the workers'
threads; connections are limited per client address and in total. Beside it run the plain-HTTP
redirect (``secretum.lib.redirect``, H1), the audit checkpoint signer (D2) and the periodic
tasks (``PERIODIC``: the daily disabling of unused accounts, C2; the closing of maintenance
windows every minute, K2; the daily archiving of records without contact, J1; and the daily
backup, I1), each a process of its own. At shutdown
(SIGTERM, SIGINT, SIGHUP): the front stops accepting and lets the requests in progress end, then
the workers stop, then the redirect and the periodic tasks, and the signer signs its last
checkpoint after all of them: it ignores SIGTERM (systemd sends it to every process of the
service at once) and stops when serve closes its standard input. The signer is supervised:
restarted if it dies, each death recorded as an integrity alert; ``/healthz`` reports it (D2).
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from secretum.accounts.management.commands.accounts_disable_inactive import DAY
from secretum.lib import supervise
from secretum.lib.supervise import Supervised
from secretum.maintenance.management.commands.maintenance_close_expired import MINUTE

# The periodic tasks: the `secretum` command's words and how often it runs (``--every``), once at
# start, then at that interval until serve stops (``secretum.lib.periodic``).
PERIODIC: tuple[tuple[tuple[str, ...], int], ...] = (
    # C2: accounts unused for the practice's limit are disabled, once a day.
    (("accounts", "disable-inactive"), DAY),
    # K2: a maintenance window is closed (account disabled, sessions ended) within a minute of
    # its end; from its end on, its account already holds no role.
    (("maintenance", "close-expired"), MINUTE),
    # E10: the search index sized again (a new index key, tokens rebuilt) once the number of
    # patients has moved so far that a token stands for too few or too many of them.
    (("keys_rotate_index", "--if-due"), DAY),
    # J1: records without contact for the practice's archive period move to the archive, daily.
    (("records", "archive"), DAY),
    # E10, O2: this node serves, with these key versions: a rotation on another node of the
    # installation waits until it stops (``secretum.crypto.nodes``).
    (("node_announce",), MINUTE),
)


def periodic_tasks() -> tuple[tuple[tuple[str, ...], int], ...]:
    """``PERIODIC``, and the scheduled backup (I1: every SECRETUM_BACKUP_EVERY seconds, default
    daily; retention and the copy to the second target follow each one) unless it is 0. None on
    a continuity copy (I5): it changes nothing, and backs nothing up."""
    if settings.SECRETUM_READ_ONLY:
        return ()
    every = settings.SECRETUM_BACKUP_EVERY
    return (*PERIODIC, (("backup", "create"), every)) if every > 0 else PERIODIC


def tls_context(conf: Any, default_ssl_context_factory: Any = None) -> ssl.SSLContext:
    """H1: the front's TLS context (TLS 1.2+, forward-secret AEAD suites), from ``conf.certfile``
    and ``conf.keyfile``: the one the H1 evidence (``secretum.core.evidence``) checks, with the
    signature of gunicorn's ssl_context hook that served TLS before the front."""
    from secretum.lib import front

    return front.tls_context(conf.certfile, conf.keyfile)


def redirect_hosts() -> list[str]:
    """The host names the plain-HTTP redirect may send a browser to (H1): ALLOWED_HOSTS."""
    return [h for h in settings.ALLOWED_HOSTS if h]


class Command(BaseCommand):
    help = "Serve Secretum over HTTPS (TLS 1.2+), with plain HTTP redirected to HTTPS."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8443)
        parser.add_argument(
            "--http-port", type=int, default=8080, help="port that redirects to HTTPS (0: none)"
        )
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=4)
        parser.add_argument(
            "--no-migrate",
            action="store_true",
            help="do not apply pending database migrations at start",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from django.core import checks
        from django.db import connections

        from secretum.compliance.documents import DOCUMENT_MAX_BYTES
        from secretum.lib import front
        from secretum.lib.limits import limits_from_env

        errors = [
            m
            for m in checks.run_checks(include_deployment_checks=True)
            if m.level >= checks.ERROR and not m.is_silenced()
        ]
        if errors:
            raise CommandError("refusing to serve: " + " ".join(e.msg for e in errors))
        try:
            limits = limits_from_env(
                os.environ, behind_proxy=settings.SECURE_PROXY_SSL_HEADER is not None
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        # The largest body the application accepts must get through the front (G4).
        # A patient's document (D4) comes in a multipart envelope, as an evidence document does.
        documents = max(DOCUMENT_MAX_BYTES, settings.SECRETUM_DOCUMENT_MAX_BYTES) + 65536
        largest = max(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0, documents)
        if limits.max_body < largest:
            raise CommandError(
                f"SECRETUM_SERVE_MAX_BODY must be at least {largest} bytes: the application "
                "accepts evidence documents of 10 MB and patients' documents of "
                f"SECRETUM_DOCUMENT_MAX_BYTES ({settings.SECRETUM_DOCUMENT_MAX_BYTES} bytes)."
            )
        if not options["no_migrate"]:
            _migrate_or_refuse()
        connections.close_all()  # the workers open their own

        inst = settings.INSTANCE
        host, port = options["host"], options["port"]
        bind_host = f"[{host}]" if ":" in host else host
        redirect = None
        if options["http_port"]:
            redirect = subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
                [
                    sys.executable,
                    "-m",
                    "secretum.lib.redirect",
                    "--host",
                    host,
                    "--port",
                    str(options["http_port"]),
                    "--https-port",
                    str(port),
                    "--allowed-hosts",
                    ",".join(redirect_hosts()),
                    # G4: the same limits as the front.
                    "--header-timeout",
                    str(limits.header_timeout),
                    "--max-per-client",
                    str(limits.max_per_client),
                    "--max-connections",
                    str(limits.max_connections),
                ],
                env=supervise.child_env(),
                process_group=0,  # stopped by serve, in order, not by a terminal's Ctrl-C
            )
        # D2: the audit checkpoint signer, a process of its own (the only one that reads the
        # signing key): signs at start, every SECRETUM_AUDIT_CHECKPOINT_INTERVAL, and once more
        # when its standard input closes (after the workers; it ignores SIGTERM). Supervised:
        # restarted if it dies, each death recorded as an alert.
        signer = Supervised(_start_signer, _signer_died)
        periodic = [
            subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
                [sys.executable, "-m", "secretum.cli", *words, "--every", str(every)],
                env=supervise.child_env(),
                process_group=0,
            )
            for words, every in periodic_tasks()
        ]
        self.stdout.write(
            f"Secretum serving https://{bind_host}:{port}/ "
            + (f"(http://{bind_host}:{options['http_port']}/ redirects there)" if redirect else "")
        )
        self.stdout.flush()
        try:
            front.run(
                inst.home,
                host,
                port,
                limits,
                options["workers"],
                options["threads"],
                # H1: the practice's (or an ACME client's) certificate, reloaded on renewal.
                certificate=(settings.SECRETUM_TLS_CERT_FILE, settings.SECRETUM_TLS_KEY_FILE),
            )
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        finally:
            if redirect is not None:
                redirect.terminate()
                redirect.wait(timeout=5)
            for task in periodic:
                task.terminate()
            for task in periodic:
                try:
                    task.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    task.kill()
            # After the workers have stopped: the signer's last checkpoint covers every event.
            signer.stop(_close_stdin, timeout=60)


def _start_signer() -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
        [
            sys.executable,
            "-m",
            "secretum.cli",
            "audit",
            "checkpoint",
            "--every",
            str(settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL),
            "--until-closed",
        ],
        env=supervise.child_env(),
        stdin=subprocess.PIPE,
        process_group=0,
    )


def _signer_died(code: int) -> None:
    """D2: the signer's death, told on standard error and recorded as an integrity alert."""
    from django.db import connection

    from secretum.audit.log import record_integrity_failure

    problem = f"the audit checkpoint signer stopped (exit code {code}); restarting it"
    print(f"secretum: {problem}", file=sys.stderr, flush=True)
    record_integrity_failure("signer", problem)
    connection.close()  # this thread's own


def _close_stdin(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None:
        process.stdin.close()


def _migrate_or_refuse() -> None:
    """I3: the server applies pending migrations itself only where no record can be lost: an
    instance without patients, or a continuity copy (a scratch restore, I5: told by its mark,
    never by a setting a server could carry). A practice's records are migrated by ``secretum
    upgrade`` alone: a verified backup first, the audit log and the records checked after, a
    rollback if anything fails."""
    from secretum.backup.upgrade import pending
    from secretum.lib.continuity import read_marker

    waiting = pending()
    if not waiting:
        return
    if read_marker(settings.INSTANCE.home) is None and _holds_patients():
        raise CommandError(
            f"{len(waiting)} database migrations are pending: run 'secretum upgrade' first (a "
            "verified backup, then the migrations, the audit log and the records checked, rolled "
            "back if anything fails). The server does not change a practice's records itself."
        )
    call_command("migrate", verbosity=0, interactive=False)


def _holds_patients() -> bool:
    from secretum.patients.models import Patient

    if Patient._meta.db_table not in connection.introspection.table_names():
        return False
    return Patient.objects.exists()
