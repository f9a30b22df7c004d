"""``secretum import FOLDER --home NEW_HOME``: a new instance made of Secretum's own export
(``practice.py``; L1, L2). docs/exchange.md "Moving a practice".

It runs before Django is set up, as ``secretum restore`` does (``cli``): the instance it makes
is not the one the environment names, and nothing is read from that one. The steps, each
refusing with one sentence and leaving nothing behind (the new folder removed, a PostgreSQL
database emptied again):

1. the manifest's signature, under the key the manifest names, which must be the one
   ``--expect-key`` gives (always required: the old instance's checkpoint key, whose fingerprint
   the export and ``secretum init`` print). Then every file's size and SHA-256, before anything is
   decrypted, and again as each is decrypted;
2. a new folder (or an empty one) and, with ``SECRETUM_DATABASE_URL``, an empty PostgreSQL
   database; the key file and the configuration from ``instance.age``;
3. the schema: the export names every migration applied; this version of Secretum must have
   the same ones (another version refuses, naming what differs: import with the version that
   exported, then upgrade);
4. every row, in one transaction, each value read back by its field's own type (``to_python``)
   and inserted as it was (``raw``: no save hook, no default, no seal recomputed); the rows of
   each table counted against the manifest; the audit file's content against its signature;
5. the audit log verified whole (hashes, codes, signed checkpoints, witness), then one event of
   the import appended to it (the log goes on where the old instance's stopped) and a signed
   checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from secretum.audit import keys as audit_keys
from secretum.backup.progress import Progress
from secretum.crypto import age
from secretum.exchange import practice_format as practice
from secretum.exchange.report import ImportRefused, Secrets
from secretum.instance import Instance, write_private

MANIFEST_MAX = 1 << 24  # 16 MiB: a manifest is kilobytes
READ = 1 << 20


@dataclass
class Manifest:
    data: dict[str, Any]
    fingerprint: str


@dataclass
class PracticeImported:
    home: Path
    instance: str
    created: str
    engine: str  # the exporting instance's
    fingerprint: str
    rows: dict[str, int] = field(default_factory=dict)
    events: int = 0  # audit events verified
    settings: dict[str, str] = field(default_factory=dict)  # the old instance's, not secrets
    seconds: float = 0.0

    @property
    def patients(self) -> int:
        return self.rows.get("patients.Patient", 0)

    def summary(self) -> dict[str, Any]:
        return {
            "home": str(self.home), "instance": self.instance, "patients": self.patients,
            "rows": sum(self.rows.values()), "tables": len(self.rows), "events": self.events,
            "fingerprint": self.fingerprint, "seconds": round(self.seconds, 1),
        }  # fmt: skip


def read_manifest(folder: Path, expect_key: str = "") -> Manifest:
    """The manifest, its signature checked under the key it names (and that key the one
    ``expect_key`` names, when given). ImportRefused otherwise."""
    try:
        raw = (folder / practice.MANIFEST).read_bytes()[: MANIFEST_MAX + 1]
        signature = base64.b64decode(
            (folder / practice.SIGNATURE).read_bytes().strip(), validate=True
        )
    except OSError as exc:
        raise ImportRefused(f"cannot be read ({exc.strerror}: {exc.filename})") from None
    except (binascii.Error, ValueError):
        raise ImportRefused(f"{practice.SIGNATURE} is not a signature") from None
    try:
        data = json.loads(raw)
        pem = data["signed_by"]["public_key"].encode()
        public = audit_keys.load_public_key_pem(pem)
        if not isinstance(data["files"], dict) or not isinstance(data["rows"], dict):
            raise TypeError
    except (ValueError, KeyError, TypeError, AttributeError, audit_keys.AuditKeyError):
        raise ImportRefused(f"{practice.MANIFEST} is not a Secretum export's manifest") from None
    try:
        public.verify(signature, practice.MANIFEST_DOMAIN + raw)
    except InvalidSignature:
        raise ImportRefused(
            f"{practice.MANIFEST} does not match its signature: altered after the export"
        ) from None
    fingerprint = audit_keys.fingerprint(public)
    if not expect_key:
        # Whoever holds the passphrase or the recipient's public key can make files for it and
        # sign a manifest with a key of their own: only the old instance's key says who made it.
        raise ImportRefused(
            "give --expect-key FINGERPRINT, the old instance's audit key (the export printed it; "
            "'secretum init' printed it when the old instance was made): without it, anyone who "
            "holds the passphrase or the recipient's public key could have made this folder"
        )
    if audit_keys.normalise_fingerprint(expect_key) != fingerprint:
        raise ImportRefused(
            f"the export is signed by {fingerprint}, not by the key --expect-key names: it was "
            "not made by that instance"
        )
    if data.get("format") != practice.FORMAT or data.get("version") != practice.VERSION:
        raise ImportRefused(
            f"version {data.get('version')} of Secretum's export format: this Secretum reads "
            f"version {practice.VERSION}"
        )
    return Manifest(data, fingerprint)


def check_files(folder: Path, manifest: Manifest, tick: Callable[[int], None]) -> None:
    """Every file the format has, of the size and SHA-256 the signed manifest gives."""
    files = manifest.data["files"]
    for name in practice.FILES:
        path = folder / name
        listed = files.get(name)
        if not isinstance(listed, dict) or not path.is_file():
            raise ImportRefused(f"{name}: missing from the folder or the manifest")
        if path.stat().st_size != listed.get("bytes"):
            raise ImportRefused(f"{name}: not the size the manifest gives (truncated or altered)")
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while chunk := stream.read(READ):
                digest.update(chunk)
                tick(len(chunk))
        if digest.hexdigest() != listed.get("sha256"):
            raise ImportRefused(f"{name}: its SHA-256 is not the manifest's (altered or swapped)")


class _Hashed:
    """A file read through, hashed as it is read: what is decrypted is what was checked."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.sha256 = stream, hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.stream.read(n)
        self.sha256.update(data)
        return data

    def readline(self, n: int = -1) -> bytes:
        data: bytes = self.stream.readline(n)
        self.sha256.update(data)
        return data


