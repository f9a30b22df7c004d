"""Evidence of encryption at rest and key custody (E10, G3, O1, O2), for the register.

E10, G3 and O2 are live (the key file, the stored rows, the files' modes); O1, recognised
libraries only, is a property of the code (by construction), proven by the tests it names; the
check still lists the versions installed."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met
from secretum.instance import InstanceError

SAMPLE = 50  # most recent patient records whose stored bytes are looked at
SEALED_VERSION = b"\x01"  # keyring's sealed-value format (AES-256-GCM)

# O1: the recognised libraries every cryptographic operation of Secretum goes through.
LIBRARIES = (
    ("cryptography", "AES-256-GCM, HMAC-SHA256, Ed25519, X.509"),
    ("argon2-cffi", "Argon2id"),
    ("pyotp", "TOTP, RFC 6238"),
    ("webauthn", "WebAuthn"),
    ("PyJWT", "OpenID Connect ID tokens, over cryptography"),
    ("pycryptodome", "Shamir secret sharing of the key file's recovery key"),
)


@evidence("E10", "G3", proof=Proof.LIVE)
def encryption_at_rest() -> Evidence:
    from secretum.patients.models import Patient

    if settings.SECRETUM_BENCHMARK_BASELINE:
        return not_met(
            _("Encryption is OFF (benchmark baseline)."),
            _("Unset SECRETUM_BENCHMARK_BASELINE: it exists for benchmarks only."),
        )
    try:
        settings.INSTANCE.read_keys()
    except InstanceError as exc:
        return not_met(str(exc), _("Restore the instance's key file (mode 600)."))
    rows = list(
        Patient.objects.order_by("-id").values_list("wrapped_key", "family_name", "niss")[:SAMPLE]
    )
    plain = sum(
        1
        for row in rows
        if any(value is not None and bytes(value)[:1] != SEALED_VERSION for value in row)
    )
    if plain:
        return not_met(
            _("%(n)d of %(total)d sampled patient records hold values that are not sealed.")
            % {"n": plain, "total": len(rows)},
            _(
                "Stop the server and contact Secretum's maintainers: data were written without "
                "encryption."
            ),
        )
    return met(
        _(
            "AES-256-GCM: every identity and medical value sealed under its patient's key, itself "
            "wrapped by the key file outside the database; %(n)d of %(n)d sampled records are "
            "ciphertext."
        )
        % {"n": len(rows)}
    )


def secret_files() -> list[Path]:
    """Every file of the instance that holds a key or a secret."""
    home = Path(settings.INSTANCE.home)
    found = [
        settings.INSTANCE.key_file,
        settings.INSTANCE.tls_key,
        home / "audit" / "checkpoint-signing.key",
        home / "audit" / "event-mac.key",
        home / "compliance" / "report-signing.key",
    ]
    if settings.SECRETUM_OIDC_CLIENT_SECRET_FILE:
        found.append(Path(settings.SECRETUM_OIDC_CLIENT_SECRET_FILE))
    return [Path(p) for p in found]


@evidence("O2", proof=Proof.LIVE)
def key_custody() -> Evidence:
    files = [p for p in secret_files() if p.exists()]
    exposed = [str(p) for p in files if p.stat().st_mode & 0o077]
    if not settings.INSTANCE.key_file.exists():
        return not_met(_("The instance's key file is missing."), _("Restore it from its copy."))
    if exposed:
        return not_met(
            _("Key files readable by others than their owner."),
            _("Run 'chmod 600' on each of them."),
            *exposed,
        )
    return met(
        _(
            "%(n)d key files, each readable by its owner only, generated on the server and never "
            "in the database or its backups."
        )
        % {"n": len(files)}
    )


@evidence(
    "O1",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/crypto/test_libraries.py::test_cryptography_comes_from_recognised_libraries_only",
        "tests/crypto/test_libraries.py::test_no_module_draws_secrets_from_a_predictable_source",
    ),
)
def recognised_libraries() -> Evidence:
    """O1: every cryptographic operation goes through a recognised library; no home-made
    primitive (which modules import what: the tests above read every module)."""
    found, missing = [], []
    for name, use in LIBRARIES:
        try:
            found.append(f"{name} {metadata.version(name)} ({use})")
        except metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return not_met(
            _("Libraries missing: %(names)s.") % {"names": ", ".join(missing)},
            _("Reinstall Secretum with its pinned requirements."),
        )
    return met(_("Only recognised libraries; no home-made cryptography."), *found)
