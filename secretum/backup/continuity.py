"""Business continuity (I5): the latest backup served read-only on any laptop, and its audit
events brought back to the server afterwards.

``secretum serve --read-only --from-backup FILE --key-file KEYFILE [--home DIR]`` restores the
backup with ``secretum restore`` (I3: every part authenticated, the instance opened and checked)
into DIR (default ``./continuity-<date of the backup>``), marks DIR as a continuity copy
(``secretum.lib.continuity``: the backup's header hash, the instance, the audit head at the
restore), then serves it with SECRETUM_READ_ONLY: the gate refuses every action but a read
(``access.guard.READS``), a middleware every unsafe request but signing in and out and searches
(``access.middleware.ReadOnlyMiddleware``), and every page says so. Started again on the same DIR
with the same backup, the copy is reused (its audit log goes on); any other folder that is not
empty is refused. SQLite backups only: a PostgreSQL backup needs an empty PostgreSQL database
to restore into, which a laptop in an outage does not have (``secretum restore`` does that).

``secretum audit merge-continuity DIR``, on the server once it is back, checks that the copy is
of this instance (its key file's instance id and its audit keys are this instance's), verifies
the copy's audit log (``secretum audit verify`` in a process of its own, then each event's leaf
hash and MAC again as it is read), and appends every event recorded on the copy after the
restore to this log with its own time, actor, role, action, resource, outcome and source, its
detail saying ``continuity: {copy, seq}``. One "maintenance" event on ``audit.ContinuityCopy``
records the merge in the same transaction and names the copy's last event merged: a second
merge of the same copy adds nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secretum.backup import archive
from secretum.backup.archive import BackupError
from secretum.instance import Instance
from secretum.lib.continuity import KIND, MARKER, read_marker

# The audit resource of a merge (its label in ``audit.vocabulary``).
RESOURCE = "audit.ContinuityCopy"
# What a copy's serve may not inherit from the environment it is started in: the server's
# instance, database, witness, backup targets and intake folder are not the copy's.
_NOT_INHERITED = (
    "SECRETUM_HOME",
    "SECRETUM_DATABASE_URL",
    "SECRETUM_DATABASE_PASSWORD_FILE",
    "SECRETUM_AUDIT_WITNESS",
    "SECRETUM_BACKUP_DIR",
    "SECRETUM_BACKUP_COPY_TO",
    "SECRETUM_INTAKE_DIR",
)
_EVENT_COLUMNS = (
    "seq, at, actor_id, actor_name, role, on_behalf_of, patient_ref, action, resource, "
    "resource_ref, purpose, outcome, source, request_id, detail, leaf_hash, mac"
)


def header_digest(header: dict[str, Any]) -> str:
    """The SHA-256 of a backup's header: its random salt makes it one backup's and no other's."""
    return hashlib.sha256(archive.canonical(header)).hexdigest()


def default_home(header: dict[str, Any]) -> Path:
    created = str(header.get("created_at", ""))[:19].replace(":", "") or "undated"
    return Path.cwd() / f"continuity-{created}"


def _audit_head(database: Path) -> dict[str, Any]:
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        row = db.execute(
            "SELECT seq, leaf_hash FROM audit_auditevent ORDER BY seq DESC LIMIT 1"
        ).fetchone()
    return {"seq": int(row[0]), "leaf_hash": str(row[1])} if row else {"seq": 0, "leaf_hash": ""}


