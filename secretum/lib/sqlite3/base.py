"""Django's SQLite backend, with the writers of every process queued in turn (issue 17).

SQLite has one write lock. A transaction that finds it taken (``BEGIN IMMEDIATE``) is made to
wait by SQLite's busy handler, which does not wait for the lock to be released: it sleeps 1, 2,
5, 10, 15, 20, 25… ms and tries again. Under many users at once, writers who missed the lock
twice slept longer than the writes they waited for took, the processor stood idle while requests
queued, and throughput stopped growing well before the processor was busy.

Here a write transaction first takes an exclusive ``flock`` on a file beside the database (one
open file per connection, so that two threads of one process queue as two processes do), which
the kernel hands to the next waiter the moment it is released; then SQLite's lock, which is
then free. It is released when the transaction commits or rolls back, or the connection closes.
Reads never take it (WAL: readers do not wait), nor does a database in memory. SQLite's own
lock stays the only guarantee of one writer at a time: the queue only decides who asks next,
and a writer outside it (another program, a statement outside a transaction) is still made to
wait by SQLite as before.

Each statement's placeholders are turned into SQLite's (``%s`` into ``?``) once per process and
text (``Cursor``): Django does it with a regular expression at every execution, 2.8 % of a chart
opening's processor time (a py-spy profile, bench/README.md).
"""

from __future__ import annotations

import fcntl
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.backends.sqlite3 import base

# The transaction modes that take the write lock at BEGIN.
_WRITES = frozenset({"IMMEDIATE", "EXCLUSIVE"})

# The statements' texts are few (the ORM's and lib.rawrows' are composed the same way each time),
# the longest read a chart's entries in about 4,400 characters; a longer text (a bulk insert's,
# its length growing with its rows) is converted each time, and the oldest leave first: at most
# 1,024 × 16 KiB kept in a process.
_TEXTS = 1024
_LONGEST = 16384


def _convert(query: str) -> str:
    return base.FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")


_qmark = functools.lru_cache(maxsize=_TEXTS)(_convert)


class Cursor(base.SQLiteCursorWrapper):
    """Django's cursor, each statement's ``%s`` turned into ``?`` once for all its executions.
    Named parameters (``%(name)s``) are Django's conversion, unchanged."""

    def convert_query(self, query: str, *, param_names: list[str] | None = None) -> str:
        if param_names is None:
            return _qmark(query) if len(query) <= _LONGEST else _convert(query)
        return super().convert_query(query, param_names=param_names)


# django-stubs types the backend's public surface only; these are its private hooks.
_SQLite: Any = base.DatabaseWrapper


class DatabaseWrapper(_SQLite):
    transaction_mode: str | None  # Django's: the mode of BEGIN ("IMMEDIATE", dburl.py)
    _queue_fd = -1
    _queued = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        name = str(self.settings_dict["NAME"])
        if not self.is_in_memory_db() and not name.startswith("file:"):
            self._queue_fd = os.open(
                name + "-writers", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        return connection

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=Cursor)

    def _start_transaction_under_autocommit(self) -> None:
        took = self._queue_fd >= 0 and not self._queued and self.transaction_mode in _WRITES
        if took:
            fcntl.flock(self._queue_fd, fcntl.LOCK_EX)
            self._queued = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            if took:  # a BEGIN refused; never the turn of a transaction already open
                self._leave()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._leave()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._leave()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._leave()
            if self._queue_fd >= 0:
                os.close(self._queue_fd)
                self._queue_fd = -1

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read-only transaction (``access.guard``, issue 17): ``BEGIN DEFERRED``, so every
        statement inside sees the same committed state and no write lock (nor turn in the queue)
        is taken; refused at its end if anything was written, which would otherwise fail only
        now and then (the snapshot older than another writer's commit)."""
        self.ensure_connection()
        before = self.connection.total_changes
        mode, self.transaction_mode = self.transaction_mode, "DEFERRED"
        try:
            with transaction.atomic(using=self.alias):
                self.transaction_mode = mode  # BEGIN DEFERRED was sent
                yield
                if self.connection.total_changes != before:
                    raise RuntimeError("a read or a search wrote to the database")
        finally:
            self.transaction_mode = mode

    def _leave(self) -> None:
        if self._queued:
            self._queued = False
            fcntl.flock(self._queue_fd, fcntl.LOCK_UN)
