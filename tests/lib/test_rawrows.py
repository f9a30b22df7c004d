"""The hand-written reads of the pages read most (lib/rawrows.py, issue 17) load what the ORM
loads: the same instances, field by field, converted the same way on either engine."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model
from django.db.models.signals import post_init
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from secretum.access.models import CareRelationship
from secretum.accounts.models import SessionData, User
from secretum.lib.rawrows import (
    AUTHOR_FIELDS,
    Select,
    _plain,
    among,
    exists,
    rows_among,
    value,
)
from secretum.patients.models import Patient
from secretum.patients.queries import LISTED
from tests.conftest import actor_for
from tests.conftest import identity as fictitious_identity


def _fields(row: Any) -> dict[str, Any]:
    return {f.attname: getattr(row, f.attname) for f in type(row)._meta.concrete_fields}


def test_a_row_read_by_hand_is_the_row_the_orm_reads(practitioner: Any) -> None:
    """Every kind of column a user holds (moments made aware, booleans from SQLite's 0 and 1,
    bytes of its seal, empty and filled text) comes back as the ORM gives it."""
    by_pk = Select(User, "WHERE id = %s")
    read = by_pk.first(value(User, "id", practitioner.pk))
    orm = User.objects.get(pk=practitioner.pk)
    assert type(read) is User and read.pk == orm.pk
    assert _fields(read) == _fields(orm)
    assert read.last_login is None or read.last_login.tzinfo is not None
    assert read._state.adding is False and read._state.db == connection.alias
    assert by_pk.first(value(User, "id", practitioner.pk + 1000)) is None


def test_values_are_prepared_as_the_orm_prepares_them(practitioner: Any) -> None:
    """A UUID as the engine stores it, a model instance as its key, a moment as the engine
    compares it; a malformed UUID refused as a queryset's filter refuses it."""
    from secretum.patients import services as patients

    uid = patients.register_patient(actor_for(practitioner), fictitious_identity()).uid
    as_stored = value(Patient, "uid", str(uid))
    sql = "SELECT 1 FROM patients_patient WHERE uid = %s LIMIT 1"
    assert exists(sql, as_stored) and exists(sql, value(Patient, "uid", uid))
    assert not exists(sql, value(Patient, "uid", uuid.uuid4()))
    assert value(CareRelationship, "practitioner", practitioner) == practitioner.pk
    with pytest.raises(ValidationError):
        value(Patient, "uid", "not-a-uid")
    with pytest.raises(ValidationError):
        Patient.objects.filter(uid="not-a-uid").exists()


def test_a_read_is_composed_once_and_its_values_stay_parameters(practitioner: Any) -> None:
    """The SQL is the same text at every call (composed at the first); what a call is given
    never becomes part of it: a key that reads as SQL finds its own row, and only it."""
    hostile = "x' OR '1'='1"
    later = timezone.now() + dt.timedelta(hours=1)
    SessionData.objects.create(session_key=hostile, session_data="", expire_date=later)
    read = Select(SessionData, "WHERE session_key = %s AND expire_date > %s")
    now = value(SessionData, "expire_date", timezone.now())
    with CaptureQueriesContext(connection) as seen:
        assert read.first(hostile, now).session_key == hostile
        assert read.first("x", now) is None
        assert read.rows(hostile, value(SessionData, "expire_date", later)) == []
    assert read.sql.startswith("SELECT ") and hostile not in read.sql
    assert len({q["sql"].split(" WHERE ")[0] for q in seen.captured_queries}) == 1


def test_a_related_row_comes_with_its_row_or_none_when_its_key_is_empty(practitioner: Any) -> None:
    """``related`` reads a foreign key's row in the same query, as ``select_related`` does: the
    columns asked, the others deferred; None for an empty key (a LEFT JOIN finding nothing)."""
    from secretum.accounts.models import UserSession

    later = timezone.now() + dt.timedelta(hours=1)
    record = UserSession.objects.create(
        user=practitioner, device="fictitious", source="::1", last_activity_at=timezone.now()
    )
    SessionData.objects.create(session_key="a", session_data="", expire_date=later, record=record)
    SessionData.objects.create(session_key="b", session_data="", expire_date=later)
    read = Select(
        SessionData,
        f"WHERE {SessionData._meta.db_table}.session_key IN (%s, %s) ORDER BY 1",
        related="record",
        related_names=("id", "user", "device"),
    )
    with CaptureQueriesContext(connection) as seen:
        first, second = read.rows("a", "b")
        assert first.record.pk == record.pk and first.record_id == record.pk
        assert first.record.device == "fictitious" and first.record.user_id == practitioner.pk
        assert second.record is None and second.record_id is None
    assert len(seen.captured_queries) == 1
    assert first.record.get_deferred_fields() >= {"source", "ended_at"}
    orm = SessionData.objects.select_related("record").get(session_key="a")
    assert _fields(first) == _fields(orm) and first.record.device == orm.record.device


