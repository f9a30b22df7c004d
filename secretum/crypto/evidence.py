"""Evidence of encryption at rest and key custody (E10, G3, O1, O2, I2), for the register.

E10, G3 and O2 are live (the key file, the stored rows, the files' modes, the key file's
recovery material: made, and tested within the year); I2 is live too (the recovery material,
kept apart from the server: the practice declares where); O1, recognised
libraries only, is a property of the code (by construction), proven by the tests it names; the
check still lists the versions installed."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met
from secretum.instance import InstanceError

SAMPLE = 50  # most recent patient records whose stored bytes are looked at
# keyring's sealed formats (AES-256-GCM): 0x01, and 0x02 for a key wrapped under KEK version 2+.
SEALED_FORMATS = (b"\x01", b"\x02")

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
        if any(value is not None and bytes(value)[:1] not in SEALED_FORMATS for value in row)
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
    key = [settings.INSTANCE.key_file] if settings.INSTANCE.provider == "file" else []
    found = [
        *key,
        settings.INSTANCE.tls_key,
        home / "audit" / "checkpoint-signing.key",
        home / "audit" / "event-mac.key",
        home / "compliance" / "report-signing.key",
    ]
    if settings.SECRETUM_OIDC_CLIENT_SECRET_FILE:
        found.append(Path(settings.SECRETUM_OIDC_CLIENT_SECRET_FILE))
    return [Path(p) for p in found]


def recovery_material() -> Evidence:
    """Whether the key file's recovery material exists and was proven within the limit."""
    from secretum.crypto import custody_records

    try:
        # The key file itself first: missing, exposed, damaged.
        rotated = settings.INSTANCE.read_key_versions().rotated_at
        found = custody_records.status()
    except InstanceError as exc:
        return not_met(str(exc), _("Restore the instance's key file (mode 600)."))
    again = _(
        "Run 'secretum keys test-recovery' with the recovery file or the shares (nothing is "
        "written)."
    )
    make = _(
        "Run 'secretum keys backup --passphrase' (or --shares 2-of-3), keep the sheets "
        "away from the server, then 'secretum keys test-recovery'."
    )
    if found.made_at is None:
        return not_met(
            _("No recovery material of the key file: losing it would lose every record."), make
        )
    made = timezone.localtime(found.made_at).date().isoformat()
    # Material names the second it was made: one of the rotation's second counts as older.
    since = rotated.replace(microsecond=0) if rotated else None
    if since is not None and found.made_at <= since:
        # O2: material made before a KEK rotation rebuilds the key file as it was, without the
        # new version: every data key re-wrapped since would be lost with the key file.
        return not_met(
            _(
                "The key file's recovery material (made on %(made)s) is older than its last key "
                "rotation (%(rotated)s): it rebuilds an earlier key file."
            )
            % {"made": made, "rotated": since.date().isoformat()},
            make
            + " "
            + _("Keep the previous material until the backups made before the rotation expire."),
        )
    if found.tested_at is None or (rotated is not None and found.tested_at < rotated):
        return not_met(
            _("Recovery material of the key file made on %(made)s, never tested.") % {"made": made},
            again,
        )
    tested = timezone.localtime(found.tested_at).date().isoformat()
    if found.overdue:
        return not_met(
            _(
                "The key file's recovery material was last tested on %(tested)s, more than "
                "%(days)d days ago."
            )
            % {"tested": tested, "days": found.limit_days},
            again,
        )
    return met(
        _(
            "Recovery material of the key file last made on %(made)s, last proven to rebuild it "
            "on %(tested)s."
        )
        % {"made": made, "tested": tested}
    )


@evidence("I2", proof=Proof.LIVE)
def key_recovery_material() -> Evidence:
    """I2: the key file's recovery material is kept apart from the server (the practice
    declares where), made and tested (``secretum keys test-recovery``)."""
    return recovery_material()


@evidence("O2", proof=Proof.LIVE)
def key_custody() -> Evidence:
    """O2: every key file owner-only, and the key file recoverable (``recovery_material``)."""
    files = [p for p in secret_files() if p.exists()]
    exposed = [str(p) for p in files if p.stat().st_mode & 0o077]
    if not settings.INSTANCE.exists():
        return not_met(_("The instance's key file is missing."), _("Restore it from its copy."))
    if exposed:
        return not_met(
            _("Key files readable by others than their owner."),
            _("Run 'chmod 600' on each of them."),
            *exposed,
        )
    recovery = recovery_material()
    if not recovery.met:
        return recovery
    return met(
        _(
            "%(n)d key files, each readable by its owner only, generated on the server and never "
            "in the database or its backups."
        )
        % {"n": len(files)},
        recovery.summary,
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
