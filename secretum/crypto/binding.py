"""One key file, one database (O2, G3, E10, H3).

Every identity and medical value is sealed under keys that live in the instance's key file, never
in the database. A database run with another installation's key file (a copy put in its place,
or a fresh ``secretum init`` pointed at a database that already holds an installation) would
seal new patients under the wrong key, unreadable once the right key file is back, and would
break the audit log for good. So the database records the fingerprint of the key file that
belongs to it (``KeyFingerprint``; ``keyring.fingerprint_of``: keyed, one-way, never a key),
and nothing runs with another key file:

- each process checks once (``verify_once``): ``secretum <command>`` before the command runs
  (``secretum.cli``), ``secretum check`` through the system check ``secretum.E301``
  (``crypto.checks``), each web process before it serves its first request
  (``verify_before_first_request``); a migrate checks again after it (``bind_after_migrate``);
- ``secretum init`` refuses a database that already holds an installation before it writes a
  key (``refuse_installed_database``), and records the new key file's fingerprint when it first
  migrates the database (``bind_after_migrate``, after every migrate).

A matching fingerprint is not all: the newest sealed values of the database must open under the
key file too (``sample_opens``), so a database whose fingerprint row was rewritten or deleted by
someone holding it is refused as well.

Upgrade: a database made before the record existed (Secretum data, no fingerprint row) adopts the
present key file only when every sampled sealed value opens under it; the row is written once,
at the first start (any command, or the migrate that creates the table), with a message.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from secretum.crypto import keyring
from secretum.crypto.models import KeyFingerprint
from secretum.instance import InstanceError
from secretum.lib import dburl

logger = logging.getLogger(__name__)

# How many of the newest patients and of the newest authenticator seeds are opened at each start.
SAMPLE = 3


class KeyMismatch(InstanceError):
    """The key file does not belong to the database: one sentence, with what to do."""

    def __init__(self, fact: str, hint: str) -> None:
        super().__init__(f"{fact}: {hint}.")
        self.fact = fact
        self.hint = hint


def database_name(using: str = DEFAULT_DB_ALIAS) -> str:
    """The database as a person names it, without its password."""
    return dburl.describe(connections[using].settings_dict)


def _mismatch(using: str, why: str) -> KeyMismatch:
    return KeyMismatch(
        f"The key file {settings.INSTANCE.key_file} does not belong to the database at "
        f"{database_name(using)} ({why})",
        "restore the key file that belongs to this database, or set SECRETUM_HOME to this "
        "database's own instance folder",
    )


def _behind(using: str, why: str) -> KeyMismatch:
    """The installation's own key file (its fingerprint is the recorded one) without the keys
    the database uses now: a serving node's copy made before a rotation on another node (issue
    17, ``secretum.crypto.nodes``), an old copy put back, or values altered in the database."""
    return KeyMismatch(
        f"The key file {settings.INSTANCE.key_file} is the one of the installation in the "
        f"database at {database_name(using)}, but {why}: an older copy of it (a key rotation "
        "made on another node since), or values altered in the database",
        "give this node the current key material ('secretum node export' on a node that "
        "serves, 'secretum node join FILE' here) or put back the current key file; if every "
        "node's key file is current, run 'secretum records verify' on one of them",
    )


def _tables(using: str) -> set[str]:
    return set(connections[using].introspection.table_names())


def installation_table(using: str = DEFAULT_DB_ALIAS, tables: set[str] | None = None) -> str | None:
    """The first table of a Secretum app that holds a row, or None: a database with none holds
    no installation."""
    tables = _tables(using) if tables is None else tables
    for config in apps.get_app_configs():
        if not config.name.startswith("secretum."):
            continue
        for model in config.get_models():
            table = model._meta.db_table
            if table in tables and model._base_manager.using(using).exists():
                return table
    return None


def _new_sqlite_file(using: str) -> bool:
    """A SQLite database whose file does not exist yet: nothing in it, and nothing created by
    looking (connecting would create it)."""
    config = connections[using].settings_dict
    return str(config["ENGINE"]).endswith("sqlite3") and not Path(str(config["NAME"])).exists()


def recorded_fingerprint(using: str = DEFAULT_DB_ALIAS) -> KeyFingerprint | None:
    """The key file's fingerprint the database recorded, or None where it holds none (a new
    SQLite file, a database without the table or without the row): ``secretum node join``."""
    if _new_sqlite_file(using) or KeyFingerprint._meta.db_table not in _tables(using):
        return None
    return KeyFingerprint.objects.using(using).filter(pk=1).first()


def refuse_installed_database(using: str = DEFAULT_DB_ALIAS) -> None:
    """``secretum init``: refuse a database that already holds an installation (H3, O2), before
    any key is written. Its data are sealed under its own key file; a new one would open none."""
    if _new_sqlite_file(using):
        return
    table = installation_table(using)
    if table is not None:
        raise InstanceError(
            f"The database at {database_name(using)} already holds a Secretum installation "
            f"(its table {table} has rows): 'secretum init' writes no new key file for it; set "
            "SECRETUM_HOME to that installation's instance folder, with its own key file."
        )


def sample_opens(using: str = DEFAULT_DB_ALIAS, tables: set[str] | None = None) -> tuple[int, int]:
    """(opened, tried): the newest sealed values of the database, opened under this process's
    key file. A patient opens when its data key unwraps under the KEK and its national number's
    blind index is found under the blind-index key; an authenticator seed when it unseals under
    the KEK. Rows are read by column (``values_list``), so an older schema is read too."""
    tables = _tables(using) if tables is None else tables
    opened = tried = 0
    # By the registry, not by import: crypto sits below patients and accounts (ARCHITECTURE.md).
    patient = apps.get_model("patients", "Patient")
    token = apps.get_model("patients", "SearchToken")
    factor = apps.get_model("accounts", "Factor")
    if patient._meta.db_table in tables and token._meta.db_table in tables:
        patients = patient._base_manager.using(using).order_by("-id")
        for pk, uid, wrapped, niss in patients.values_list("id", "uid", "wrapped_key", "niss")[
            :SAMPLE
        ]:
            tried += 1
            opened += _patient_opens(using, token, pk, str(uid), wrapped, niss)
    if factor._meta.db_table in tables:
        seeds = factor._base_manager.using(using).exclude(totp_secret=None).order_by("-id")
        for user_id, secret in seeds.values_list("user_id", "totp_secret")[:SAMPLE]:
            tried += 1
            try:
                # The associated data of accounts.services.totp_aad.
                keyring.open_secret(secret or b"", f"accounts.Factor.totp:{user_id}")
                opened += 1
            except keyring.DecryptionError:
                pass
    return opened, tried


def _patient_opens(using: str, token: Any, pk: int, uid: str, wrapped: Any, niss: Any) -> bool:
    try:
        # The associated data of patients.services.key_aad and SealedModel.aad.
        key = keyring.unwrap_data_key(wrapped, f"patients.Patient:{uid}")
        number = key.open(niss, f"patients.Patient.niss:{uid}")
    except keyring.DecryptionError:
        return False
    if not number:
        return True
    digests = keyring.blind_indexes("niss", number)
    return bool(
        token._base_manager.using(using)
        .filter(patient_id=pk, kind="niss", token__in=digests)
        .exists()
    )


def require_key_belongs(using: str = DEFAULT_DB_ALIAS, *, record: bool = False) -> str | None:
    """Refuse (``KeyMismatch``) unless this process's key file belongs to the database.

    It belongs when the recorded fingerprint is its own and the sampled sealed values open under
    it. With no fingerprint recorded yet, sampled values that open are enough; ``record`` then
    writes the row (where the table exists) and returns the sentence to show when the database
    already held an installation (the upgrade of an older instance), None otherwise.
    """
    mine = keyring.key_fingerprint()  # a damaged key file is named before any query
    tables = _tables(using)
    has_table = KeyFingerprint._meta.db_table in tables
    row = KeyFingerprint.objects.using(using).filter(pk=1).first() if has_table else None
    if row is not None and not same_fingerprint(row, mine):
        raise _mismatch(using, "fingerprint mismatch")
    opened, tried = sample_opens(using, tables)
    if opened < tried:
        why = f"{tried - opened} of {tried} sampled encrypted values do not open under it"
        raise _mismatch(using, why) if row is None else _behind(using, why)
    if row is not None or not has_table or not record:
        return None
    held = installation_table(using, tables)
    origin = KeyFingerprint.Origin.ADOPTED if held else KeyFingerprint.Origin.INIT
    # get_or_create inserts in a savepoint of its own and reads the row a concurrent start wrote.
    row, created = KeyFingerprint.objects.using(using).get_or_create(
        pk=1,
        defaults={
            "scheme": keyring.FINGERPRINT_SCHEME,
            "fingerprint": mine,
            "origin": origin,
            "recorded_at": timezone.now(),
        },
    )
    if not created and not same_fingerprint(
        row, mine
    ):  # another process recorded another key meanwhile
        raise _mismatch(using, "fingerprint mismatch")
    if not created or origin != KeyFingerprint.Origin.ADOPTED:
        return None
    return (
        f"recorded the fingerprint of the key file {settings.INSTANCE.key_file} in the database "
        f"at {database_name(using)}, which held an installation made before key fingerprints "
        f"({opened} of {tried} sampled encrypted values open under it)."
    )


def same_fingerprint(row: KeyFingerprint, mine: str) -> bool:
    """The recorded fingerprint is ``mine`` (compared in constant time)."""
    return row.scheme == keyring.FINGERPRINT_SCHEME and hmac.compare_digest(row.fingerprint, mine)


def bind_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate: record the key file's fingerprint on a database that has none (``secretum
    init``, pytest's test database, the migrate that creates the table on an older instance), or
    refuse a key file that is not the database's."""
    note = require_key_belongs(using, record=True)
    if note:
        # Once in an instance's life: shown whatever the verbosity of the migrate that wrote it.
        print(f"secretum: {note}", file=sys.stderr)


# The process whose key file was found to be the database's (os.getpid(): a forked worker checks
# its own). Set by ``verify_once`` only.
_verified_in_pid = 0
_verifying = threading.Lock()


def verify_once(*, record: bool = False) -> str | None:
    """``require_key_belongs`` on the default database, once per process: the command line before
    its command, the system check (skipped under ``secretum serve``, whose command line checked
    already), each web process before its first request. Several first requests at once on a
    worker's threads wait for one check rather than each running it."""
    global _verified_in_pid
    with _verifying:
        if _verified_in_pid == os.getpid():
            return None
        note = require_key_belongs(record=record)
        _verified_in_pid = os.getpid()
    return note


def verify_before_first_request(sender: Any, **kwargs: Any) -> None:
    """KeyBindingMiddleware: each web process checks its own key file once, before its first request
    (a worker forked after a key file was swapped refuses to serve, its master's check aside).
    Every later request costs one comparison."""
    if _verified_in_pid == os.getpid():
        return
    try:
        verify_once()
    except KeyMismatch as exc:
        logger.critical("secretum: refusing to serve: %s", exc)
        raise
