"""KEK rotation: a new key-encryption key, every blob under the old one re-wrapped, the old one
retired once nothing uses it (E10, G3, O1, O2; ``secretum keys rotate``).

What a KEK seals (``keyring``: patients' data keys, and the installation's sealed secrets: TOTP
seeds, breach narratives, evidence documents, maintenance texts, unfiled scans) is declared by
the app that owns it, in its ``keyuses.py`` (``register``), with the associated data of each row,
the way each app's ``evidence.py`` registers its evidence: crypto, below them all, imports none.

The steps, each safe to interrupt (a process killed at any point leaves every value readable,
and running the command again carries on where it stopped):

1. ``start``: the key file is replaced (``instance.replace_private``: temporary file, fsync,
   rename, mode 600) by one holding a new current version *and* every older one; a key file
   that already holds an older version is a rotation under way, resumed without a new key. The
   first rotation pins the fingerprint and the backup key (``keyring``), so the binding to the
   database, backups and recovery material keep naming the same instance.
2. ``rewrap``: each registered column, in batches of rows, each batch one transaction; a row is
   written only if its blob still is the one read (a conditional UPDATE: a value changed
   meanwhile by the server is read again at the next pass, never overwritten). Rows whose
   blob is covered by a seal (a patient's record seal, a ``SealedRow``'s row seal) get a new
   seal only if the old one held: an altered row stays altered, never laundered. A blob that
   does not open is left as it is and counted: its version then cannot be retired.
3. ``retire``: after a grace period (``GRACE_SECONDS`` since the new key file was written, for
   a write that sealed under the old version just before it to commit), every registered column
   is scanned; an older version no blob names any more is retired: moved to ``retired_keks``,
   where it opens (never seals) a blob written under it by a request that committed after the
   scan, until the next rotation, which re-wraps such blobs and then removes it.

Running servers keep serving throughout: they read the key file again when it is replaced
(``keyring``). Sessions sealed under a version removed from the key file end (their holders
sign in again).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.apps import apps
from django.conf import settings
from django.db import connection, models, transaction
from django.utils.module_loading import autodiscover_modules

from secretum.crypto import keyring, nodes, rows, token
from secretum.instance import KEY_VARIABLE, InstanceError, replace_private

# The audit log's resource for the key file's KEK versions (events written by the command).
RESOURCE = "crypto.KeyFile"
GRACE_SECONDS = 5.0
BATCH = 500
# The first bytes of a blob name its KEK version (keyring): 0x01, or 0x02 and two bytes.
_HEAD = 3


class RotationError(InstanceError):
    """A rotation that cannot go on: one sentence saying why."""


class Kind(Enum):
    DATA_KEY = "data key"  # keyring.new_data_key / unwrap_data_key
    SECRET = "secret"  # noqa: S105  (a kind of blob, not a password): keyring.seal_secret


# ``reseal(row, apply)``: calls ``apply()`` (the new blob set on the row) and returns the names of
# the fields it changed besides (a seal over the blob), to be written with it.
Reseal = Callable[[Any, Callable[[], None]], list[str]]


@dataclass(frozen=True)
class KekUse:
    """A column holding blobs sealed under the KEK, declared by the app that owns it."""

    model: str  # "app.Model"
    field: str
    kind: Kind
    aad: Callable[[Any], str]  # the row's associated data, as its app seals it
    reseal: Reseal | None = None
    # Lifts the database's own append-only guard on the table for one transaction, if it has one.
    unlocked: Callable[[], contextlib.AbstractContextManager[None]] | None = None
    batch: int = BATCH  # fewer for large blobs (documents)

    @property
    def name(self) -> str:
        return f"{self.model}.{self.field}"


_USES: dict[str, KekUse] = {}


def register(use: KekUse) -> KekUse:
    _USES[use.name] = use
    return use


def uses() -> list[KekUse]:
    """Every registered column (each app's ``keyuses.py``, imported once)."""
    autodiscover_modules("keyuses")
    return [_USES[name] for name in sorted(_USES)]


def named(name: str) -> KekUse:
    """A registered column by its name ("app.Model.field")."""
    return {use.name: use for use in uses()}[name]


# --- the key file -------------------------------------------------------------------------------


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _write_key_file(fields: dict[str, Any]) -> None:
    replace_private(settings.INSTANCE.key_file, json.dumps(fields, indent=2).encode())
    keyring.reset_cache()


def _fields() -> dict[str, Any]:
    settings.INSTANCE.read_keys()  # the file checked first, one sentence per fault
    found = json.loads(settings.INSTANCE.key_content())
    return dict(found)


@dataclass
class Started:
    version: int  # the version every blob is re-wrapped under
    older: list[int]  # the versions still in the key file besides
    resumed: bool
    # Versions the previous rotation retired and kept (``retired_keks``): removed at the end of
    # this one when no blob names them.
    retired: list[int] = field(default_factory=list)
    at: float = field(default_factory=time.monotonic)


def start(now: dt.datetime | None = None, to_token: bool = False) -> Started:
    """Step 1: a new current KEK version in the key file, every older one kept; a key file that
    holds older versions already is a rotation under way, resumed (no new key). The new version
    is generated inside the PKCS#11 token (``token``) when ``to_token`` asks or the current one
    is there already: it never leaves it, and the key file only lists it (``token_keks``)."""
    if settings.INSTANCE.provider != "file":
        raise RotationError(
            f"The key is given in {KEY_VARIABLE}: a rotation writes a new key file, and this "
            "provider has none. Rotate on the key file (SECRETUM_KEY_FILE), then give its new "
            f"content in {KEY_VARIABLE} to every process."
        )
    # Another node's copy of the key file would lack the new version (issue 17, ``nodes``).
    nodes.refuse_rotation_beside_others("key-encryption key")
    versions = settings.INSTANCE.read_key_versions()
    retired = sorted(versions.retired)
    if versions.older:
        return Started(versions.current, versions.older, resumed=True, retired=retired)
    fields = _fields()
    new = versions.current + 1
    # Pinned once, from the version every earlier value was made with (keyring).
    fingerprint = keyring.fingerprint_for(versions)
    fields.update(
        fingerprint=fingerprint,
        backup_key=_b64(keyring.backup_key_for(versions)),
        kek_version=new,
        older_keks={str(v): _b64(k) for v, k in sorted(versions.keks.items()) if v not in retired},
        rotated_at=(now or dt.datetime.now(dt.UTC)).isoformat(),
    )
    if to_token or versions.in_token:
        token.generate(token.required(), fingerprint, new)  # before the key file names it
        fields.pop("kek", None)
        fields["token_keks"] = sorted({*versions.in_token, new})
    else:
        fields["kek"] = _b64(AESGCM.generate_key(bit_length=256))
    if not fields["older_keks"]:
        del fields["older_keks"]
    _write_key_file(fields)
    return Started(new, [versions.current, *versions.older], resumed=False, retired=retired)


def retire(unused: list[int], removed: list[int] | None = None) -> None:
    """Step 3's end: versions no blob names leave ``older_keks`` for ``retired_keks``, kept one
    rotation longer (a write that sealed under one before the key file was replaced and
    committed after the scan still opens); the ``removed`` ones, retired by the rotation before
    and named by no blob, leave the key file."""
    fields = _fields()
    older = dict(fields.pop("older_keks", {}))
    kept = dict(fields.pop("retired_keks", {}))
    kept.update({k: v for k, v in older.items() if int(k) in unused})
    older = {k: v for k, v in older.items() if int(k) not in unused}
    kept = {k: v for k, v in kept.items() if int(k) not in (removed or [])}
    if older:
        fields["older_keks"] = older
    if kept:
        fields["retired_keks"] = kept
    # A token's version no blob names leaves the key file's list at once (it is not kept one
    # rotation longer, unlike a key file's version); the key object stays in the token until its
    # administrator deletes it (docs/keys.md): a token's keys are the token's to erase.
    if "token_keks" in fields:
        fields["token_keks"] = [v for v in fields["token_keks"] if v not in unused]
    _write_key_file(fields)


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """One rotation at a time on an instance: an advisory lock on a file beside the key file."""
    path = settings.INSTANCE.home / "secretum.key.lock"  # the key file's folder may be read-only
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RotationError("another key rotation is running on this instance.") from None
        yield
    finally:
        os.close(fd)


# --- the blobs ----------------------------------------------------------------------------------


def _head(use: KekUse) -> models.Func:
    # SUBSTR of a blob is a blob on SQLite and PostgreSQL (bytea): only the version's bytes read.
    return models.Func(
        models.F(use.field),
        models.Value(1),
        models.Value(_HEAD),
        function="SUBSTR",
        output_field=models.BinaryField(),
    )


def _version(head: Any) -> int:
    return keyring.kek_version_named(bytes(head)) or 0  # 0: not a blob of a known format


def in_use(use: KekUse) -> Counter[int]:
    """How many blobs of the column name each KEK version (0: of no known format)."""
    model = apps.get_model(use.model)
    heads = model._base_manager.exclude(**{use.field: None}).annotate(head=_head(use))
    return Counter(_version(h) for h in heads.values_list("head", flat=True).iterator(2000))


@dataclass
class Counts:
    rows: int = 0  # rows looked at
    rewrapped: int = 0
    unreadable: int = 0  # blobs that failed authentication: left as they are
    changed: int = 0  # rows changed meanwhile by someone else: read again at the next pass

    def add(self, later: Counts) -> None:
        """The counts of a later pass over the same rows: what it re-wrapped adds up; what it
        looked at and could not open is what is left."""
        self.rows = max(self.rows, later.rows)
        self.rewrapped += later.rewrapped
        self.unreadable = later.unreadable
        self.changed += later.changed


def _sealed_row(use: KekUse, model: type[models.Model]) -> Reseal | None:
    """A ``SealedRow`` whose seal covers the column: a new seal, only where the old one held."""
    if not (issubclass(model, rows.SealedRow) and use.field in model.SEALED_FIELDS):
        return None

    def reseal(row: Any, apply: Callable[[], None]) -> list[str]:
        held = rows.intact(row)
        apply()
        if not held:
            return []
        rows.stamp(row)
        return ["row_seal"]

    return reseal


def _stored(value: Any) -> Any:
    """A seal renewed with the blob, as the database stores it (bytes)."""
    return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value


def rewrap(
    use: KekUse,
    version: int,
    batch: int | None = None,
    after_batch: Callable[[Counts], None] | None = None,
) -> Counts:
    """Step 2 for one column: every blob not under ``version`` re-wrapped, a batch of rows per
    transaction; ``after_batch`` is told the counts so far after each (progress)."""
    model = apps.get_model(use.model)
    size = batch or use.batch
    reseal = use.reseal or _sealed_row(use, model)
    counts, last = Counts(), None
    while True:
        # Which rows to rewrite, from the blobs' first bytes only; then those rows whole.
        found = model._base_manager.exclude(**{use.field: None}).annotate(head=_head(use))
        if last is not None:
            found = found.filter(pk__gt=last)
        page = list(found.order_by("pk").values_list("pk", "head")[:size])
        if not page:
            return counts
        last = page[-1][0]
        counts.rows += len(page)
        stale = [pk for pk, head in page if _version(head) != version]
        if stale:
            with transaction.atomic(), use.unlocked() if use.unlocked else contextlib.nullcontext():
                writes: dict[str, list[list[Any]]] = {}
                for row in model._base_manager.filter(pk__in=stale).order_by("pk"):
                    found = _rewrap_row(use, model, row, reseal, counts)
                    if found is not None:
                        writes.setdefault(found[0], []).append(found[1])
                for sql, rows_values in writes.items():
                    written = _write(sql, rows_values)
                    counts.rewrapped += written
                    counts.changed += len(rows_values) - written
        if after_batch is not None:
            after_batch(counts)


def _write(sql: str, rows_values: list[list[Any]]) -> int:
    """Run one conditional UPDATE per row; how many rows it wrote. On PostgreSQL in one
    pipeline (psycopg's ``executemany``, each statement's RETURNING read back), not one round
    trip per row."""
    # Measured by the PostgreSQL run of tests/crypto/test_rotation.py (make test-postgresql),
    # which the SQLite run's coverage cannot see.
    if connection.vendor == "postgresql":  # pragma: no cover
        raw = connection.connection.cursor()
        raw.executemany(sql + " RETURNING 1", rows_values, returning=True)
        written = 0
        while True:
            written += len(raw.fetchall())
            if not raw.nextset():
                return written
    written = 0
    with connection.cursor() as cursor:
        for values in rows_values:
            cursor.execute(sql, values)
            written += cursor.rowcount
    return written


def _rewrap_row(
    use: KekUse, model: type[models.Model], row: Any, reseal: Reseal | None, counts: Counts
) -> tuple[str, list[Any]] | None:
    """The conditional UPDATE (statement, values) that re-wraps the row; None if it does not
    open (counted)."""
    old = bytes(getattr(row, use.field))
    aad = use.aad(row)
    try:
        if use.kind == Kind.DATA_KEY:
            new = keyring.rewrap_data_key(old, aad)
        else:
            new = keyring.reseal_secret(old, aad)
    except keyring.DecryptionError:
        counts.unreadable += 1
        return None

    def apply() -> None:
        setattr(row, use.field, new)

    meta, quote = model._meta, connection.ops.quote_name
    before = {f.attname: getattr(row, f.attname) for f in meta.concrete_fields}
    if reseal is None:
        apply()
        extra: list[str] = []
    else:
        extra = reseal(row, apply)
    # Only if the blob, and the seal renewed with it, are still the ones read: the server may
    # have written the row meanwhile (a seal covers the row's other values: a new name changes
    # the record seal, never the wrapped key). Its write stands; the next pass reads the row
    # again. One statement per row, built here (the ORM would spend most of the time on it).
    columns = [str(getattr(meta.get_field(name), "column", name)) for name in [use.field, *extra]]
    key = str(getattr(meta.pk, "column", "id"))
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "  # noqa: S608  (names from the model, values bound)
        + ", ".join(f"{quote(c)} = %s" for c in columns)
        + f" WHERE {quote(key)} = %s AND "
        + " AND ".join(f"{quote(c)} = %s" for c in columns)
    )
    values = [
        new,
        *(_stored(getattr(row, name)) for name in extra),
        row.pk,
        old,
        *(_stored(before[name]) for name in extra),
    ]
    return sql, values