def _decrypted(path: Path, secrets: Secrets, manifest: Manifest) -> Iterator[bytes]:
    """The file's content, and at its end its bytes checked again against the manifest (the
    file may have been swapped since ``check_files``: on a shared drive, by whoever writes there):
    a mismatch refuses the whole import, rows loaded so far rolled back."""
    with path.open("rb") as stream:
        hashed = _Hashed(stream)
        try:
            yield from age.decrypt(cast(BinaryIO, hashed), secrets.opener())
        except age.AgeError as exc:
            raise ImportRefused(f"{path.name} cannot be decrypted ({exc})") from None
        hashed.read()  # nothing may follow the end of the age payload unread
        if hashed.sha256.hexdigest() != manifest.data["files"][path.name].get("sha256"):
            raise ImportRefused(f"{path.name} was changed while it was being imported")


def _lines(path: Path, secrets: Secrets, manifest: Manifest, digest: Any = None) -> Iterator[bytes]:
    rest = b""
    for chunk in _decrypted(path, secrets, manifest):
        if digest is not None:
            digest.update(chunk)
        rest += chunk
        *whole, rest = rest.split(b"\n")
        yield from whole
    if rest:
        yield rest


def _pg_conf() -> tuple[dict[str, Any] | None, str, str]:
    from secretum.lib import dburl

    url = os.environ.get("SECRETUM_DATABASE_URL", "").strip()
    password_file = os.environ.get("SECRETUM_DATABASE_PASSWORD_FILE", "").strip()
    return (dburl.parse(url, password_file) if url else None), url, password_file


