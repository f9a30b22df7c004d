"""One checkpoint signer at a time, elected through PostgreSQL (D2, issue 17).

A hosting provider may serve one practice from several nodes (`secretum serve` on each, one
PostgreSQL). Each node starts its own signer (``secretum audit checkpoint --every N``); only the
one that holds PostgreSQL's session advisory lock ``SIGNER_LOCK`` signs, the others stand by and
ask again at each beat. The lock belongs to a connection of its own, held for as long as the
signer runs: when that process ends (stopped, killed, its node powered off), PostgreSQL ends the
session and frees the lock, and the next standby to ask takes over. No configuration names the
leader, so no configuration can name two.

Before each signing the leader asks PostgreSQL again whether its session still holds the lock
(``holds``): a leader whose connection was cut (a network partition, a server restart) has lost
it, and signs nothing until it wins it back. A signature written by a leader in that instant
would still be safe: ``create_checkpoint`` writes under a transaction lock and refuses a second
checkpoint of the same size.

On SQLite the database is a file of one server: the signer that ``serve`` starts there is the
only one, and always leads.
"""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connections

# The session advisory lock of the signer (the transaction lock of checkpoints.py is another).
SIGNER_LOCK = 0x5EC7E7A3
# Whether this session holds it: a bigint key is classid (high 32 bits) and objid (low 32 bits).
_HELD = (
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted "
    "AND pid = pg_catalog.pg_backend_pid() AND objsubid = 1 "
    "AND ((classid::bigint << 32) | objid::bigint) = %s)"
)


class Election:
    """This process's candidacy: ``holds()`` is True while it is the one signer."""

    def __init__(self, alias: str = "default") -> None:
        self.alias = alias
        self._wrapper: Any = None  # a connection of its own, never Django's shared one

    @property
    def contested(self) -> bool:
        """Whether several nodes may run a signer (PostgreSQL), so that one must be elected."""
        return connections[self.alias].vendor == "postgresql"

    def holds(self) -> bool:
        """Whether this process leads now: the lock still held by its session, or won now. False
        when the database cannot be reached."""
        if not self.contested:
            return True
        try:
            if self._wrapper is None:
                self._wrapper = connections.create_connection(self.alias)
            with self._wrapper.cursor() as cur:
                cur.execute(_HELD, [SIGNER_LOCK])
                (held,) = cur.fetchone()
                if not held:  # asked once: a session's advisory locks stack
                    cur.execute("SELECT pg_catalog.pg_try_advisory_lock(%s)", [SIGNER_LOCK])
                    (held,) = cur.fetchone()
            return bool(held)
        except DatabaseError:
            self.resign()  # a connection that failed holds nothing any more: a new one next time
            return False

    def resign(self) -> None:
        """Leave the election: the lock is freed with the session."""
        if self._wrapper is not None:
            self._wrapper.close()  # a connection already cut closes without a word
        self._wrapper = None
