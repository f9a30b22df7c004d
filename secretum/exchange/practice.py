"""Secretum's own export: the whole practice, to move it to another installation (L1, L2; E7,
M3). ``secretum export --format secretum --out NEW_FOLDER`` writes it; ``secretum import FOLDER
--home NEW_HOME`` makes a new instance of it (``practice_import.py``). docs/exchange.md
"Moving a practice".

FHIR and KMEHR carry a record's content to another package. A practice moving to another server
or hosting provider (SQLite to PostgreSQL, one machine to another) needs more: every row as it
stands, with its history (earlier versions, retracted entries), appointments, documents,
letters, accounts and their factors, the practice's settings and register, and the audit log,
so that the new instance is the same practice and its log goes on where the old one stopped.
A backup (I1) is a copy of one database engine's files, to restore on the same kind; this
export is engine-neutral rows, checked and loaded by Django's own field types.

The folder::

    manifest.json   in clear: format, version, instance id, the schema (every migration
                    applied), row counts per table, each file's SHA-256 and size, the
                    signing key's fingerprint and public key
    manifest.sig    Ed25519 (RFC 8032) signature of manifest.json by the instance's audit
                    checkpoint key: the new instance's owner compares its fingerprint with
                    the old instance's (``secretum init`` and the export print it)
    records.age     every table but the audit log's, one JSON line per row (age-encrypted)
    audit.age       the audit log (events, checkpoints, heads...): its own file, signed apart
    audit.sig       Ed25519 signature of the audit file's content (SHA-256, counts, last event)
    instance.age    the key file and the instance's configuration (audit keys, witness, TLS,
                    the SECRETUM_* settings that are not secrets)

The rows keep their ciphertext: sealed fields stay sealed under the instance's keys, which
travel in ``instance.age`` beside them, so the new instance opens what the old one did and
every seal and hash still holds (a row altered before the export stays altered after it). For
that reason the format is never written in clear (``--plain`` is refused): every file is age,
under a passphrase shown once or for an age recipient's key (crypto/sealing.py). A KEK held by a
PKCS#11 token never leaves it: such an instance is moved by its token, not by this export.

One gate and one audit event (PRACTICE_MOVE, "export", ``clinical.Practice``), held by no role:
the instance's owner at the console. What is read is one instant of the database: the whole
export is one transaction (SQLite: the write lock, so writes wait until it ends; PostgreSQL:
REPEATABLE READ), and the audit file holds every event before the export's own.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit import checkpoints, keys
from secretum.audit.models import Action
from secretum.backup import snapshot
from secretum.crypto import age, keyring
from secretum.crypto.sealing import Delivery, Kind
from secretum.exchange.bulk import _Hashing, _new_file
from secretum.exchange.practice_format import (
    AUDIT,
    AUDIT_APP,
    AUDIT_DOMAIN,
    AUDIT_SIGNATURE,
    BATCH,
    FILES,
    FORMAT,
    INSTANCE,
    MANIFEST,
    MANIFEST_DOMAIN,
    RECORDS,
    SIGNATURE,
    VERSION,
    audit_statement,
    line,
)  # fmt: skip


def exported_models() -> list[type[models.Model]]:
    """Every table of Secretum's apps, in a fixed order (Django's contrib tables are not the
    practice's: sessions end with the move, permissions and content types are the schema's)."""
    found = [
        model
        for config in apps.get_app_configs()
        if config.name.startswith("secretum.")
        for model in config.get_models()
    ]
    return sorted(found, key=lambda m: m._meta.label)


def columns(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    return list(model._meta.concrete_fields)


def schema() -> dict[str, list[str]]:
    """Every migration applied, by app: the new instance must be at the same ones."""
    applied: dict[str, list[str]] = {}
    for app, name in sorted(MigrationRecorder(connection).applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied


@dataclass
class PracticeExported:
    written: int
    encryption: str
    passphrase: str | None = field(repr=False)  # generated: shown once, never kept
    rows: dict[str, int] = field(default_factory=dict)  # per table (model label)
    fingerprint: str = ""  # of the key that signed the manifest

    @property
    def patients(self) -> int:
        return self.rows.get("patients.Patient", 0)


@dataclass
class _File:
    name: str
    hashing: _Hashing
    encrypting: age.Encrypting
    plain: Any = field(default_factory=hashlib.sha256)  # the content's SHA-256 (audit.sig)

    def write(self, data: bytes) -> None:
        self.plain.update(data)
        self.encrypting.write(data)


def _rows(model: type[models.Model]) -> Iterator[tuple[Any, ...]]:
    names = [f.attname for f in columns(model)]
    query = model._base_manager.order_by("pk").values_list(*names)
    yield from query.iterator(chunk_size=BATCH)


def _write_tables(
    out: _File, tables: list[type[models.Model]], counts: dict[str, int], tick: Callable[[], None]
) -> None:
    for model in tables:
        out.write(
            line({"table": model._meta.label, "columns": [f.attname for f in columns(model)]})
        )
        out.write(b"\n")
        n = 0
        for row in _rows(model):
            out.write(line(row) + b"\n")
            n += 1
            tick()
        counts[model._meta.label] = n


def _instance_content() -> bytes:
    inst = settings.INSTANCE
    return line(
        {
            "key_file": inst.key_content(),
            "config": base64.b64encode(snapshot.config_tar(inst.home)).decode(),
        }
    )


def sign(key: Ed25519PrivateKey, domain: bytes, data: bytes) -> bytes:
    return base64.b64encode(key.sign(domain + data)) + b"\n"


def export_practice(
    actor: Actor,
    folder: Path,
    *,
    recipient: str = "",
    detail: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PracticeExported:
    """Write the whole practice into ``folder`` (existing, empty): encrypted for ``recipient``
    (an age public key) when given, else under a new passphrase returned once. ValidationError
    when the instance cannot be moved this way (a KEK in a token)."""
    if keyring.current_kek_version() in settings.INSTANCE.read_key_versions().in_token:
        raise ValidationError(
            _(
                "The key-encryption key is held by a PKCS#11 token and never leaves it: move "
                "this instance with its token (docs/keys.md), not with this export."
            )
        )
    delivery = Delivery.choose(recipient=recipient)  # never in clear: the keys travel with it
    what = {**(detail or {}), "format": FORMAT, **delivery.audit_detail(Kind.JSON)}
    done = PracticeExported(0, delivery.encryption(Kind.JSON), delivery.passphrase or None)
    streams: list[BinaryIO] = []
    files: dict[str, _File] = {}
    started = timezone.now()
    tables = exported_models()
    try:
        with guarded(
            actor, Permission.PRACTICE_MOVE, Action.EXPORT, "clinical.Practice", detail=what
        ) as event:
            # The files are made once the gate has let the actor through: a refusal writes nothing
            # and derives no key.
            for name in FILES:
                stream = _new_file(folder / name)
                streams.append(stream)
                hashing = _Hashing(stream)
                encrypting = age.Encrypting(cast(BinaryIO, hashing), delivery.target)
                files[name] = _File(name, hashing, encrypting)
            if connection.vendor == "postgresql" and not connection.savepoint_ids:
                # One instant of every table (the transaction's first statement; a caller's own
                # transaction, around this one, chose its isolation already).
                with connection.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            total = sum(m._base_manager.count() for m in tables)
            seen = 0

            def tick() -> None:
                nonlocal seen
                seen += 1
                if progress is not None and (seen % 1000 == 0 or seen == total):
                    progress(seen, total)

            audit = [m for m in tables if m._meta.app_label == AUDIT_APP]
            others = [m for m in tables if m._meta.app_label != AUDIT_APP]
            _write_tables(files[RECORDS], others, done.rows, tick)
            _write_tables(files[AUDIT], audit, done.rows, tick)
            files[INSTANCE].write(_instance_content())
            applied = schema()
            event.detail.update(
                patients=done.rows.get("patients.Patient", 0), rows=sum(done.rows.values())
            )
        for out in files.values():
            out.encrypting.close()
    finally:
        for stream in streams:
            stream.close()
    key = checkpoints.signing_key()
    public = key.public_key()
    done.fingerprint = keys.fingerprint(public)
    audit_rows = {k: v for k, v in done.rows.items() if k.split(".")[0] == AUDIT_APP}
    with _new_file(folder / AUDIT_SIGNATURE) as stream:
        statement = audit_statement(files[AUDIT].plain.hexdigest(), audit_rows)
        stream.write(sign(key, AUDIT_DOMAIN, statement))
    manifest = line(
        {
            "format": FORMAT,
            "version": VERSION,
            "created": started.isoformat(timespec="seconds"),
            "instance": snapshot.keys_of(settings.INSTANCE)[1],
            "engine": snapshot.engine(),
            "encryption": done.encryption,
            "schema": applied,
            "rows": done.rows,
            "audit": {"sha256": files[AUDIT].plain.hexdigest(), "rows": audit_rows},
            "files": {
                out.name: {"sha256": out.hashing.sha256.hexdigest(), "bytes": out.hashing.size}
                for out in files.values()
            },
            "signed_by": {
                "fingerprint": done.fingerprint,
                "public_key": public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode(),
            },
            # The folder is detected as Secretum's own export by this mark (importing.py).
            "extension": {"secretum": {"format": FORMAT}},
        }
    )
    with _new_file(folder / MANIFEST) as stream:
        stream.write(manifest + b"\n")
    with _new_file(folder / SIGNATURE) as stream:
        stream.write(sign(key, MANIFEST_DOMAIN, manifest + b"\n"))
    done.written = sum(f.hashing.size for f in files.values()) + len(manifest) + 1
    return done