def _empty_pg(conf: dict[str, Any]) -> None:
    """Drop what this import made in a database that was empty when it began."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE")
        cur.execute("CREATE SCHEMA public")


def import_practice(
    folder: Path,
    home: Path,
    secrets: Secrets,
    *,
    reason: str,
    os_user: str,
    expect_key: str = "",
    progress: bool = True,
) -> PracticeImported:
    """A new instance in ``home`` made of the export in ``folder``. Django is set up here, on
    the new instance: call it once per process, before anything else of Django."""
    from secretum.backup.restore import _empty_or_new, _pg_is_empty, child_env, undo

    started = time.monotonic()
    home = home.resolve()
    if not folder.is_dir():
        raise ImportRefused("give the folder Secretum's export wrote")
    manifest = read_manifest(folder, expect_key)
    size = sum(int(f.get("bytes", 0)) for f in manifest.data["files"].values())
    bar = Progress("check", size) if progress else None
    check_files(folder, manifest, bar or (lambda n: None))
    if bar:
        bar.end()
    if not _empty_or_new(home):
        raise ImportRefused(f"{home} is not empty: a practice is imported into a new folder")
    conf, url, password_file = _pg_conf()
    if conf is not None and not _pg_is_empty(conf):
        raise ImportRefused(f"the database {conf['NAME']} is not empty: give a new one")
    instance = _open_instance(folder, secrets, manifest)
    made = not home.exists()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    loaded = False
    try:
        found = _make_home(home, instance, manifest)
        environment = child_env(home, url, password_file)  # the new instance's settings only
        os.environ.clear()
        os.environ.update(environment)
        os.environ["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
        import django

        django.setup()
        loaded = True
        done = PracticeImported(
            home, str(manifest.data.get("instance", "")), str(manifest.data.get("created", "")),
            str(manifest.data.get("engine", "")), manifest.fingerprint, settings=found,
        )  # fmt: skip
        _load(folder, manifest, secrets, done, progress)
        _record(done, reason, os_user, folder.name)
        done.seconds = time.monotonic() - started
        return done
    except BaseException:
        try:
            if loaded and conf is not None:
                from django.db import connection

                connection.close()
                _empty_pg(conf)
        finally:  # the keys never stay behind, even when the database cannot be emptied
            undo(home, made)
        raise


def _open_instance(folder: Path, secrets: Secrets, manifest: Manifest) -> dict[str, Any]:
    data = b"".join(_decrypted(folder / practice.INSTANCE, secrets, manifest))
    try:
        found = json.loads(data)
        if not isinstance(found["key_file"], str) or not isinstance(found["config"], str):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise ImportRefused(f"{practice.INSTANCE} does not hold an instance's keys") from None
    return dict(found)


def _make_home(home: Path, instance: dict[str, Any], manifest: Manifest) -> dict[str, str]:
    """The key file and the configuration in the new folder, its audit key the one that signed
    the manifest; the old settings returned."""
    from secretum.backup import snapshot

    inst = Instance(home)
    write_private(inst.key_file, instance["key_file"].encode())
    inst.database.parent.mkdir(mode=0o700, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=home, suffix=".tar") as tar:
        tar.write(base64.b64decode(instance["config"]))
        tar.flush()
        snapshot.extract_config(Path(tar.name), home)
    paths = audit_keys.AuditKeyPaths(home)
    try:
        held = audit_keys.fingerprint(audit_keys.load_public_key(paths))
    except (OSError, audit_keys.AuditKeyError):
        held = ""
    if held != manifest.fingerprint:
        raise ImportRefused(f"{practice.INSTANCE} holds another audit key than the manifest's")
    environment = home / "environment.json"
    try:
        return dict(json.loads(environment.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _load(
    folder: Path, manifest: Manifest, secrets: Secrets, done: PracticeImported, progress: bool
) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from secretum.exchange.practice import schema

    call_command("migrate", interactive=False, verbosity=0)
    problem = schema_problem(schema(), manifest.data.get("schema", {}))
    if problem:
        raise ImportRefused(problem)
    total = sum(int(n) for n in manifest.data["rows"].values())
    bar = Progress("import", total, unit="rows") if progress else None
    with transaction.atomic():
        _clear_what_migrate_wrote()
        _insert_file(folder / practice.RECORDS, secrets, manifest, done, bar)
        digest = hashlib.sha256()
        _insert_file(folder / practice.AUDIT, secrets, manifest, done, bar, digest)
        _check_counts(manifest, done, digest.hexdigest(), folder)
        if connection.vendor == "postgresql":
            from django.core.management.color import no_style

            from secretum.exchange.practice import exported_models

            models = exported_models()
            with connection.cursor() as cur:
                for sql in connection.ops.sequence_reset_sql(no_style(), models):
                    cur.execute(sql)
    if bar:
        bar.end()


def schema_problem(here: dict[str, list[str]], made: Any) -> str:
    """What differs between this version's migrations and those the export names, or ""."""
    theirs = {str(a): sorted(map(str, ns)) for a, ns in dict(made).items()}
    if here == theirs:
        return ""
    ours = {f"{a}.{n}" for a, ns in here.items() for n in ns}
    named = {f"{a}.{n}" for a, ns in theirs.items() for n in ns}
    what = (
        f"it has {', '.join(sorted(named - ours)[:3])}, unknown here"
        if named - ours
        else f"it lacks {', '.join(sorted(ours - named)[:3])}"
    )
    return (
        f"the export was made by another version of Secretum ({what}): import it with the "
        "version that made it, then upgrade"
    )


