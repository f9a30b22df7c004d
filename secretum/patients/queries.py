"""The patient rows and search tokens the most frequent pages read (a chart, a search), in SQL
written once from the models' own tables and columns (lib/rawrows.py): the ORM takes longer to
build these queries than the database takes to run them. Values are always parameters, each
prepared by its own field as the ORM prepares it. Reads only: every check, decryption and audit
event stays with the services that call them."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from django.db import connection

from secretum.lib.rawrows import Select, rows_among, value
from secretum.patients.models import Patient, SearchToken

# What a list of patients (a search's results, a day's agenda) reads of each row: all but the
# moments it was created and changed, which a list never shows (and which cost a conversion
# each). Such rows are never saved.
LISTED = tuple(
    f.name for f in Patient._meta.concrete_fields if f.name not in ("created_at", "updated_at")
)


_BY_UID = Select(Patient, "WHERE uid = %s")
_BY_UID_LOCKED = Select(Patient, "WHERE uid = %s FOR UPDATE")


def by_uid(uid: Any, *, lock: bool = False) -> Any:
    """The patient with this uid, or None; ``lock``: locked until the transaction ends where the
    database locks rows (``select_for_update``). ValidationError for a malformed uid."""
    locked = lock and connection.features.has_select_for_update
    return (_BY_UID_LOCKED if locked else _BY_UID).first(value(Patient, "uid", uid))


def by_ids(ids: Iterable[int]) -> list[Any]:
    """The active patients with these primary keys (in no particular order), for a list: read
    only, without their moments of creation and change. An archived patient is never listed
    (J1)."""
    return rows_among(Patient, ids, LISTED, "archived_at IS NULL")


@cache
def _token_sql(count: int, first: bool = False) -> str:
    quote = connection.ops.quote_name
    holder = quote("patient_id")
    sql = (
        f"SELECT {'DISTINCT ' if first else ''}{holder} "  # noqa: S608  (names quoted)
        f"FROM {quote(SearchToken._meta.db_table)} "
        f"WHERE {quote('kind')} = %s AND {quote('token')} IN ({', '.join(['%s'] * count)})"
    )
    return f"{sql} ORDER BY {holder} LIMIT %s" if first else sql


def token_holders(kind: str, tokens: list[bytes], first: int | None = None) -> set[int]:
    """The primary keys of the patients whose index holds one of these tokens (one per index
    generation the key file holds: two while a rebuild runs). ``first``: only the lowest so
    many, chosen by the database (a name prefix is held by thousands of patients at 100,000,
    of which a search lists a few; each read into Python cost about 0.3 µs)."""
    field = SearchToken._meta.get_field("token")
    values = list(dict.fromkeys(field.get_db_prep_value(t, connection) for t in tokens))
    limit = [] if first is None else [first]
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(len(values), first is not None), [str(kind), *values, *limit])
        return {row[0] for row in cursor.fetchall()}
