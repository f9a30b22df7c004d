"""`secretum serve`: gunicorn over TLS 1.2+ only, HSTS from Django, HTTP redirected to HTTPS."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError


def tls_context(conf: Any, default_ssl_context_factory: Any) -> ssl.SSLContext:
    """H1: TLS 1.2 or 1.3 only, forward-secret AEAD suites only for TLS 1.2."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    context.load_cert_chain(conf.certfile, conf.keyfile)
    return context


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

        errors = [
            m
            for m in checks.run_checks(include_deployment_checks=True)
            if m.level >= checks.ERROR and not m.is_silenced()
        ]
        if errors:
            raise CommandError("refusing to serve: " + " ".join(e.msg for e in errors))
        if not options["no_migrate"]:
            call_command("migrate", verbosity=0, interactive=False)

        from gunicorn.app.base import BaseApplication

        inst = settings.INSTANCE
        host, port = options["host"], options["port"]
        bind_host = f"[{host}]" if ":" in host else host
        config = {
            "bind": f"{bind_host}:{port}",
            "workers": options["workers"],
            "threads": options["threads"],
            "worker_class": "gthread",
            "certfile": str(inst.tls_cert),
            "keyfile": str(inst.tls_key),
            "ssl_context": tls_context,
            "timeout": 60,
            "graceful_timeout": 20,
            "accesslog": "-",
            # No query string in the access log: the path alone (H2).
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms',
            "forwarded_allow_ips": "",
            "proc_name": "secretum",
            # gunicorn's control socket lives in the instance, not in the user's home folder.
            "control_socket": str(inst.home / "gunicorn.ctl"),
            "control_socket_mode": 0o600,
        }

        from secretum.wsgi import application

        class Server(BaseApplication):
            def load_config(self) -> None:
                for key, value in config.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return application

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
                ],
                env=os.environ.copy(),
            )
        # D2: the audit checkpoint signer, a process of its own (the only one that reads the
        # signing key): signs at start, every SECRETUM_AUDIT_CHECKPOINT_INTERVAL, and at shutdown.
        signer = subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
            [
                sys.executable,
                "-m",
                "secretum.cli",
                "audit",
                "checkpoint",
                "--every",
                str(settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL),
            ],
            env=os.environ.copy(),
        )
        self.stdout.write(
            f"Secretum serving https://{bind_host}:{port}/ "
            + (f"(http://{bind_host}:{options['http_port']}/ redirects there)" if redirect else "")
        )
        self.stdout.flush()
        try:
            Server().run()
        finally:
            if redirect is not None:
                redirect.terminate()
                redirect.wait(timeout=5)
            # After the workers have stopped: the signer's last checkpoint covers every event.
            signer.terminate()
            try:
                signer.wait(timeout=60)
            except subprocess.TimeoutExpired:
                signer.kill()