def _clear_what_migrate_wrote() -> None:
    """The rows the new database's migrate wrote (the key file's fingerprint, recorded by
    ``crypto.binding`` after it): the export holds the same, as the old instance recorded them.
    The audit log must be empty: its events are the export's alone."""
    from django.db import connection

    from secretum.exchange.practice import exported_models

    for model in exported_models():
        if not model._base_manager.exists():
            continue
        if model._meta.app_label == practice.AUDIT_APP:
            raise ImportRefused(f"the new database's {model._meta.label} is not empty")
        model._base_manager.all()._raw_delete(connection.alias)


def _insert_file(
    path: Path,
    secrets: Secrets,
    manifest: Manifest,
    done: PracticeImported,
    bar: Any,
    digest: Any = None,
) -> None:
    from django.apps import apps
    from django.db import connection

    from secretum.exchange.practice import columns

    model: Any = None
    fields: list[Any] = []
    names: list[str] = []
    batch: list[Any] = []

    def flush() -> None:
        if batch:
            size = max(1, connection.ops.bulk_batch_size(fields, batch) or len(batch))
            for start in range(0, len(batch), size):
                part = batch[start : start + size]
                model._base_manager._insert(part, fields=fields, using=connection.alias, raw=True)
            batch.clear()

    for number, line in enumerate(_lines(path, secrets, manifest, digest), 1):
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise ImportRefused(f"{path.name}, line {number}: not JSON") from None
        if isinstance(item, dict):
            flush()
            model = _table(apps, item, path.name, number)
            fields = columns(model)
            names = [f.attname for f in fields]
            if item.get("columns") != names:
                raise ImportRefused(
                    f"{path.name}, line {number}: the columns of {item.get('table')} are not "
                    "this version's"
                )
            done.rows.setdefault(model._meta.label, 0)
            continue
        if model is None or not isinstance(item, list) or len(item) != len(fields):
            raise ImportRefused(f"{path.name}, line {number}: not a row of its table")
        try:
            values = [
                None if v is None else f.to_python(v) for f, v in zip(fields, item, strict=True)
            ]
        except Exception:  # a field's own check, whatever it raises: the row is not one
            raise ImportRefused(
                f"{path.name}, line {number}: a value is not of its column's type"
            ) from None
        batch.append(model.from_db(connection.alias, names, values))
        done.rows[model._meta.label] += 1
        if bar:
            bar(1)
        if len(batch) >= practice.BATCH:
            flush()
    flush()


def _table(apps: Any, item: dict[str, Any], name: str, number: int) -> Any:
    from secretum.exchange.practice import exported_models

    label = item.get("table")
    try:
        model = apps.get_model(str(label))
    except (LookupError, ValueError):
        raise ImportRefused(f"{name}, line {number}: no table {label} in this version") from None
    if model not in exported_models():
        raise ImportRefused(f"{name}, line {number}: {label} is not a table of the practice")
    return model


def _check_counts(manifest: Manifest, done: PracticeImported, audit_sha: str, folder: Path) -> None:
    """Each table's rows as the manifest counts them; the audit file as its signature says."""
    listed = {k: int(v) for k, v in manifest.data["rows"].items()}
    found = {k: v for k, v in done.rows.items()}
    if listed != found:
        wrong = sorted(k for k in set(listed) | set(found) if listed.get(k) != found.get(k))
        raise ImportRefused(
            f"the rows of {', '.join(wrong[:3])} are not as many as the manifest says"
        )
    audit = manifest.data.get("audit", {})
    if audit.get("sha256") != audit_sha:
        raise ImportRefused(f"{practice.AUDIT}: its content is not the one the manifest names")
    public: Ed25519PublicKey = audit_keys.load_public_key_pem(
        manifest.data["signed_by"]["public_key"].encode()
    )
    try:
        statement = practice.audit_statement(audit_sha, audit.get("rows", {}))
        public.verify(
            base64.b64decode(
                (folder / practice.AUDIT_SIGNATURE).read_bytes().strip(), validate=True
            ),
            practice.AUDIT_DOMAIN + statement,
        )
    except (OSError, binascii.Error, ValueError, InvalidSignature):
        raise ImportRefused(
            f"{practice.AUDIT}: its signature ({practice.AUDIT_SIGNATURE}) does not hold"
        ) from None


