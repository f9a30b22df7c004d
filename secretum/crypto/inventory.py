"""The cryptographic inventory (O1, O2): every algorithm, key and key version of the instance,
where each is used, and when the KEK was last rotated. ``secretum check`` prints it; the docs
(docs/keys.md) hold the same table. Read from the key file and the registered uses of the KEK
(``rotation.uses``): never a key, never a fingerprint."""

from __future__ import annotations

from django.conf import settings

from secretum.crypto import providers, rotation
from secretum.instance import InstanceError


def lines() -> list[str]:
    try:
        versions = settings.INSTANCE.read_key_versions()
    except InstanceError:
        return []  # the key file's own check names what is wrong with it
    older = ", ".join(map(str, versions.older)) or "none"
    retired = ", ".join(map(str, sorted(versions.retired))) or "none"
    when = versions.rotated_at
    rotated = when.isoformat() if when else "never (version 1 since 'secretum init')"
    uses = ", ".join(use.name for use in rotation.uses())
    index = versions.index
    bits = ", ".join(f"{k} {n}" for k, n in sorted(index[0].bits.items())) or "128"
    where = "PKCS#11 token" if versions.current in versions.in_token else "key file's content"
    return [
        *providers.describe(settings.INSTANCE, versions),
        "Cryptographic inventory (O1, O2; docs/keys.md):",
        f"  KEK version {versions.current} (AES-256-GCM, NIST SP 800-38D; in the {where}), "
        f"older versions still held: {older}; retired, kept until the next rotation: "
        f"{retired}; last rotation: {rotated} ('secretum keys rotate'). It wraps or seals: "
        f"{uses}.",
        "  Data keys: one 256-bit key per patient, AES-256-GCM over each identity and medical "
        "value and document, wrapped by the KEK.",
        f"  Search index: HMAC-SHA256 (RFC 2104) tokens, generation {index[0].number} "
        f"(bits per token: {bits}), {len(index) - 1} older generation(s) still held "
        "('secretum keys rotate --index-key'). Seal and digest key: HMAC-SHA256 record and row "
        "seals, token digests (fixed).",
        "  Backup key: HKDF-SHA256 (RFC 5869) of the key file, AES-256-GCM backups; the key file "
        "fingerprint (HKDF-SHA256 + HMAC-SHA256) binds it to its database; both fixed for the "
        "instance's life.",
        "  Audit log: Ed25519 signed checkpoints, HMAC-SHA256 event codes (audit/). Passwords: "
        "Argon2id (RFC 9106). Recovery material: Argon2id or Shamir 2-of-3 over AES-256-GCM.",
    ]