@dataclass
class Summary:
    started: Started
    counts: dict[str, Counts]
    in_use: Counter[int]  # blobs per KEK version at the end
    retired: list[int]  # kept in the key file one rotation longer (``retired_keks``)
    removed: list[int] = field(default_factory=list)  # retired by the rotation before, now gone

    @property
    def unreadable(self) -> int:
        return sum(c.unreadable for c in self.counts.values())


Progress = Callable[[KekUse, Counts], None]


def run(
    progress: Progress | None = None,
    batch: int | None = None,
    grace: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_start: Callable[[Started], None] | None = None,
    to_token: bool = False,
) -> Summary:
    """The three steps (the module's docstring), under the instance's rotation lock."""
    with exclusive():
        started = start(to_token=to_token)
        if on_start is not None:
            on_start(started)
        counts = {use.name: Counts() for use in uses()}

        def one_pass() -> None:
            for use in uses():
                tell = (lambda c, u=use: progress(u, c)) if progress else None
                counts[use.name].add(rewrap(use, started.version, batch, tell))

        one_pass()
        # A write that sealed under the old version just before the key file was replaced
        # commits within the grace period; a second pass re-wraps it.
        wait = GRACE_SECONDS if grace is None else grace
        sleep(max(0.0, wait - (time.monotonic() - started.at)))
        found = _scan()
        if any(found[v] for v in found if v != started.version):
            one_pass()
            found = _scan()
        unused = [v for v in started.older if not found[v]]
        removed = [v for v in started.retired if not found[v]]
        if unused or removed:
            retire(unused, removed)
        return Summary(started, counts, found, unused, removed)


def _scan() -> Counter[int]:
    found: Counter[int] = Counter()
    for use in uses():
        found.update(in_use(use))
    return found
