"""H1 through the real serving path: `secretum serve` presents the practice's certificate named
by SECRETUM_TLS_CERT_FILE and SECRETUM_TLS_KEY_FILE, and a renewed one to the next connection,
without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.certificates import authority, install, server
from tests.serving import Served, serving


def _presented(served: Served) -> bytes:
    """The certificate a new, verifying client is shown (the test CA trusted, the name
    checked), after one request answered."""
    conn = served.connect(timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert json.loads(conn.getresponse().read())["status"] == "ok"
        der = conn.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
        assert der is not None
        return der
    finally:
        conn.close()


def test_serve_presents_a_renewed_certificate_without_a_restart(tmp_path: Path) -> None:
    ca = authority()
    first, renewed = server(ca, days=20), server(ca, days=90)
    cert, key = install(tmp_path / "acme" / "live", first, chain=ca)
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem())
    with serving(
        tmp_path,
        settings={"SECRETUM_TLS_CERT_FILE": str(cert), "SECRETUM_TLS_KEY_FILE": str(key)},
        trust=tmp_path / "ca.pem",
    ) as served:
        assert _presented(served) == first.der
        kept = served.connect(timeout=10)  # a connection open before the renewal
        kept.request("GET", "/healthz")
        assert json.loads(kept.getresponse().read())["status"] == "ok"
        install(tmp_path / "acme" / "live", renewed, chain=ca)
        deadline = time.monotonic() + 15
        while (seen := _presented(served)) != renewed.der and time.monotonic() < deadline:
            time.sleep(0.3)
        assert seen == renewed.der
        # The connection opened before goes on with the certificate it was shown.
        kept.request("GET", "/healthz")
        assert json.loads(kept.getresponse().read())["status"] == "ok"
        assert kept.sock.getpeercert(binary_form=True) == first.der  # type: ignore[union-attr]
        kept.close()
        assert served.process.poll() is None
    assert f"TLS certificate {cert} reloaded" in served.log.read_text()