def prepare_copy(backup: Path, key_file: Path, home: Path | None = None) -> Path:
    """I5: ``home`` holding a continuity copy of ``backup``: restored now (``secretum restore``)
    and marked, or reused when it already is a copy of that very backup. BackupError, in one
    sentence, for a PostgreSQL backup, or a folder that holds anything else."""
    header = archive.read_header(backup)
    if header.get("engine") == "postgresql":
        raise BackupError(
            "This backup is of a PostgreSQL database: a continuity copy serves SQLite backups "
            "only. Restore it with 'secretum restore' into an empty PostgreSQL database and "
            "serve that instance with SECRETUM_READ_ONLY=1."
        )
    digest = header_digest(header)
    home = (home or default_home(header)).resolve()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        marker = read_marker(home)
        if marker is None:
            raise BackupError(
                f"{home} is not empty and is not a continuity copy: name a new folder."
            )
        if marker.get("header_sha256") != digest:
            raise BackupError(
                f"{home} is a continuity copy of another backup ({marker.get('backup')}): name a "
                "new folder."
            )
        return home  # started again on the same copy: its sessions and audit log go on
    with tempfile.TemporaryDirectory(prefix="secretum-continuity-") as nowhere:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env["SECRETUM_HOME"] = str(Path(nowhere) / "var")  # restore needs no instance of its own
        if os.environ.get("SECRETUM_DEBUG"):
            env["SECRETUM_DEBUG"] = os.environ["SECRETUM_DEBUG"]
        done = subprocess.run(  # noqa: S603  (our own module, fixed arguments)
            [sys.executable, "-m", "secretum.cli", "restore", str(backup), "--home", str(home),
             "--key-file", str(key_file)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        said = done.stderr.strip().splitlines()
        raise BackupError((said[-1] if said else "the restore failed").removeprefix("secretum: "))
    marker = {
        "kind": KIND,
        "copy": str(uuid.uuid4()),
        "backup": backup.name,
        "header_sha256": digest,
        "backup_created_at": header.get("created_at", ""),
        "instance": header.get("instance", ""),
        "head": _audit_head(Instance(home).database),
        "restored_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    (home / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return home


def copy_environment(home: Path) -> dict[str, str]:
    """The environment a copy is served with: its own folder, read-only, no scheduled backup."""
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(SECRETUM_HOME=str(home), SECRETUM_READ_ONLY="1", SECRETUM_BACKUP_EVERY="0")
    return env


def serve_copy(argv: list[str]) -> int:
    """``secretum serve --read-only --from-backup FILE --key-file KEYFILE [--home DIR] ...``:
    the copy prepared, then ``secretum serve`` with the other options, on it, in this process."""
    parser = argparse.ArgumentParser(prog="secretum serve --read-only")
    parser.add_argument("--read-only", action="store_true")
    parser.add_argument("--from-backup", type=Path)
    parser.add_argument("--key-file", type=Path)
    parser.add_argument("--home", type=Path, default=None)
    ours, rest = parser.parse_known_args(argv)
    if not ours.read_only or ours.from_backup is None or ours.key_file is None:
        print(
            "secretum: a backup is served read-only: 'secretum serve --read-only --from-backup "
            "FILE --key-file KEYFILE [--home DIR]'.",
            file=sys.stderr,
        )
        return 2
    print(
        f"secretum: restoring {ours.from_backup} as a continuity copy (every part authenticated, "
        "the instance opened and checked; a large backup takes a while)…",
        file=sys.stderr,
        flush=True,
    )
    try:
        home = prepare_copy(ours.from_backup, ours.key_file, ours.home)
    except (BackupError, OSError) as exc:
        print(f"secretum: {exc}", file=sys.stderr)
        return 1
    marker = read_marker(home) or {}
    print(
        f"Continuity copy of the backup of {marker.get('backup_created_at', '?')} in {home}: "
        "read-only, every access audited. Once the server is back, bring this folder to it and "
        f"run 'secretum audit merge-continuity {home}' there.",
        flush=True,
    )
    command = [sys.executable, "-m", "secretum.cli", "serve", *rest]
    os.execve(sys.executable, command, copy_environment(home))  # noqa: S606  (our own module)
    return 0  # not reached


class MergeError(Exception):
    """A copy that may not be merged, said in one sentence."""


@dataclass(frozen=True)
class Merged:
    events: int
    through: int  # the copy's last event merged, ever (0: none)


def _copy_events(home: Path, after: int) -> list[dict[str, Any]]:
    database = Instance(home).database
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute(
            f"SELECT {_EVENT_COLUMNS} FROM audit_auditevent WHERE seq >= ? ORDER BY seq",  # noqa: S608  (constant columns)
            (after,),
        ).fetchall()
    return [dict(r) for r in rows]


def _at(text: Any) -> dt.datetime:
    value = text if isinstance(text, dt.datetime) else dt.datetime.fromisoformat(str(text))
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _check_bound(home: Path) -> dict[str, Any]:
    """The copy's mark, once the copy is shown to be of this instance (I5)."""
    from django.conf import settings

    from secretum.audit import entries, keys
    from secretum.backup import snapshot
    from secretum.instance import InstanceError

    marker = read_marker(home)
    if marker is None:
        raise MergeError(f"{home} is not a continuity copy (no {MARKER} in it).")
    this = snapshot.keys_of(settings.INSTANCE)[1]
    try:
        theirs = snapshot.keys_of(Instance(home))[1]
        their_mac = keys.load_mac_key(keys.AuditKeyPaths(home))
        their_public = keys.fingerprint(keys.load_public_key(keys.AuditKeyPaths(home)))
    except (InstanceError, OSError, ValueError) as exc:
        raise MergeError(f"{home} holds no readable key file or audit keys ({exc}).") from None
    if theirs != this or marker.get("instance") != this:
        raise MergeError(
            f"{home} is a copy of another instance's backup ({theirs[:12]}…, this instance is "
            f"{this[:12]}…): its audit events belong to that instance's log."
        )
    ours_public = keys.fingerprint(keys.load_public_key(entries.key_paths()))
    if not hmac.compare_digest(their_mac, entries.mac_key()) or their_public != ours_public:
        raise MergeError(f"{home} holds audit keys other than this instance's: not merged.")
    return marker


def _verify_copy_log(home: Path) -> None:
    from secretum.backup.restore import child_env

    done = subprocess.run(
        [sys.executable, "-m", "secretum.cli", "audit", "verify"],
        env={**child_env(home), "SECRETUM_READ_ONLY": "1"},
        capture_output=True, text=True, timeout=3600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        said = said.removeprefix("secretum: ")
        raise MergeError(f"The audit log of the continuity copy does not verify: {said}")


def _merged_through(copy_id: str) -> int:
    from secretum.audit.models import Action, AuditEvent, Outcome

    through = 0
    for detail in AuditEvent.objects.filter(
        action=Action.MAINTENANCE, resource=RESOURCE, resource_ref=copy_id, outcome=Outcome.SUCCESS
    ).values_list("detail", flat=True):
        through = max(through, int(json.loads(detail or "{}").get("through", 0)))
    return through


def _branches_at_head(rows: list[dict[str, Any]], head_seq: int) -> None:
    """The copy's log is this log up to the head its mark names, and its own after it: a mark
    moved back (to merge again events this log already holds) or forward is refused."""
    from secretum.audit.models import AuditEvent

    mine = dict(
        AuditEvent.objects.filter(seq__in=(head_seq, head_seq + 1)).values_list("seq", "leaf_hash")
    )
    theirs = {r["seq"]: r["leaf_hash"] for r in rows[:2]}
    shared = not head_seq or mine.get(head_seq) == theirs.get(head_seq)
    if not shared or (head_seq + 1 in theirs and mine.get(head_seq + 1) == theirs[head_seq + 1]):
        raise MergeError(
            f"The audit log of the continuity copy does not branch off this log at event "
            f"{head_seq}, where its mark says it was restored: not merged."
        )


def merge(home: Path) -> Merged:
    """I5: the copy's audit events since its restore, appended to this instance's log, once."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from secretum.access.actor import Actor, Purpose
    from secretum.audit import entries
    from secretum.audit.log import append_merged, record_event
    from secretum.audit.models import Action

    if settings.SECRETUM_READ_ONLY:
        raise MergeError("This is a continuity copy itself: merge on the server, once it is back.")
    home = home.resolve()
    marker = _check_bound(home)
    _verify_copy_log(home)
    copy_id, head = str(marker["copy"]), marker.get("head") or {}
    head_seq = int(head.get("seq", 0))
    rows = _copy_events(home, head_seq)
    if head_seq and (
        not rows or rows[0]["seq"] != head_seq or rows[0]["leaf_hash"] != head.get("leaf_hash")
    ):
        raise MergeError(
            f"The audit log of {home} does not continue the backup it was restored from."
        )
    _branches_at_head(rows, head_seq)
    done = _merged_through(copy_id)
    new = [r for r in rows if r["seq"] > max(head_seq, done)]
    key = entries.mac_key()
    for r in new:  # the rows read now are the rows verified: an event added since is checked too
        leaf = entries.leaf_of(entries.canonical(entries.event_values(_Row(r))))
        if leaf.hex() != r["leaf_hash"] or entries.mac_of(key, leaf).hex() != r["mac"]:
            raise MergeError(f"Event {r['seq']} of the continuity copy was altered: not merged.")
    if not new:
        return Merged(0, done)
    users = dict(get_user_model().objects.values_list("pk", "username"))
    with transaction.atomic():
        for r in new:
            actor_id = r["actor_id"] if users.get(r["actor_id"]) == r["actor_name"] else None
            detail = json.loads(r["detail"]) if r["detail"] else {}
            detail["continuity"] = {"copy": copy_id, "seq": r["seq"]}
            texts = {name: r[name] or "" for name in entries.TEXT_FIELDS if name != "detail"}
            append_merged(texts, _at(r["at"]), actor_id, detail)
        record_event(
            Actor.system(Purpose.MAINTENANCE),
            Action.MAINTENANCE,
            RESOURCE,
            resource_ref=copy_id,
            detail={"backup": str(marker.get("backup", ""))[:120], "merged": len(new),
                    "from": new[0]["seq"], "through": new[-1]["seq"]},
        )  # fmt: skip
    marker["merged_through"] = new[-1]["seq"]
    try:  # for the person who looks at the copy's folder; the server's log is the reference
        (home / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    except OSError:
        pass
    return Merged(len(new), new[-1]["seq"])


class _Row:
    """A copy's event row with the attributes ``entries.event_values`` reads."""

    def __init__(self, row: dict[str, Any]) -> None:
        self.__dict__.update(row)
        self.at = _at(row["at"])
