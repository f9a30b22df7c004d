"""System checks that refuse an unsafe configuration (run by `secretum check` and `serve`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from secretum.instance import InstanceError


@register("secretum", deploy=True)
def instance_checks(app_configs: Any = None, **kwargs: Any) -> list[Any]:
    errors: list[Any] = []
    inst = settings.INSTANCE
    if settings.SECRETUM_BENCHMARK_BASELINE:
        errors.append(
            Error(
                "SECRETUM_BENCHMARK_BASELINE is set: encryption and audit are OFF.",
                hint="This setting exists for bench/ only; unset it.",
                id="secretum.E001",
            )
        )
    if settings.DEBUG:
        errors.append(
            Error("SECRETUM_DEBUG is on.", hint="Unset it in production.", id="secretum.E002")
        )
    try:
        inst.read_keys()
    except InstanceError as exc:
        errors.append(Error(str(exc), id="secretum.E003"))
    if not 1 <= settings.SECRETUM_IDLE_TIMEOUT <= 20 * 60:
        errors.append(
            Error(
                f"SECRETUM_IDLE_TIMEOUT is {settings.SECRETUM_IDLE_TIMEOUT} s; E1 requires a lock "
                "after at most 20 minutes (1200 s).",
                id="secretum.E004",
            )
        )
    errors.extend(_tls_checks(inst))
    if len(settings.SECRET_KEY) < 50:
        errors.append(Error("The Django secret key is missing or short.", id="secretum.E005"))
    return errors


def _tls_checks(inst: Any) -> list[Any]:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(inst.tls_cert.read_bytes())
    except FileNotFoundError:
        return [Error(f"No TLS certificate at {inst.tls_cert}.", id="secretum.E006")]
    except ValueError:
        return [Error(f"The TLS certificate {inst.tls_cert} cannot be read.", id="secretum.E006")]
    left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
    if left.total_seconds() <= 0:
        return [Error("The TLS certificate has expired.", id="secretum.E007")]
    if left.days < 30:
        return [Warning(f"The TLS certificate expires in {left.days} days.", id="secretum.W001")]
    if inst.tls_key.stat().st_mode & 0o077:
        return [
            Error(f"The TLS private key {inst.tls_key} is readable by others.", id="secretum.E008")
        ]
    return []
