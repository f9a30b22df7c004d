"""SQLite's writers queued in turn (issue 17, ``secretum.lib.sqlite3``): a write transaction holds
the queue's lock from its BEGIN to its COMMIT or ROLLBACK, and never after, however it ends; a
read holds nothing. Each test asks the lock file itself, as another process would."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, connections, transaction

from secretum.lib import dburl
from secretum.lib.sqlite3.base import DatabaseWrapper

pytestmark = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's queue")


@pytest.fixture(autouse=True)
def _own_databases(django_db_blocker: Any) -> Iterator[None]:
    """Each test opens databases of its own in a scratch folder, not the test database."""
    with django_db_blocker.unblock():
        yield


@contextmanager
def _database(tmp_path: Path) -> Iterator[DatabaseWrapper]:
    config = dburl.sqlite_config(tmp_path / "queue.sqlite3")
    config.update({"TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False})
    database = DatabaseWrapper(config, alias="queue-test")
    try:
        with database.cursor() as cur:
            cur.execute("CREATE TABLE t (n INTEGER)")
        yield database
    finally:
        database.close()


def _queued(path: Path) -> bool:
    """Whether a writer holds the queue now: another open file of it tries to take it."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _atomic(database: DatabaseWrapper) -> Any:
    return transaction.atomic(using=database.alias)


def test_a_write_holds_the_queue_until_it_commits_or_rolls_back(tmp_path: Path) -> None:
    with _database(tmp_path) as database:
        connections["queue-test"] = database
        try:
            lock = tmp_path / "queue.sqlite3-writers"
            assert not _queued(lock)
            with _atomic(database):
                database.cursor().execute("INSERT INTO t VALUES (1)")
                assert _queued(lock)
            assert not _queued(lock)
            with pytest.raises(ValueError), _atomic(database):
                database.cursor().execute("INSERT INTO t VALUES (2)")
                assert _queued(lock)
                raise ValueError("rolled back")
            assert not _queued(lock)
            with _atomic(database):
                database.cursor().execute("INSERT INTO t VALUES (3)")
                database.close()  # a connection closed in the middle (a worker stopping)
            assert not _queued(lock)
            with database.cursor() as cur:
                cur.execute("SELECT n FROM t ORDER BY n")
                assert [n for (n,) in cur.fetchall()] == [1]
        finally:
            del connections["queue-test"]


def test_a_read_holds_nothing_and_a_failed_begin_leaves_the_queue(tmp_path: Path) -> None:
    with _database(tmp_path) as database:
        connections["queue-test"] = database
        try:
            lock = tmp_path / "queue.sqlite3-writers"
            database.transaction_mode = "DEFERRED"
            with _atomic(database):
                database.cursor().execute("SELECT COUNT(*) FROM t")
                assert not _queued(lock)
            database.transaction_mode = "IMMEDIATE"
            with _atomic(database):  # a transaction already open: BEGIN fails
                with pytest.raises(DatabaseError), database.wrap_database_errors:
                    database._start_transaction_under_autocommit()
                assert _queued(lock)  # the open transaction keeps its turn
            assert not _queued(lock)
            with database.cursor() as cur:  # the queue taken elsewhere: a BEGIN refused
                cur.execute("BEGIN")
                with pytest.raises(DatabaseError), database.wrap_database_errors:
                    database._start_transaction_under_autocommit()
                assert not _queued(lock)
                cur.execute("ROLLBACK")
        finally:
            del connections["queue-test"]


def test_writers_of_two_threads_take_turns(tmp_path: Path) -> None:
    """A race: two threads, each with its own connection, write at once; the second waits in
    the queue (not in SQLite's busy handler) and both writes land."""
    config = dburl.sqlite_config(tmp_path / "queue.sqlite3")
    config.update({"TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False})
    with _database(tmp_path):
        pass
    inside = threading.Event()
    release = threading.Event()
    failures: list[BaseException] = []

    def write(n: int, hold: bool) -> None:
        database = DatabaseWrapper(config, alias=f"queue-{n}")
        connections[f"queue-{n}"] = database
        try:
            with transaction.atomic(using=database.alias):
                database.cursor().execute("INSERT INTO t VALUES (%s)", [n])
                if hold:
                    inside.set()
                    release.wait(10)
        except BaseException as exc:
            failures.append(exc)
        finally:
            database.close()

    first = threading.Thread(target=write, args=(1, True))
    first.start()
    assert inside.wait(10)
    second = threading.Thread(target=write, args=(2, False))
    second.start()
    second.join(0.3)
    assert second.is_alive() and _queued(tmp_path / "queue.sqlite3-writers")
    release.set()
    first.join(10)
    second.join(10)
    assert failures == [] and not first.is_alive() and not second.is_alive()
    with _database_reopened(config) as database, database.cursor() as cur:
        cur.execute("SELECT n FROM t ORDER BY n")
        assert [n for (n,) in cur.fetchall()] == [1, 2]


@contextmanager
def _database_reopened(config: dict[str, Any]) -> Iterator[DatabaseWrapper]:
    database = DatabaseWrapper(config, alias="queue-read")
    try:
        yield database
    finally:
        database.close()
