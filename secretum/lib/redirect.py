"""A minimal HTTP listener whose only answer is a permanent redirect to HTTPS (H1).

Runs as its own process beside the HTTPS server. It never reads a request body and never logs
the path (which could hold a token typed by mistake, H2).
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(https_port: int) -> type[BaseHTTPRequestHandler]:
    class Redirect(BaseHTTPRequestHandler):
        server_version = "Secretum"
        sys_version = ""

        def _redirect(self) -> None:
            host = (self.headers.get("Host") or "127.0.0.1").split(":")[0]
            if not host.replace(".", "").replace("-", "").isalnum():
                host = "127.0.0.1"
            suffix = "" if https_port == 443 else f":{https_port}"
            self.send_response(301)
            self.send_header("Location", f"https://{host}{suffix}{self.path}")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _redirect

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Redirect


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--https-port", type=int, required=True)
    args = parser.parse_args()
    ThreadingHTTPServer((args.host, args.port), make_handler(args.https_port)).serve_forever()


if __name__ == "__main__":
    main()
