"""Key providers: where the key-encryption key is, behind one small interface (E10, G3, O1, O2).

The keyring seals and opens under a KEK version through a ``KekCipher``: ``encrypt`` and
``decrypt`` of AES-256-GCM with the keyring's nonce and associated data. Three providers hand
them out (docs/keys.md, "Key providers"):

- the key file (``secretum.key`` in the instance folder, or the one ``SECRETUM_KEY_FILE`` names):
  refused at start when anyone but its owner may read it, when it sits in the database's folder
  (whoever copies that folder takes the key with the data) or under a folder the web server
  serves;
- the environment (``SECRETUM_KEY``: the key file's content, for containers): read like a key
  file, one sentence per fault; ``secretum check`` says that other processes of the same user
  (and root) can read it in /proc;
- a PKCS#11 token for the KEK versions the key file lists in ``token_keks``
  (``secretum.crypto.token``): the KEK never leaves the token.

The blind-index key, the Django secret and the pinned fingerprint and backup key stay in the key
file (or ``SECRETUM_KEY``) with every provider: they are HMAC keys used on every search and every
row read, where a token's round trip per row would cost more than the search; the KEK is what
unlocks the data keys, and it is what the token keeps.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.conf import settings

from secretum.instance import KEY_VARIABLE, LEGACY_DATABASE, Instance, KeyVersions

# What mends an instance made before (its database beside the key file): the upgrade that follows
# a new release moves the database into data/ once it went through (``layout``).
SEPARATE_COMMAND = "secretum upgrade"


class KekCipher(Protocol):
    """A KEK version, able to seal and open (AES-256-GCM, NIST SP 800-38D)."""

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes: ...


def ciphers(versions: KeyVersions, instance: str) -> dict[int, KekCipher]:
    """Every KEK version of the key file, by number: in the process's memory (key file or
    environment), or in the token."""
    found: dict[int, KekCipher] = {n: AESGCM(kek) for n, kek in versions.keks.items()}
    if versions.in_token:
        from secretum.crypto import token

        found.update(token.keks(versions.in_token, instance))
    return found


def database_folder() -> Path | None:
    """The SQLite database's folder (None: PostgreSQL, whose files are the server's, or a
    database in memory)."""
    conf = settings.DATABASES["default"]
    name = str(conf.get("NAME") or "")
    if "sqlite" not in str(conf.get("ENGINE")) or name.startswith(("file:", ":memory:")):
        return None
    return Path(name).absolute().parent


def web_roots() -> list[Path]:
    """The folders whose files the web server hands out: the static folders (WhiteNoise serves
    every app's ``static/`` and ``STATICFILES_DIRS``), ``STATIC_ROOT`` and ``MEDIA_ROOT``."""
    roots = [Path(str(p)) for p in settings.STATICFILES_DIRS]
    roots += [Path(a.path) / "static" for a in apps.get_app_configs()]
    for name in ("STATIC_ROOT", "MEDIA_ROOT"):
        value = getattr(settings, name, None)
        if value:
            roots.append(Path(str(value)))
    return [r.resolve() for r in roots]


def location_faults(inst: Instance) -> list[tuple[str, str]]:
    """(fact, hint) for each place the key file must not be: the database's folder, a web root.
    Refused at start (the CLI, ``serve``'s checks); nothing for a key given in the environment."""
    if inst.provider != "file":
        return []
    key = inst.key_file.resolve()  # a link is judged by where it leads
    faults = []
    folder = database_folder()
    if folder is not None and key.is_relative_to(folder.resolve()):
        legacy = inst.database == inst.home / LEGACY_DATABASE and key == inst.key_file.absolute()
        hint = (
            f"Stop the server and run '{SEPARATE_COMMAND}': it moves the database into "
            f"{inst.home / 'data'} (one rename; 'secretum keys separate' does only that)."
            if legacy and inst.key_path is None
            else "Keep the key file in another folder than the database (SECRETUM_KEY_FILE)."
        )
        faults.append(
            (
                f"The key file {inst.key_file} sits in the database's folder {folder}: whoever "
                "copies that folder takes the key with the data",
                hint,
            )
        )
    for root in web_roots():
        if key.is_relative_to(root):
            faults.append(
                (
                    f"The key file {inst.key_file} sits under {root}, a folder the web server "
                    "serves",
                    "Move it out of the web root and name it with SECRETUM_KEY_FILE.",
                )
            )
    return faults


def refuse_at_start(inst: Instance) -> None:
    """The first location fault, as a refusal (commands other than ``check`` and the one that
    mends it)."""
    from secretum.instance import InstanceError

    faults = location_faults(inst)
    if faults:
        fact, hint = faults[0]
        raise InstanceError(f"{fact}. {hint}")


def _versions(numbers: Iterable[int]) -> str:
    found = sorted(numbers)
    return f"KEK version{'s' if len(found) > 1 else ''} {', '.join(map(str, found))}"


def describe(inst: Instance, versions: KeyVersions) -> list[str]:
    """What ``secretum check`` says of the key provider (O2), weaknesses included."""
    if inst.provider == "environment":
        lines = [
            f"Key provider: the environment ({KEY_VARIABLE}). Weakness: other processes of the "
            "same user, and root, read it in /proc/PID/environ, and every child process inherits "
            "it; a key file (mode 600) named by SECRETUM_KEY_FILE is safer."
        ]
    else:
        lines = [
            f"Key provider: the key file {inst.key_file} (owner-only, apart from the database "
            "and the web root)."
        ]
    if versions.in_token:
        from secretum.crypto import token

        config = token.TokenConfig.from_env()
        where = f"{config.label!r} ({config.module})" if config else "not named"
        lines.append(
            f"  PKCS#11 token {where} holds {_versions(versions.in_token)}: the KEK never "
            "leaves it (AES-256-GCM inside the token)."
        )
    if versions.keks:
        lines.append(
            f"  {_versions(versions.keks)} in the key file's content, in this process's memory"
            + (" (a rotation to the token retires them)." if versions.in_token else ".")
        )
    return lines
