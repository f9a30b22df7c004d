"""Model instances from the rows of a hand-written query, converted as the ORM converts them.

On the pages read most often (a chart, a search), building the SQL of a queryset costs the ORM
more than SQLite needs to run it. Those few queries are written once, from the models' own
tables and columns (``columns``), and their rows become model instances through ``Loader``:
each value passes through the converters the ORM itself would apply (the database backend's,
then the field's: a moment made aware, a UUID parsed, a boolean from SQLite's 0 and 1), then
``Model.from_db``, as a queryset builds them; or, for a model whose ``__init__`` would only put
each value in the instance's dictionary (no receiver of its ``pre_init`` or ``post_init``, no
field whose attribute is a data descriptor but a foreign key's own), the same instance made
without it (issue 17: a chart's entries and a day's agenda are a few hundred instances, and
``Model.__init__`` took a tenth of their time).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import DEFERRED, Model, signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute

# What a page shows of a user who wrote or sees something (``User.__str__``: the full name, or
# the user name), and no more: never the password's hash, the roles' dates or the seal.
AUTHOR_FIELDS = ("id", "first_name", "last_name", "username")


def columns(model: Any, names: Sequence[str] | None = None, alias: str = "") -> list[str]:
    """The quoted columns of ``names`` (by default every concrete field), in the model's order,
    prefixed by ``alias`` (or the model's table)."""
    quote = connection.ops.quote_name
    table = alias or quote(model._meta.db_table)
    fields = _fields(model, names)
    return [f"{table}.{quote(f.column)}" for f in fields]


def _fields(model: Any, names: Sequence[str] | None) -> list[Any]:
    """The fields named, in the model's order (``Model.from_db`` takes them in that order)."""
    wanted = set(names) if names is not None else None
    return [f for f in model._meta.concrete_fields if wanted is None or f.name in wanted]


class Loader:
    """Instances of ``model`` from rows holding the values of ``names`` (by default every
    concrete field) in the model's order, as ``columns`` lists them."""

    __slots__ = ("_attnames", "_converters", "_model", "_plain", "_read_names", "_slots", "fields")

    def __init__(self, model: Any, names: Sequence[str] | None = None) -> None:
        fields = _fields(model, names)
        concrete = list(model._meta.concrete_fields)
        self._model = model
        self.fields = len(fields)
        self._attnames = [f.attname for f in concrete]
        # Where each value read goes among the model's fields (the others stay deferred); None
        # when every field is read.
        self._slots = None if fields == concrete else [concrete.index(f) for f in fields]
        self._read_names = [f.attname for f in fields]
        converters: list[tuple[int, list[Callable[..., Any]], Any]] = []
        for i, field in enumerate(fields):
            column = field.get_col(model._meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:
                converters.append((i, found, column))
        self._converters = converters
        self._plain = _plain(model)

    def __call__(self, values: Sequence[Any]) -> Any:
        read = list(values)
        # This thread's connection, found once (``connection`` finds it at each use).
        database = connections[DEFAULT_DB_ALIAS]
        for i, found, column in self._converters:
            value = read[i]
            for convert in found:
                value = convert(value, column, database)
            read[i] = value
        if self._plain:
            # What ``Model.__init__`` and ``from_db`` would make of these values, made directly:
            # each read value in the instance's dictionary, the fields not read left deferred.
            made = self._model.__new__(self._model)
            state = made._state = ModelState()
            state.adding, state.db = False, database.alias
            made.__dict__.update(zip(self._read_names, read, strict=True))
            return made
        if self._slots is None:
            return self._model.from_db(database.alias, self._attnames, read)
        row = [DEFERRED] * len(self._attnames)
        for slot, value in zip(self._slots, read, strict=True):
            row[slot] = value
        return self._model.from_db(database.alias, self._attnames, row)


def _plain(model: Any) -> bool:
    """Whether ``model.from_db`` only puts each value in the instance's dictionary: neither it
    nor the constructor is the model's own, nothing receives its ``pre_init`` or ``post_init``,
    and no field's attribute is a data descriptor (whose ``__set__`` the constructor would
    call). Asked when a read is first composed, after every application has connected its
    receivers."""
    for name in ("__init__", "from_db"):
        if inspect.getattr_static(model, name) is not Model.__dict__[name]:
            return False
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return False
    return not any(
        _described(inspect.getattr_static(model, f.attname, None))
        for f in model._meta.concrete_fields
    )


def _described(attribute: Any) -> bool:
    """Whether setting a field's value calls a descriptor that does more than store it. A
    foreign key's own (``ForeignKeyDeferredAttribute``) only forgets a related row cached under
    an older key before storing: on a new instance nothing is cached, so it only stores."""
    kind = type(attribute)
    return kind is not ForeignKeyDeferredAttribute and hasattr(kind, "__set__")


class Select:
    """One hand-written read of ``model``: its columns (``names``, by default every concrete
    field) from its table, then ``rest`` (the WHERE clause and what follows it, every value a
    ``%s`` parameter; columns named with the table's name where a join makes them ambiguous).
    ``related``: the foreign key of that name read in the same query (a LEFT JOIN on its table,
    ``related_names`` of its columns, by default all), as ``select_related`` reads it; None
    where the key is empty. Composed at its first use, on the backend in use then; each call
    runs it with its own values, prepared as the ORM prepares them (``value``)."""

    __slots__ = ("_model", "_names", "_ready", "_related", "_related_names", "_rest")

    def __init__(
        self,
        model: Any,
        rest: str,
        names: Sequence[str] | None = None,
        *,
        related: str = "",
        related_names: Sequence[str] | None = None,
    ) -> None:
        self._model, self._rest, self._names = model, rest, names
        self._related, self._related_names = related, related_names
        self._ready: tuple[str, Loader, Loader | None] | None = None

    @property
    def sql(self) -> str:
        return self._composed()[0]

    def _composed(self) -> tuple[str, Loader, Loader | None]:
        if self._ready is None:
            quote = connection.ops.quote_name
            table = quote(self._model._meta.db_table)
            listed, join, other = columns(self._model, self._names), "", None
            if self._related:
                key = self._model._meta.get_field(self._related)
                target = key.related_model
                listed += columns(target, self._related_names, "r")
                join = (
                    f"LEFT JOIN {quote(target._meta.db_table)} r "
                    f"ON r.{quote(key.target_field.column)} = {table}.{quote(key.column)} "
                )
                other = Loader(target, self._related_names)
            sql = f"SELECT {', '.join(listed)} FROM {table} {join}{self._rest}"  # noqa: S608
            self._ready = (sql, Loader(self._model, self._names), other)
        return self._ready

    def rows(self, *params: Any) -> list[Any]:
        sql, load, other = self._composed()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        if other is None:
            return [load(row) for row in fetched]
        found, width = [], load.fields
        for values in fetched:
            row = load(values[:width])
            joined = values[width:]
            # No row joined (an empty key): every column NULL, the key's own among them.
            setattr(row, self._related, None if all(v is None for v in joined) else other(joined))
            found.append(row)
        return found

    def first(self, *params: Any) -> Any:
        """The first row's instance, or None (``rest`` says which is first, and limits)."""
        found = self.rows(*params)
        return found[0] if found else None


@lru_cache(maxsize=256)  # (model, count, names, condition): a page reads a bounded few
def among(
    model: Any, count: int, names: tuple[str, ...] | None = None, condition: str = ""
) -> Select:
    """The rows of ``model`` whose primary key is one of ``count`` values given to ``rows``
    (``names``: the columns read, by default all; ``condition``: what the rows must also
    satisfy, SQL of our own without values), in no particular order."""
    keys = ", ".join(["%s"] * count)
    also = f"{condition} AND " if condition else ""
    column = connection.ops.quote_name(model._meta.pk.column)
    return Select(model, f"WHERE {also}{column} IN ({keys})", names)


def rows_among(
    model: Any, keys: Iterable[Any], names: tuple[str, ...] | None = None, condition: str = ""
) -> list[Any]:
    """``among``'s rows for these primary keys; none, and no query, for no key."""
    wanted = list(keys)
    return among(model, len(wanted), names, condition).rows(*wanted) if wanted else []


def value(model: Any, name: str, given: Any) -> Any:
    """``given`` as a query parameter for ``model``'s field ``name``, as the ORM prepares it (a
    UUID as SQLite stores it, a model instance as its key). ValidationError when the field
    refuses it (a malformed UUID), as a queryset's filter would."""
    field = model._meta.get_field(name)
    if hasattr(given, "_meta"):
        given = given.pk
    return field.get_db_prep_value(given, connection)


def exists(sql: str, *params: Any) -> bool:
    """Whether ``sql`` (a ``SELECT 1 … LIMIT 1`` of ours) finds a row."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None
