"""A serving node's key material: made on one node, taken by another (E10, O2, D2; issue 17).

Every node of an installation serves the same PostgreSQL with the same keys: the key file (its
KEKs, search index keys and Django's secret key: a session or CSRF token made on one node holds
on the other) and the audit log's keys (the MAC key every worker uses, the signing key of
whichever node is elected signer). Each node keeps its own TLS pair.

``secretum node export --out FILE`` (``bundle`` here, the command records the audit event)
writes them in one age file (``secretum.crypto.age``), under a new passphrase shown once or for
an age recipient. ``secretum node join FILE [--home DIR]`` (``join``) opens it on the new node
and writes the home: the key file and the audit keys, owner-only, and a TLS pair of the node's
own. It first checks that the database (``SECRETUM_DATABASE_URL``) holds the installation the
material belongs to, by the key file's fingerprint (``secretum.crypto.binding``). On a home that
holds this installation's key file already, join replaces its key material with the newer copy
(after a rotation elsewhere: ``secretum.crypto.nodes``), never with an older one.

Like ``secretum keys recover``, join runs before Django: the node has no instance yet. This module
stands with ``secretum.init`` (above the audit log, whose keys it carries, and above crypto).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from secretum.audit import keys as audit_keys
from secretum.crypto import age, keyring, recovery_io
from secretum.instance import (
    KEY_FILE_VARIABLE,
    KEY_VARIABLE,
    Instance,
    InstanceError,
    KeyVersions,
    home_from_env,
    replace_private,
    write_private,
)

FORMAT = "secretum-node-material-1"
KEY_FILE = "secretum.key"


class NodeMaterialError(InstanceError):
    """Key material that cannot be made or taken, told in one sentence."""


def _audit_files(home: Path) -> dict[str, Path]:
    paths = audit_keys.AuditKeyPaths(home)
    return {
        str(p.relative_to(home)): p for p in (paths.signing_key, paths.public_key, paths.mac_key)
    }


def bundle(inst: Instance, made_on: str, now: dt.datetime) -> bytes:
    """The installation's key material as JSON (before encryption): the key file's content and
    the audit keys of ``inst``'s home."""
    files = {KEY_FILE: inst.key_content().encode()}
    for name, path in _audit_files(inst.home).items():
        try:
            files[name] = path.read_bytes()
        except OSError:
            raise NodeMaterialError(f"the audit key {path} cannot be read.") from None
    return json.dumps(
        {
            "format": FORMAT,
            "fingerprint": keyring.fingerprint_for(inst.read_key_versions()),
            "made_on": made_on,
            "made_at": now.isoformat(timespec="seconds"),
            "files": {name: base64.b64encode(data).decode() for name, data in files.items()},
        }
    ).encode()


def seal(data: bytes, recipient: age.ScryptRecipient | age.X25519Recipient) -> bytes:
    out = io.BytesIO()
    age.encrypt([data], out, recipient)
    return out.getvalue()


@dataclass(frozen=True)
class Material:
    fingerprint: str
    made_on: str
    made_at: str
    files: dict[str, bytes]
    versions: KeyVersions


def opened(data: bytes, identity: age.ScryptIdentity | age.X25519Identity) -> Material:
    """The material of an age file made by ``bundle`` and ``seal``; refused, in one sentence,
    when it does not open or is not node material."""
    try:
        plain = b"".join(age.decrypt(io.BytesIO(data), identity))
    except age.AgeError as exc:
        raise NodeMaterialError(f"the node material does not open ({exc}).") from None
    try:
        raw = json.loads(plain)
        if raw["format"] != FORMAT:
            raise ValueError(raw["format"])
        files = {name: base64.b64decode(text, validate=True) for name, text in raw["files"].items()}
        fields = (str(raw["fingerprint"]), str(raw["made_on"]), str(raw["made_at"]))
    except (ValueError, KeyError, TypeError):
        raise NodeMaterialError("this file is not a Secretum node's key material.") from None
    missing = sorted({KEY_FILE, *_audit_files(Path())} - set(files))
    if missing:
        raise NodeMaterialError(f"the node material lacks {', '.join(missing)}.")
    # The key file's content checked as any key file is (256-bit keys, every field present).
    versions = Instance(Path(), key_text=files[KEY_FILE].decode()).read_key_versions()
    if keyring.fingerprint_for(versions) != fields[0]:
        raise NodeMaterialError("the node material's key file is not the one it names.")
    return Material(*fields, files=files, versions=versions)


def _newer_or_same(material: Material, present: KeyVersions) -> bool:
    return (
        material.versions.current >= present.current
        and material.versions.index[0].number >= present.index[0].number
    )


