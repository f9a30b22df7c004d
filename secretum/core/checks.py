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
    errors.extend(_oidc_checks())
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


def _oidc_checks() -> list[Any]:
    """The external identity provider (B3): off without an issuer; complete and safe with one."""
    import os
    from pathlib import Path
    from urllib.parse import urlsplit

    problems: list[Any] = []
    if os.environ.get("SECRETUM_OIDC_CLIENT_SECRET"):
        problems.append(
            Error(
                "SECRETUM_OIDC_CLIENT_SECRET is set: a secret never comes from the environment.",
                hint="Put it in a file (mode 600) named by SECRETUM_OIDC_CLIENT_SECRET_FILE.",
                id="secretum.E201",
            )
        )
    issuer = settings.SECRETUM_OIDC_ISSUER
    if not issuer:
        return problems
    if urlsplit(issuer).scheme != "https" or not urlsplit(issuer).hostname:
        problems.append(Error("SECRETUM_OIDC_ISSUER must be an https URL.", id="secretum.E202"))
    if not settings.SECRETUM_OIDC_CLIENT_ID:
        problems.append(
            Error(
                "SECRETUM_OIDC_ISSUER is set without SECRETUM_OIDC_CLIENT_ID.", id="secretum.E203"
            )
        )
    secret_file = settings.SECRETUM_OIDC_CLIENT_SECRET_FILE
    if not secret_file:
        problems.append(
            Error(
                "SECRETUM_OIDC_ISSUER is set without SECRETUM_OIDC_CLIENT_SECRET_FILE.",
                id="secretum.E204",
            )
        )
    else:
        path = Path(secret_file)
        try:
            empty = not path.read_text().strip()
        except OSError:
            empty = True
        if empty:
            problems.append(
                Error(
                    f"The OIDC client secret file {path} is missing or empty.", id="secretum.E204"
                )
            )
        elif path.stat().st_mode & 0o077:
            problems.append(
                Error(
                    f"The OIDC client secret file {path} is readable by others.", id="secretum.E205"
                )
            )
    ca_file = settings.SECRETUM_OIDC_CA_FILE
    if ca_file and not Path(ca_file).is_file():
        problems.append(
            Error(f"SECRETUM_OIDC_CA_FILE {ca_file} does not exist.", id="secretum.E206")
        )
    if not settings.SECRETUM_OIDC_STRONG_ACR and not settings.SECRETUM_OIDC_STRONG_AMR:
        problems.append(
            Warning(
                "Neither SECRETUM_OIDC_STRONG_ACR nor SECRETUM_OIDC_STRONG_AMR is set: every "
                "login through the identity provider will also ask for Secretum's second factor.",
                id="secretum.W201",
            )
        )
    return problems
