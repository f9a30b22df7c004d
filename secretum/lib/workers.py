"""The worker pool behind the TLS front: gunicorn on a Unix socket in the instance (G4).

``secretum.lib.front`` reads every request whole before it connects here, so gunicorn's threads
never wait on a client. Only the front can connect: the socket is in the instance folder (mode
0700) and is itself mode 0600. Each connection starts with a PROXY protocol v1 line that gunicorn
turns into REMOTE_ADDR (the address the application throttles logins by and writes in the audit
log); a connection without one is refused by ``behind_front``.

Run as ``python -m secretum.lib.workers`` by the front, in a process of its own.
"""

from __future__ import annotations

import argparse
import logging.config
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from secretum.lib import logs, supervise
from secretum.lib.http1 import MAX_REQUEST_LINE

SOCKET_NAME = "workers.sock"

# No query string in the access log: the path alone (H2). Its fields are ``logs.ACCESS_FIELDS``,
# written as JSON lines by ``lib.gunicorn_log``; the front writes its own refusals with the same.
# A site may set another format (SECRETUM_SERVE_ACCESS_LOG_FORMAT): the register's H2 evidence
# reads the one in use (``access_log_format``) and says when it logs too much.
ACCESS_LOG_FORMAT = logs.ACCESS_LOG_FORMAT
ACCESS_LOG_FORMAT_VARIABLE = "SECRETUM_SERVE_ACCESS_LOG_FORMAT"


def access_log_format(environ: Mapping[str, str] = os.environ) -> str:
    """The access log format the workers are given: the site's, or Secretum's own."""
    return environ.get(ACCESS_LOG_FORMAT_VARIABLE, "").strip() or ACCESS_LOG_FORMAT


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def behind_front(app: WSGIApp) -> WSGIApp:
    """Every request here came through the front over TLS: HTTPS, from the PROXY line's client.

    gunicorn sees a plain Unix socket, so it would call the request plain HTTP; the scheme is
    set here rather than through a forwarded header a client could also send. SERVER_NAME and
    SERVER_PORT are the front's own address, as gunicorn gave them when it listened itself.

    The request's id is made here, where it enters the application (``secretum.lib.logs``):
    every line logged while it runs, its access line and its audit events carry it, and every
    answer names it in X-Request-Id (static files and redirects included).
    """

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request_id = environ[logs.ENVIRON_KEY] = logs.new_request_id()
        logs.REQUEST_ID.set(request_id)  # cleared by the access line (lib.gunicorn_log)

        def answer(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            if not any(name.lower() == "x-request-id" for name, _ in headers):
                headers.append((logs.RESPONSE_HEADER, request_id))
            return start_response(status, headers, *exc_info)

        if environ.get("PROXY_PROTOCOL") not in ("TCP4", "TCP6"):
            answer("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"400 Bad Request\n"]
        environ["wsgi.url_scheme"] = "https"
        environ["SERVER_NAME"] = environ.get("PROXY_ADDR", environ.get("SERVER_NAME", ""))
        environ["SERVER_PORT"] = environ.get("PROXY_PORT", environ.get("SERVER_PORT", ""))
        return app(environ, answer)

    return application


def config(home: Path, workers: int, threads: int, graceful_timeout: float) -> dict[str, Any]:
    """gunicorn's settings behind the front."""
    return {
        "bind": f"unix:{home / SOCKET_NAME}",
        # The socket file is created owner read/write only (0600): no other user may connect.
        "umask": 0o177,
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": int(graceful_timeout),
        # JSON lines in the instance's logs, the request id on each (secretum.lib.logs).
        "logger_class": "secretum.lib.gunicorn_log.JsonLogger",
        "loglevel": logs.LogSettings.from_env(os.environ, home).level.lower(),
        "accesslog": "-",
        "access_log_format": access_log_format(),
        # The client's address comes in the PROXY protocol v1 line the front writes first; gunicorn
        # trusts it from a Unix socket peer, and only the front is one.
        "proxy_protocol": "v1",
        # No forwarded header is trusted: not for the scheme (set by behind_front), not for
        # SCRIPT_NAME or PATH_INFO (the front also drops every field name with "_").
        "forwarded_allow_ips": "",
        "forwarder_headers": "",
        "secure_scheme_headers": {},
        "limit_request_line": MAX_REQUEST_LINE,
        "limit_request_field_size": 16 * 1024,
        "proc_name": "secretum",
        # gunicorn's control socket lives in the instance, not in the user's home folder.
        "control_socket": str(home / "gunicorn.ctl"),
        "control_socket_mode": 0o600,
    }


def start(
    home: Path, workers: int, threads: int, graceful_timeout: float
) -> subprocess.Popen[bytes]:
    """Start the pool in a process group of its own: a terminal's Ctrl-C reaches serve alone,
    which stops the pool only once the front has finished the requests in progress."""
    return subprocess.Popen(  # noqa: S603  (our own module, fixed arguments)
        [
            sys.executable,
            "-m",
            "secretum.lib.workers",
            "--home",
            str(home),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--graceful-timeout",
            str(graceful_timeout),
        ],
        env=supervise.child_env(),
        process_group=0,
    )


def stop(pool: subprocess.Popen[bytes], timeout: float) -> None:
    """gunicorn's graceful stop (SIGTERM), then SIGKILL after ``timeout``."""
    if pool.poll() is None:
        pool.send_signal(signal.SIGTERM)
        try:
            pool.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pool.kill()
            pool.wait()


def main(argv: list[str] | None = None) -> int:
    from gunicorn.app.base import BaseApplication

    supervise.end_with_parent()  # started by serve's front: ends with it (a graceful stop)
    parser = argparse.ArgumentParser(description="the worker pool behind secretum's front")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--graceful-timeout", type=float, default=20.0)
    args = parser.parse_args(argv)
    # gunicorn's master logs before any worker reads Django's settings: the same logs.
    logging.config.dictConfig(logs.dict_config(logs.LogSettings.from_env(os.environ, args.home)))
    settings = config(args.home, args.workers, args.threads, args.graceful_timeout)

    class Pool(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> WSGIApp:
            from secretum.wsgi import application

            return behind_front(application)

    Pool().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