def _record(done: PracticeImported, reason: str, os_user: str, source: str) -> None:
    """The audit log verified whole, then the import's event and a signed checkpoint."""
    from secretum.access.actor import Purpose
    from secretum.audit import log
    from secretum.audit.checkpoints import create_checkpoint
    from secretum.audit.models import Action, AuditEvent
    from secretum.audit.verify import verify_log
    from secretum.maintenance.console import ConsoleActor

    result = verify_log()
    if not result.ok:
        raise ImportRefused(f"the imported audit log does not verify: {result.problem}")
    done.events = AuditEvent.objects.count()
    actor = ConsoleActor(
        user=None, role=None, source="console", purpose=Purpose.MAINTENANCE, os_user=os_user
    )
    log.record_event(
        actor, Action.MAINTENANCE, RESOURCE,
        detail={
            "reason": reason, "format": practice.FORMAT, "source": source,
            "from_instance": done.instance, "exported": done.created, "engine": done.engine,
            "patients": done.patients, "rows": sum(done.rows.values()),
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
    )  # fmt: skip
    create_checkpoint()


def _identity(path: Path) -> age.X25519Identity:
    try:
        lines = path.read_text().splitlines()
        key = next(x.strip() for x in lines if x.strip() and not x.startswith("#"))
        return age.X25519Identity.parse(key)
    except (OSError, StopIteration, UnicodeDecodeError, age.AgeError):
        raise ImportRefused(f"--identity {path}: not an age identity file") from None


def main(argv: list[str]) -> int:
    """``secretum import FOLDER --home NEW_HOME --reason TEXT [--identity FILE]
    [--expect-key FINGERPRINT] [--json]``, before Django is set up (``cli``)."""
    import argparse
    import getpass
    import sys

    from secretum.crypto.sealing import REASON_MAX, REASON_MIN

    parser = argparse.ArgumentParser(
        prog="secretum import", description="A new instance made of Secretum's own export."
    )
    parser.add_argument("path", metavar="FOLDER")
    parser.add_argument("--home", required=True, metavar="NEW_HOME", help="a new, empty folder")
    parser.add_argument("--reason", required=True, help="why, in 10 to 200 characters")
    parser.add_argument("--identity", metavar="FILE", help="an age X25519 identity file")
    parser.add_argument(
        "--expect-key",
        default="",
        metavar="FINGERPRINT",
        help="the old instance's audit key (the export and secretum init print it): required",
    )
    parser.add_argument("--json", action="store_true", help="the result as one JSON line")
    args = parser.parse_args(argv)
    reason = " ".join(args.reason.split())
    if not REASON_MIN <= len(reason) <= REASON_MAX:
        print("secretum: --reason: why, in 10 to 200 characters.", file=sys.stderr)
        return 2
    secrets = Secrets(passphrase=lambda: getpass.getpass("Passphrase of the export: "))
    try:
        if args.identity:
            secrets.identity = _identity(Path(args.identity))
        done = import_practice(
            Path(args.path), Path(args.home), secrets, reason=reason, os_user=_os_user(),
            expect_key=args.expect_key, progress=not args.json,
        )  # fmt: skip
    except ImportRefused as exc:
        print(f"secretum: {args.path}: {exc}. Nothing was imported.", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(done.summary()))
        return 0
    for line in report_lines(done):
        print(line)
    return 0


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid-{os.getuid()}"


def report_lines(done: PracticeImported) -> list[str]:
    tables = sum(1 for n in done.rows.values() if n)
    out = [
        f"Imported Secretum's export of instance {done.instance[:12]}… (made {done.created} on "
        f"{done.engine}) into {done.home}: {done.patients} patients, "
        f"{sum(done.rows.values())} rows in {tables} tables, in {done.seconds:.1f} s.",
        f"The audit log verified: {done.events} events, signed by {done.fingerprint}; the "
        "import is its next event. Compare that fingerprint with the old instance's.",
        "The key file came with the export: this instance opens what the old one did. Put it in "
        "custody ('secretum keys backup'), then decommission the old instance "
        "('secretum decommission') once this one serves.",
    ]
    if done.settings:
        out.append("The old instance's settings (set again those this server still needs):")
        out += [f"  {k}={v}" for k, v in sorted(done.settings.items())]
    out.append(f"Serve it: SECRETUM_HOME={done.home} secretum serve")
    return out


RESOURCE = "exchange.PracticeImport"
