"""The SQLite cursor's placeholders turned once per statement text (issue 17,
``secretum.lib.sqlite3.base.Cursor``): the same SQL as Django's own conversion, whatever the
text holds, and the values still bound as values, never read as SQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.backends.sqlite3.base import SQLiteCursorWrapper

from secretum.lib.sqlite3 import base

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's cursor"),
]

SHAPES = [
    "SELECT %s",
    "SELECT %s, %s WHERE x LIKE '%%a' ESCAPE '\\'",
    "SELECT '%%s', %s",  # a literal "%s" is written "%%s", as Django asks
    "SELECT 1",
    "SELECT %s || '%%'",
]


@pytest.mark.parametrize("query", SHAPES)
def test_the_same_sql_as_django_makes(query: str) -> None:
    django = SQLiteCursorWrapper.convert_query(None, query)  # type: ignore[arg-type]
    with connection.cursor() as cursor:
        ours = cursor.cursor.convert_query(query)
        again = cursor.cursor.convert_query(query)
    assert isinstance(cursor.cursor, base.Cursor)
    assert ours == django == again


def test_a_statement_is_converted_once() -> None:
    query = "SELECT %s AS once_only"
    before = base._qmark.cache_info()
    with connection.cursor() as cursor:
        for n in range(5):
            cursor.execute(query, [n])
            assert cursor.fetchone() == (n,)
    after = base._qmark.cache_info()
    assert after.misses - before.misses == 1
    assert after.hits - before.hits == 4


def test_values_stay_values() -> None:
    """A value that reads as SQL or as a placeholder is bound, not pasted into the text."""
    with connection.cursor() as cursor:
        for value in ["%s", "?", "x' OR '1'='1", "%%", "%(name)s"]:
            cursor.execute("SELECT %s, '%%'", [value])
            assert cursor.fetchone() == (value, "%")


def test_named_parameters_as_django_names_them() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %(a)s, %(b)s", {"a": 1, "b": "two"})
        assert cursor.fetchone() == (1, "two")
        cursor.execute("SELECT 3")  # no parameters: the text as it is
        assert cursor.fetchone() == (3,)


def test_a_long_statement_is_not_kept() -> None:
    """A bulk insert's text grows with its rows: converted each time, never kept."""
    values = base._LONGEST // 4
    query = "SELECT count(*), '%%' FROM (VALUES " + ", ".join(["(%s)"] * values) + ")"  # noqa: S608
    assert len(query) > base._LONGEST
    before = base._qmark.cache_info()
    with connection.cursor() as cursor:
        cursor.execute(query, list(range(values)))
        assert cursor.fetchone() == (values, "%")
        assert cursor.cursor.convert_query(query) == SQLiteCursorWrapper.convert_query(
            None,  # type: ignore[arg-type]
            query,
        )
    assert base._qmark.cache_info().currsize == before.currsize