def check_home(material: Material, inst: Instance) -> bool:
    """True when ``inst`` holds a key file already (this installation's, which the material
    may replace); refuses another installation's, and a copy older than the one there."""
    if not inst.key_file.exists():
        return False
    present = inst.read_key_versions()
    if keyring.fingerprint_for(present) != material.fingerprint:
        raise NodeMaterialError(
            f"{inst.key_file} is the key file of another installation: a node's home holds "
            "only its own installation's keys (choose a new folder with --home)."
        )
    if not _newer_or_same(material, present):
        raise NodeMaterialError(
            f"this node material is older than {inst.key_file} (KEK version "
            f"{material.versions.current} against {present.current}, index generation "
            f"{material.versions.index[0].number} against {present.index[0].number}): make it "
            "again on a node whose key file is current ('secretum node export')."
        )
    return True


def check_database(material: Material) -> str:
    """The database, as a person names it, once it is found to hold the material's
    installation (``binding``'s fingerprint); refused otherwise."""
    import django
    from django.apps import apps

    if not apps.ready:  # the command line; a test's process has it set up already
        django.setup()
    from secretum.crypto import binding

    where = binding.database_name()
    row = binding.recorded_fingerprint()
    if row is None:
        raise NodeMaterialError(
            f"the database at {where} holds no Secretum installation: the nodes of an "
            "installation share its PostgreSQL database (set SECRETUM_DATABASE_URL to it)."
        )
    if not binding.same_fingerprint(row, material.fingerprint):
        raise NodeMaterialError(
            f"the database at {where} holds another installation than this node material's."
        )
    return where


def write_home(material: Material, inst: Instance) -> None:
    """The key file and the audit keys, owner-only (a file there already replaced atomically:
    a refresh), and a TLS pair of the node's own where there is none."""
    from secretum import init

    inst.home.mkdir(mode=0o700, parents=True, exist_ok=True)
    targets = {KEY_FILE: inst.key_file} | {n: inst.home / n for n in _audit_files(Path())}
    for name, target in targets.items():
        target.parent.mkdir(mode=0o700, exist_ok=True)
        (replace_private if target.exists() else write_private)(target, material.files[name])
    if not inst.tls_cert.exists():
        init.create_tls(inst)


def _identity(args: argparse.Namespace) -> age.ScryptIdentity | age.X25519Identity:
    if args.identity:
        try:
            return age.X25519Identity.parse(Path(args.identity).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, age.AgeError) as exc:
            raise NodeMaterialError(f"--identity {args.identity}: {exc}") from None
    return age.ScryptIdentity(recovery_io.read_passphrase(args.passphrase_file))


def join(argv: list[str], environ: dict[str, str] | None = None) -> int:
    """``secretum node join FILE [--home DIR] [--identity FILE | --passphrase-file FILE]``."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="secretum node join",
        description="Make this node's home from the key material of a node of the installation.",
    )
    parser.add_argument("file", help="the file 'secretum node export' wrote")
    parser.add_argument("--home", help="the node's instance folder (default: $SECRETUM_HOME)")
    parser.add_argument("--identity", help="an age identity file (material for a recipient)")
    parser.add_argument("--passphrase-file", help="file holding the passphrase")
    args = parser.parse_args(argv)
    if KEY_VARIABLE in env:
        raise NodeMaterialError(
            f"{KEY_VARIABLE} is set: a node joins with a key file; write it with "
            f"{KEY_FILE_VARIABLE} (or the home's own) and unset {KEY_VARIABLE}."
        )
    home = Path(args.home).resolve() if args.home else home_from_env(env)
    created = not home.exists()
    env["SECRETUM_HOME"] = str(home)  # this node's instance, for from_env and for Django next
    inst = Instance.from_env(env)  # its key file: the home's own, or SECRETUM_KEY_FILE's
    try:
        data = Path(args.file).read_bytes()
    except OSError:
        raise NodeMaterialError(f"the node material {args.file} cannot be read.") from None
    material = opened(data, _identity(args))
    refresh = check_home(material, inst)
    where = check_database(material)
    try:
        write_home(material, inst)
    except BaseException:
        if created:
            shutil.rmtree(home, ignore_errors=True)
        raise
    what = "key material renewed" if refresh else "made"
    print(f"Node home {home}: {what} from the material made on {material.made_on}")
    print(f"  ({material.made_at}), for the installation in the database at {where}:")
    print(f"  key file     {inst.key_file} (KEK versions {material.versions.versions})")
    print(f"  audit keys   {audit_keys.AuditKeyPaths(home).folder}")
    print(f"  certificate  {inst.tls_cert} (this node's own)")
    print("Next: 'secretum serve' on this node; delete the material file once every node has it.")
    return 0
