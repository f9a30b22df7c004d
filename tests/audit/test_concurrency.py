"""Several server processes appending at once on PostgreSQL form one log (D2): no fork, no gap,
no duplicate sequence number; the application's role holds INSERT and SELECT only.

A database and a role of their own: the writers run as real processes, with committed
transactions, as `secretum serve` workers would.
"""

from __future__ import annotations

import itertools
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

pytestmark = pytest.mark.postgresql

WRITERS = 4
EACH = 150
ROOT = Path(__file__).resolve().parents[2]


def _admin_connect(dbname: str) -> Any:
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname=dbname,
        user=db["USER"] or None,
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
    )


def _url(user: str, dbname: str) -> str:
    db = settings.DATABASES["default"]
    auth = user + (f":{db['PASSWORD']}" if db["PASSWORD"] and user == db["USER"] else "")
    return f"postgresql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{dbname}"


def _env(home: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECRETUM_")}
    env.update(
        SECRETUM_HOME=str(home),
        SECRETUM_DATABASE_URL=url,
        PYTHONPATH=str(ROOT),
        DJANGO_SETTINGS_MODULE="secretum.settings",
    )
    env.pop("PYTEST_VERSION", None)
    return env


def _secretum(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secretum.cli", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def database(tmp_path: Path) -> Any:
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("PostgreSQL only (SECRETUM_DATABASE_URL)")
    suffix = secrets.token_hex(4)
    name, role = f"secretum_conc_{suffix}", f"secretum_app_{suffix}"
    with _admin_connect("postgres") as admin:
        admin.execute(f"CREATE DATABASE {name}")
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        yield name, role, tmp_path / "var"
    finally:
        with _admin_connect("postgres") as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {role}")


def test_concurrent_writers_form_one_log(database: tuple[str, str, Path]) -> None:
    name, role, home = database
    owner_env = _env(home, _url(settings.DATABASES["default"]["USER"], name))
    done = _secretum(owner_env, "init")
    assert done.returncode == 0, done.stderr
    done = _secretum(owner_env, "audit", "grant", "--role", role, "--apply")
    assert done.returncode == 0, done.stderr

    app_env = _env(home, _url(role, name))
    start_at = time.time() + 3
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.audit._writer", str(EACH), str(start_at), f"w{i}"],
            env=app_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(WRITERS)
    ]
    # The signer runs while they write: its checkpoints must hold too.
    time.sleep(3.2)
    signed = [_secretum(app_env, "audit", "checkpoint") for _ in range(2)]
    for w in writers:
        _out, err = w.communicate(timeout=240)
        assert w.returncode == 0, err
    for s in signed:
        assert s.returncode == 0, s.stderr
    final = _secretum(app_env, "audit", "checkpoint")
    assert final.returncode == 0, final.stderr

    with _admin_connect(name) as db:
        seqs = [r[0] for r in db.execute("SELECT seq FROM audit_auditevent ORDER BY id")]
        order = [
            r[0]
            for r in db.execute(
                "SELECT source FROM audit_auditevent WHERE source LIKE 'w%%' ORDER BY seq"
            )
        ]
        per_writer = dict(
            db.execute(
                "SELECT source, COUNT(*) FROM audit_auditevent WHERE resource = 'session' "
                "AND source LIKE 'w%%' GROUP BY source"
            ).fetchall()
        )
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, no duplicate, insertion order
    assert per_writer == {f"w{i}": EACH for i in range(WRITERS)}
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > WRITERS * 5, "the writers did not run at the same time"

    verify = _secretum(app_env, "audit", "verify")
    assert verify.returncode == 0, verify.stderr
    assert f"{len(seqs)} events verified" in verify.stdout
    assert f"the first {len(seqs)} match the checkpoint" in verify.stdout

    # The application's role may append and read, never change or remove (D2).
    import psycopg

    with psycopg.connect(_url(role, name), autocommit=True) as app:
        for sql in (
            "UPDATE audit_auditevent SET outcome = 'denied' WHERE seq = 1",
            "DELETE FROM audit_auditevent WHERE seq = 1",
            "TRUNCATE audit_auditevent",
            "DROP TRIGGER audit_auditevent_append_only ON audit_auditevent",
            "UPDATE audit_auditcheckpoint SET tree_size = 0",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(sql)