def test_rows_among_keys_are_those_keys_alone_and_meet_the_condition(practitioner: Any) -> None:
    """``among``: the rows of the keys given and no other, each key a parameter; the columns
    asked, the others deferred; the condition holds for each row; the read is made once per
    model, number of keys, columns and condition."""
    from secretum.patients import services as patients

    actor = actor_for(practitioner)
    uids = [patients.register_patient(actor, fictitious_identity()).uid for _ in "abc"]
    kept, archived, other = (Patient.objects.get(uid=uid) for uid in uids)
    Patient.objects.filter(pk=archived.pk).update(archived_at=timezone.now())
    read = among(Patient, 3, ("id", "uid"), "archived_at IS NULL")
    assert read is among(Patient, 3, ("id", "uid"), "archived_at IS NULL")
    assert read is not among(Patient, 3, ("id", "uid"))
    rows = read.rows(kept.pk, archived.pk, other.pk + 1000)
    assert str(kept.pk) not in read.sql.split(" WHERE ")[1].replace("%s", "")
    assert [(r.pk, r.uid) for r in rows] == [(kept.pk, kept.uid)]
    assert rows[0].get_deferred_fields() >= {"created_at", "archived_at"}
    every = among(Patient, 2).rows(kept.pk, archived.pk)
    assert {r.pk for r in every} == {kept.pk, archived.pk} and other.pk not in {r.pk for r in every}
    assert _fields(next(r for r in every if r.pk == kept.pk)) == _fields(
        Patient.objects.get(pk=kept.pk)
    )
    with CaptureQueriesContext(connection) as seen:
        assert rows_among(Patient, iter(()), LISTED) == []
    assert seen.captured_queries == []
    found = rows_among(Patient, iter([kept.pk, archived.pk]), ("id",), "archived_at IS NULL")
    assert [r.pk for r in found] == [kept.pk]


def test_a_row_made_without_the_constructor_is_the_row_the_constructor_makes(
    practitioner: Any,
) -> None:
    """Where ``Model.__init__`` would only fill the instance's dictionary, a loaded row is made
    without it: the same values, the same state (saved, this database), the fields not read
    deferred and loaded when asked, and a save that updates the row rather than adding one."""
    read = Select(User, "WHERE id = %s").first(value(User, "id", practitioner.pk))
    partial = Select(User, "WHERE id = %s", AUTHOR_FIELDS).first(practitioner.pk)
    orm = User.objects.get(pk=practitioner.pk)
    assert _plain(User) and type(read) is User and _fields(read) == _fields(orm)
    assert (read._state.adding, read._state.db) == (orm._state.adding, orm._state.db)
    assert partial.get_deferred_fields() == orm.get_deferred_fields() | (
        {f.attname for f in User._meta.concrete_fields} - {"id", *AUTHOR_FIELDS}
    )
    assert partial.email == orm.email  # loaded when asked, as a deferred field is
    users = User.objects.count()
    read.first_name = "Renamed"
    read.save()
    assert User.objects.filter(pk=practitioner.pk).values_list("first_name", flat=True)[0] == (
        "Renamed"
    )
    assert User.objects.count() == users


def test_a_row_with_foreign_keys_is_made_without_the_constructor_all_the_same(
    practitioner: Any,
) -> None:
    """A foreign key's attribute only forgets a related row cached under an older key: a new
    row has none, so a row with foreign keys is made without the constructor too. Its related
    row is read when asked, and forgotten when the key changes, as the ORM's own."""
    from secretum.accounts.models import UserSession

    later = timezone.now() + dt.timedelta(hours=1)
    first, second = (
        UserSession.objects.create(
            user=practitioner, device=name, source="::1", last_activity_at=timezone.now()
        )
        for name in ("first", "second")
    )
    SessionData.objects.create(session_key="k", session_data="", expire_date=later, record=first)
    assert _plain(SessionData)
    read = Select(SessionData, "WHERE session_key = %s").first("k")
    orm = SessionData.objects.get(session_key="k")
    assert _fields(read) == _fields(orm) and read.record.device == "first"
    read.record_id = second.pk
    assert read.record.device == "second"


def test_a_model_whose_constructor_does_more_is_made_by_it(
    practitioner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A receiver of ``post_init`` (or ``pre_init``), or a field whose attribute is a data
    descriptor: the constructor runs, as the ORM runs it."""
    seen: list[Any] = []

    def receiver(sender: Any, instance: Any, **kwargs: Any) -> None:
        seen.append(instance.pk)

    post_init.connect(receiver, sender=User)
    try:
        assert not _plain(User)
        row = Select(User, "WHERE id = %s").first(practitioner.pk)
        assert seen == [practitioner.pk] and row.pk == practitioner.pk
    finally:
        post_init.disconnect(receiver, sender=User)
    assert _plain(User)

    class Described:
        def __get__(self, instance: Any, owner: Any = None) -> Any:
            return instance.__dict__.get("last_name", "") if instance is not None else self

        def __set__(self, instance: Any, given: Any) -> None:
            instance.__dict__["last_name"] = str(given).upper()

    monkeypatch.setattr(User, "last_name", Described(), raising=False)
    assert not _plain(User)
    row = Select(User, "WHERE id = %s", AUTHOR_FIELDS).first(practitioner.pk)
    assert row.last_name == practitioner.last_name.upper()


def test_a_model_with_its_own_constructor_or_loading_is_made_by_them(
    practitioner: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that makes its instances itself (its own ``__init__`` or ``from_db``) is never
    made around it: what it does at each row is done."""
    made: list[str] = []
    plain_init = User.__init__

    def counted_init(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append("init")
        plain_init(self, *args, **kwargs)

    monkeypatch.setattr(User, "__init__", counted_init)
    assert not _plain(User)
    assert Select(User, "WHERE id = %s").first(practitioner.pk).pk == practitioner.pk
    assert made == ["init"]
    monkeypatch.undo()
    assert _plain(User)

    def loaded(cls: Any, db: Any, field_names: Any, values: Any) -> Any:
        made.append("from_db")
        return Model.from_db.__func__(cls, db, field_names, values)  # type: ignore[attr-defined]

    monkeypatch.setattr(User, "from_db", classmethod(loaded))
    assert not _plain(User)
    assert Select(User, "WHERE id = %s").first(practitioner.pk).pk == practitioner.pk
    assert made == ["init", "from_db"]
