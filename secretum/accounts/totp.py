"""TOTP second factor (RFC 6238) with pyotp: 30-second steps, 6 digits, SHA-1 as every
authenticator app expects. A code is accepted once: the accepted step is remembered (§5.2)."""

from __future__ import annotations

import hmac
import io
import time

import pyotp
import segno

STEP_SECONDS = 30
# One step either side: a phone clock a little off still works (RFC 6238 §5.2 recommends ≤ 1).
WINDOW = 1
ISSUER = "Secretum"


def new_secret() -> str:
    return pyotp.random_base32(32)  # 160 bits, RFC 4226 §4 recommends ≥ 128


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The otpauth URI as an inline SVG QR code (no script, no remote image: CSP holds)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=2, xmldecl=False, svgns=True, title="QR"
    )
    return out.getvalue().decode()


def matching_step(secret: str, code: str, last_step: int, now: float | None = None) -> int | None:
    """The time step this code belongs to, if valid and later than the last one accepted."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if step > last_step and hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def current_code(secret: str) -> str:
    return pyotp.TOTP(secret).now()
