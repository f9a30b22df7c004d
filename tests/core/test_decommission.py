"""`secretum decommission` as a practice runs it (K3): real processes, a real instance folder.

The attacker comes after: they hold a backup made before, and whatever of the instance's files
they can still reach, here through hard links made beforehand (the same blocks a forensic look
at the disk would find on a plain file system). After a decommission none of it reads: the key
file, the database and the audit keys are random bytes, and the backup no longer restores
without recovery material kept apart. Until then, nothing is destroyed: without the instance
named, with a server running, with the certificate inside the folder, the folder is untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from secretum import decommission
from secretum.lib import openfiles
from tests.audit.elsewhere import witness_elsewhere
from tests.instances import INIT_SETTINGS, fresh


def run(
    home: Path, *args: str, cwd: Path, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SECRETUM_") and k != "DJANGO_SETTINGS_MODULE"
    }
    environ.update(
        SECRETUM_HOME=str(home), SECRETUM_AUDIT_WITNESS=str(witness_elsewhere(str(home)))
    )
    environ["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=environ, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip


def _files(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _instance(tmp_path: Path, **env: str) -> tuple[Path, str]:
    home = tmp_path / "var"
    demo = ("--patients", "3", "--seed", "4")
    if INIT_SETTINGS.isdisjoint(env):  # as `init` and `demo` leave it: a copy (tests/instances.py)
        fresh(home, witness_elsewhere(str(home)), demo=demo)
    else:
        assert run(home, "init", cwd=tmp_path, **env).returncode == 0
        made = run(home, "demo", *demo, cwd=tmp_path, **env)
        assert made.returncode == 0, made.stderr
    refused = run(home, "decommission", cwd=tmp_path, **env)  # names the instance, destroys none
    assert refused.returncode != 0 and "Nothing was destroyed" in refused.stderr
    instance_id = refused.stdout.split("Type the instance id (")[1].split(")")[0]
    assert len(instance_id) == 32
    return home, instance_id


def test_decommission_leaves_nothing_readable_and_a_backup_made_before_does_not_restore(
    tmp_path: Path,
) -> None:
    """K3: the key file, the database and the audit keys are overwritten in place (their hard
    links read random bytes), the folder and this instance's recovery files in the current
    folder are gone, the certificate says what was done and what remains; a backup made before
    restores only with a copy of the key file kept apart (the recovery material's role)."""
    home, instance_id = _instance(tmp_path)
    backup = run(home, "backup", "create", "--to", str(tmp_path / "offsite"), cwd=tmp_path)
    assert backup.returncode == 0, backup.stderr
    made = run(home, "keys", "backup", "--passphrase", cwd=tmp_path,
               SECRETUM_RECOVERY_PASSPHRASE="fictitious recovery passphrase 2026")  # fmt: skip
    assert made.returncode == 0, made.stderr
    recovery = sorted(tmp_path.glob("secretum-recovery-*"))
    assert len(recovery) == 2
    kept_apart = tmp_path / "kept-apart.key"  # what recovery material would rebuild
    kept_apart.write_bytes((home / "secretum.key").read_bytes())
    kept_apart.chmod(0o600)
    links = {}
    for name in ("secretum.key", "data/secretum.sqlite3", "audit/checkpoint-signing.key"):
        if (home / name).exists():
            links[name] = (tmp_path / f"link-{Path(name).name}", (home / name).read_bytes())
            os.link(home / name, links[name][0])
    assert len(links) == 3
    certificate = tmp_path / "certificate.txt"

    done = run(
        home, "decommission", "--confirm-instance", instance_id, "--yes-destroy-everything",
        "--certificate", str(certificate), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    assert not home.exists()
    assert not list(tmp_path.glob("secretum-recovery-*"))
    for link, before in links.values():
        after = link.read_bytes()
        assert len(after) == len(before) and after != before
        assert not after.startswith((b"SQLite format 3", b"{", b"-----BEGIN"))
    text = certificate.read_text()
    assert text in done.stdout
    for expected in (
        instance_id, "By:", "[done] key file", "[done] database file", "physically destroyed",
        "NIST SP 800-88", "Recovery material", recovery[0].name.split("-")[2], "witness",
    ):  # fmt: skip
        assert expected in text, expected
    assert "NOT DONE" not in text
    (path,) = (tmp_path / "offsite").iterdir()
    for key in (links["secretum.key"][0], tmp_path / "nowhere.key"):
        lost = run(tmp_path / "nowhere", "restore", str(path), "--home", str(tmp_path / "new"),
                   "--key-file", str(key), cwd=tmp_path)  # fmt: skip
        assert lost.returncode != 0 and not (tmp_path / "new").exists()
    back = run(tmp_path / "nowhere", "restore", str(path), "--home", str(tmp_path / "new"),
               "--key-file", str(kept_apart), cwd=tmp_path)  # fmt: skip
    assert back.returncode == 0, back.stderr  # why the certificate says to destroy that too


def test_without_the_instance_named_or_with_a_server_running_nothing_is_destroyed(
    tmp_path: Path,
) -> None:
    """K3: every refusal leaves the folder as it was, byte for byte."""
    home, instance_id = _instance(tmp_path)
    before = _files(home)
    yes = ("--yes-destroy-everything", "--certificate", str(tmp_path / "c.txt"))
    (tmp_path / "taken.txt").write_text("an earlier certificate")
    holder = subprocess.Popen(  # a process holding the database open, as a server's worker does
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         "db = sqlite3.connect(sys.argv[1]); db.execute('SELECT 1').fetchall()\n"
         "print('open', flush=True); time.sleep(60)", str(home / "data" / "secretum.sqlite3")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        served = run(home, "decommission", "--confirm-instance", instance_id, *yes, cwd=tmp_path)
        assert f"process {holder.pid} (python" in served.stderr
        assert served.returncode != 0
    finally:
        holder.kill()
        holder.wait()
    confirmed = ["--confirm-instance", instance_id, "--yes-destroy-everything"]
    wrong = instance_id[:-1] + ("1" if instance_id.endswith("0") else "0")  # one letter off
    cases: list[tuple[list[str], str, str]] = [
        ([], "", "was not typed"),
        ([], wrong + "\n", "was not typed"),
        (["--yes-destroy-everything"], "", "needs --confirm-instance"),
        (["--confirm-instance", "0" * 32, *yes], "", "needs --confirm-instance"),
        (["--confirm-instance", instance_id], instance_id + "\n", "is for scripts"),
        ([*confirmed, "--certificate", str(home / "c.txt")], "", "inside the instance folder"),
        ([*confirmed, "--certificate", str(tmp_path / "taken.txt")], "", "already exists"),
    ]
    for args, typed, message in cases:
        done = run(home, "decommission", *args, cwd=tmp_path, stdin=typed)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
        assert "Nothing was destroyed" in done.stderr or "already exists" in done.stderr
    (home / "run").mkdir(mode=0o700)
    (home / "run" / "audit-signer.alive").write_text("4242\n")  # the signer beat just now
    signer = run(home, "decommission", "--confirm-instance", instance_id, *yes, cwd=tmp_path)
    assert signer.returncode != 0 and "'secretum serve' is running" in signer.stderr
    (home / "run" / "audit-signer.alive").unlink()
    (home / "run").rmdir()
    assert _files(home) == before and not (tmp_path / "c.txt").exists()
    empty = run(tmp_path / "none", "decommission", cwd=tmp_path)
    assert empty.returncode != 0 and "No instance in" in empty.stderr


def test_a_run_stopped_after_the_key_file_finishes_when_run_again(tmp_path: Path) -> None:
    """K3: a run stopped once the key file was destroyed (the marker names the instance) is
    run again, with the same confirmation, to the end."""
    home, instance_id = _instance(tmp_path)
    (home / decommission.MARKER).write_text(f'{{"instance": "{instance_id}"}}')
    decommission.shred(home / "secretum.key")
    done = run(
        home, "decommission", "--confirm-instance", instance_id, "--yes-destroy-everything",
        "--certificate", str(tmp_path / "c.txt"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "already destroyed by a first run" in done.stdout and not home.exists()


def test_shred_overwrites_in_place_and_never_follows_a_link(tmp_path: Path) -> None:
    """K3: a file's blocks are overwritten before it is removed; a symbolic link in the folder
    is removed, its target elsewhere left as it is; a folder goes with all it holds."""
    folder = tmp_path / "folder"
    (folder / "deep").mkdir(parents=True)
    secret = folder / "deep" / "secret"
    secret.write_bytes(b"fictitious secret " * 1000)
    os.link(secret, tmp_path / "seen")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not the instance's")
    (folder / "link").symlink_to(elsewhere)
    (folder / "dirlink").symlink_to(tmp_path)
    assert decommission.shred_tree(folder) == (2, 18000)
    assert not folder.exists() and elsewhere.read_bytes() == b"not the instance's"
    seen = (tmp_path / "seen").read_bytes()
    assert len(seen) == 18000 and b"fictitious" not in seen


def test_holders_name_the_process_and_the_file(tmp_path: Path) -> None:
    """K3: another process holding a file of the folder open is found; this process is not."""
    (tmp_path / "held").write_text("x")
    mine = open(tmp_path / "held")  # held open while looking
    try:
        assert openfiles.holders(tmp_path) == []
        other = subprocess.Popen(
            [sys.executable, "-c", "import sys, time; f = open(sys.argv[1]); print(1, flush=True);"
             " time.sleep(30)", str(tmp_path / "held")],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert other.stdout is not None and other.stdout.readline() == "1\n"
            (found,) = [h for h in openfiles.holders(tmp_path) if h.pid == other.pid]
            assert found.path == str(tmp_path / "held") and found.name.startswith("python")
        finally:
            other.kill()
            other.wait()
    finally:
        mine.close()


@pytest.mark.postgresql
def test_decommission_on_postgresql_drops_the_schema(tmp_path: Path) -> None:
    """K3 on PostgreSQL: every table dropped (the server's disks named as the DBA's part),
    the folder destroyed as on SQLite."""
    from tests.core.test_instance_key import _admin, _server

    server: dict[str, Any] = _server()
    name = f"hdec_{secrets.token_hex(3)}"
    host = f"{server['HOST'] or '127.0.0.1'}:{server['PORT'] or 5432}"
    url = f"postgresql://{server['USER']}@{host}/{name}"
    with _admin(server) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        home, instance_id = _instance(tmp_path, SECRETUM_DATABASE_URL=url)
        done = run(
            home, "decommission", "--confirm-instance", instance_id, "--yes-destroy-everything",
            "--certificate", str(tmp_path / "c.txt"), cwd=tmp_path, SECRETUM_DATABASE_URL=url,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert not home.exists()
        text = (tmp_path / "c.txt").read_text()
        assert "[done] PostgreSQL database" in text and "database administrator" in text
        import psycopg

        with psycopg.connect(
            dbname=name, user=server["USER"] or None, password=server["PASSWORD"] or None,
            host=server["HOST"] or None, port=server["PORT"] or None,
        ) as db:  # fmt: skip
            tables = db.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
            assert tables == (0,)
    finally:
        with _admin(server) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_certificate_lists_what_lies_outside_the_folder(tmp_path: Path) -> None:
    """K3: backups kept outside the folder, the second target, logs and TLS files set up
    elsewhere are named for the practice to deal with; scans waiting in the intake folder are
    shredded."""
    run_ = decommission.Run(
        tmp_path,
        "a" * 32,
        "sqlite",
        "db",
        "someone",
        decommission.dt.datetime.now(decommission.dt.UTC),
    )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.scbk").write_bytes(b"x")
    outside = decommission.Outside(
        backups=tmp_path / "b", copy_to="sftp://backup@nas/secretum", witness=None,
        logs=tmp_path / "logs", tls=[tmp_path / "cert.pem"], intake=None,
    )  # fmt: skip
    decommission._remaining(run_, outside)
    text = decommission.certificate_text(run_, {})
    for expected in ("1 backup files", "sftp://backup@nas/secretum", "SECRETUM_LOG_DIR",
                     "cert.pem", "none recorded"):  # fmt: skip
        assert expected in text, expected


def test_a_folder_that_is_a_link_is_removed_never_followed(tmp_path: Path) -> None:
    """K3: an instance's key folder (tls/, audit/) may be a symbolic link to another disk: the
    link goes, what it points to (outside the instance) stays as it was."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "k.pem").write_bytes(b"not this instance's")
    home = tmp_path / "home"
    home.mkdir()
    (home / "tls").symlink_to(elsewhere, target_is_directory=True)
    assert decommission.shred_tree(home / "tls") == (0, 0)
    assert not (home / "tls").exists() and not (home / "tls").is_symlink()
    assert (elsewhere / "k.pem").read_bytes() == b"not this instance's"


def test_a_key_file_kept_elsewhere_is_the_one_destroyed(tmp_path: Path) -> None:
    """K3: with the key file named by SECRETUM_KEY_FILE (a container's secret mount, kept out of
    the instance folder), that file is the one overwritten and removed."""
    home = fresh(tmp_path / "var", witness_elsewhere(str(tmp_path / "var")))
    elsewhere = tmp_path / "secrets"
    elsewhere.mkdir(mode=0o700)
    (home / "secretum.key").rename(elsewhere / "secretum.key")
    env = {"SECRETUM_KEY_FILE": str(elsewhere / "secretum.key")}
    refused = run(home, "decommission", cwd=tmp_path, **env)
    assert refused.returncode != 0 and "Nothing was destroyed" in refused.stderr, refused.stderr
    instance_id = refused.stdout.split("Type the instance id (")[1].split(")")[0]
    done = run(
        home, "decommission", "--confirm-instance", instance_id, "--yes-destroy-everything",
        "--certificate", str(tmp_path / "c.txt"), cwd=tmp_path, **env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert not (elsewhere / "secretum.key").exists() and not home.exists()
    assert str(elsewhere / "secretum.key") in (tmp_path / "c.txt").read_text()


def test_another_instances_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    """K3: a ``SECRETUM_DATABASE_URL`` naming another practice's database (a wrong line in the
    service's environment): the key file does not belong to it, so nothing is destroyed, neither
    that database nor this folder. A run stopped midway goes on only with its marker's database."""
    home, instance_id = _instance(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    assert run(other / "var", "init", cwd=other).returncode == 0
    theirs, mine = _files(other / "var"), _files(home)
    url = f"sqlite:///{other / 'var' / 'data' / 'secretum.sqlite3'}"
    confirmed = ("--confirm-instance", instance_id, "--yes-destroy-everything")
    certificate = ("--certificate", str(tmp_path / "c.txt"))
    done = run(
        home, "decommission", *confirmed, *certificate, cwd=tmp_path, SECRETUM_DATABASE_URL=url
    )
    assert done.returncode != 0, done.stdout
    assert "does not belong to this instance's key file" in done.stderr, done.stderr
    assert "Nothing was destroyed" in done.stderr
    assert _files(other / "var") == theirs and _files(home) == mine
    assert not (tmp_path / "c.txt").exists()
    (home / decommission.MARKER).write_text(
        json.dumps({"instance": instance_id, "database": "/elsewhere/secretum.sqlite3"})
    )
    again = run(home, "decommission", *confirmed, *certificate, cwd=tmp_path)
    assert again.returncode != 0 and "destroying the database /elsewhere" in again.stderr
    assert (home / "secretum.key").exists()
