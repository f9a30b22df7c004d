"""A document deleted, added, copied or put back in the database is detected (issue 15; D4, E10,
G3). The attacker holds the database, not the key file: every ciphertext still opens under its
own patient's key, so authenticated encryption alone does not tell a letter hidden from the
doctor. The document's row seal and the record's set of entries (documents/integrity.py) do:
`secretum records verify` names the record, its chart says it was altered outside Secretum and
the auditor is alerted. A real clamd (conftest), a real database."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from secretum.audit import alerts
from secretum.audit.models import TAMPERED
from secretum.clinical import services as clinical
from secretum.clinical.models import MODELS, Allergy
from secretum.documents import intake, integrity, services
from secretum.documents.models import Document
from secretum.letters import integrity as letters_integrity
from secretum.patients import integrity as records
from secretum.patients import services as patients
from secretum.patients.models import IDENTITY_FIELDS, Patient
from tests.conftest import actor_for, client_for, events, identity
from tests.documents import samples
from tests.documents.conftest import EICAR

ALTERED = "This record was altered outside Secretum"
ALLERGY = {"substance": "Pénicilline", "reaction": "urticaire", "severity": "severe"}
LETTER = "Quzletter cardiologue.pdf"


def _sql(statement: str, *params: Any) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params)


def _pk(model: Any, uid: str) -> int:
    return int(model.objects.values_list("pk", flat=True).get(uid=uid))


def _attach(user: Any, uid: str, name: str = LETTER, data: bytes | None = None) -> str:
    return services.attach_document(actor_for(user), uid, name=name, data=data or samples.pdf()).uid


def _verify_names(uid: str, *problems: str, capsys: Any) -> None:
    """`records verify` fails and names the record with each problem; no other record."""
    with pytest.raises(CommandError, match="altered outside Secretum"):
        call_command("records_verify")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ALTERED")]
    (line,) = [line for line in lines if uid in line]
    for problem in problems:
        assert problem in line, line


def _assert_altered(user: Any, uid: str) -> None:
    """The chart says so, the opening is reported and alerted, no entry nor document is added."""
    page = client_for(user).get(f"/patients/{uid}/")
    assert page.status_code == 200 and ALTERED in page.text
    assert clinical.access_chart(actor_for(user), uid).altered
    assert events(patient_ref=uid, detail__contains=TAMPERED)
    found = alerts.detect(timezone.now() - dt.timedelta(hours=1))
    assert [a for a in found if a.kind == "tampered" and uid in a.reason]
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        clinical.record_entry(actor_for(user), uid, "allergy", ALLERGY)
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        _attach(user, uid, "another.pdf")


def _intact(user: Any, uid: str) -> None:
    assert not clinical.access_chart(actor_for(user), uid).altered
    call_command("records_verify")


def test_the_set_covers_the_clinical_entries_and_the_documents() -> None:
    """The apps registered their tables when Django started (patients/integrity.py)."""
    assert set(records.ENTRY_KINDS) == {*MODELS, integrity.KIND, letters_integrity.KIND}
    assert records.ENTRY_KINDS[integrity.KIND].model is Document


def test_uploads_quarantines_and_intake_keep_the_record_intact(
    scanner: str, practitioner: Any, patient: Any, tmp_path: Path, settings: Any
) -> None:
    """Control: each document added through Secretum counts a write of the record, named in its
    audit event, sealed with the set of entries; the chart and `records verify` find it intact."""
    version = Patient.objects.get(uid=patient.uid).record_version
    first = _attach(practitioner, patient.uid)
    infected = services.attach_document(actor_for(practitioner), patient.uid, name="x", data=EICAR)
    assert infected.quarantined
    clinical.record_entry(actor_for(practitioner), patient.uid, "allergy", ALLERGY)
    folder = tmp_path / "intake"
    folder.mkdir()
    (folder / f"{patient.uid}_scan.png").write_bytes(samples.png())
    assert intake.import_folder(folder, now=1e12).filed == 1
    row = Patient.objects.get(uid=patient.uid)
    assert row.record_version == version + 4
    created = [e for e in events(action="create") if e.resource == "documents.Document"]
    assert [json.loads(e.detail)[records.VERSION_KEY] for e in created] == [
        version + 1,
        version + 2,
        version + 4,
    ]
    assert all(integrity.intact(d, str(patient.uid)) for d in Document.objects.all())
    chart = clinical.access_chart(actor_for(practitioner), patient.uid)
    assert not chart.altered
    filed = str(Document.objects.get(source=Document.Source.INTAKE).uid)
    assert sorted(d.uid for d in chart.documents) == sorted([first, filed])  # not the infected
    _intact(practitioner, patient.uid)


def test_a_document_deleted_in_the_database_is_detected(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The letter someone wants the doctor not to see, deleted by SQL: the set changed."""
    uid = _attach(practitioner, patient.uid)
    _sql("DELETE FROM documents_document WHERE id = %s", _pk(Document, uid))
    _verify_names(str(patient.uid), "set of entries", capsys=capsys)
    _assert_altered(practitioner, str(patient.uid))


def test_a_document_copied_from_another_record_is_detected(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """A row of patient A inserted as a new row of patient B: B's set and the row's seal differ
    (and under B's key its title does not open: left out, never a server error); A is intact."""
    other = patients.register_patient(actor_for(practitioner), identity())
    uid = _attach(practitioner, patient.uid)
    copy = Document.objects.get(uid=uid)
    copy.pk, copy.uid, copy.patient = None, uuid.uuid4(), Patient.objects.get(uid=other.uid)
    copy.save()  # as an INSERT by hand would: the seal of A's row, unchanged
    chart = clinical.access_chart(actor_for(practitioner), other.uid)
    assert chart.altered and chart.documents == []
    assert services.patient_documents(actor_for(practitioner), other.uid) == []
    _verify_names(other.uid, "set of entries", "1 document row(s)", capsys=capsys)
    _assert_altered(practitioner, other.uid)
    assert not clinical.access_chart(actor_for(practitioner), patient.uid).altered


def test_a_document_moved_to_another_record_with_its_uid_is_detected_in_both(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The same row (same uid) given to patient B: gone from A's set, added to B's."""
    other = patients.register_patient(actor_for(practitioner), identity())
    uid = _attach(practitioner, patient.uid)
    _sql(
        "UPDATE documents_document SET patient_id = %s WHERE id = %s",
        _pk(Patient, other.uid),
        _pk(Document, uid),
    )
    assert "Quzletter" not in client_for(practitioner).get(f"/patients/{other.uid}/").text
    _verify_names(other.uid, "set of entries", "1 document row(s)", capsys=capsys)
    _assert_altered(practitioner, other.uid)
    _assert_altered(practitioner, str(patient.uid))


def test_a_quarantined_document_marked_clean_is_detected(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """E2: the infected file flipped to clean by SQL is not listed (nor served), and the record
    says it was altered: its row no longer matches its seal."""
    infected = services.attach_document(actor_for(practitioner), patient.uid, name="x", data=EICAR)
    _sql(
        "UPDATE documents_document SET status = %s, content_type = %s WHERE id = %s",
        Document.Status.CLEAN,
        "application/pdf",
        _pk(Document, infected.uid),
    )
    chart = clinical.access_chart(actor_for(practitioner), patient.uid)
    assert chart.altered and chart.documents == []
    page = client_for(practitioner).get(f"/patients/{patient.uid}/")
    assert ALTERED in page.text and infected.uid not in page.text
    assert client_for(practitioner).get(f"/documents/{infected.uid}/").status_code == 404
    _verify_names(str(patient.uid), "1 document row(s)", capsys=capsys)


def test_a_content_or_its_hash_changed_in_the_database_is_detected(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The list checks each seal without reading the contents, over the hash the row keeps: that
    hash changed is seen on the chart; a content swapped for another letter's (with or without
    its hash) is seen by `records verify` and never served."""
    first = _attach(practitioner, patient.uid)
    second = _attach(practitioner, patient.uid, "second.pdf", samples.pdf("Quzsecond"))
    _sql(
        "UPDATE documents_document SET content_sha256 = %s WHERE id = %s",
        bytes(32),
        _pk(Document, first),
    )
    chart = clinical.access_chart(actor_for(practitioner), patient.uid)
    assert chart.altered and [d.uid for d in chart.documents] == [second]
    _verify_names(str(patient.uid), "1 document row(s)", capsys=capsys)
    call_command("records_acknowledge", patient.uid, reason="hash changed by a faulty script")
    _intact(practitioner, patient.uid)
    other = Document.objects.get(uid=second)
    Document.objects.filter(uid=first).update(content=bytes(other.content))
    assert not clinical.access_chart(actor_for(practitioner), patient.uid).altered  # not read
    assert client_for(practitioner).get(f"/documents/{first}/").status_code == 404
    _verify_names(str(patient.uid), "1 document row(s)", capsys=capsys)
    Document.objects.filter(uid=first).update(content_sha256=bytes(other.content_sha256 or b""))
    assert clinical.access_chart(actor_for(practitioner), patient.uid).altered
    _verify_names(str(patient.uid), "1 document row(s)", capsys=capsys)


def test_an_older_digest_put_back_is_detected(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The patient row's entries digest from before the letter, put back with the letter deleted:
    the record seal does not cover it."""
    older = Patient.objects.values_list("entries_digest", flat=True).get(uid=patient.uid)
    uid = _attach(practitioner, patient.uid)
    _sql("DELETE FROM documents_document WHERE id = %s", _pk(Document, uid))
    _sql(
        "UPDATE patients_patient SET entries_digest = %s WHERE id = %s",
        bytes(older or b""),
        _pk(Patient, patient.uid),
    )
    _verify_names(str(patient.uid), "identity or record seal", capsys=capsys)
    _assert_altered(practitioner, str(patient.uid))


def test_a_whole_patient_row_put_back_from_before_the_letter_is_detected(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The whole patient row, seal and all, from before the letter, and the letter deleted: every
    seal matches, but the audit log holds the letter's write of a later record version."""
    columns = [*IDENTITY_FIELDS, "record_version", "entries_digest", "record_seal"]
    older = Patient.objects.values_list(*columns).get(uid=patient.uid)
    uid = _attach(practitioner, patient.uid)
    _sql("DELETE FROM documents_document WHERE id = %s", _pk(Document, uid))
    assignments = ", ".join(f"{c} = %s" for c in columns)
    _sql(
        f"UPDATE patients_patient SET {assignments} WHERE id = %s",  # noqa: S608  (our columns)
        *older,
        _pk(Patient, patient.uid),
    )
    _verify_names(str(patient.uid), "older than the audit log's last write", capsys=capsys)
    page = client_for(practitioner).get(f"/patients/{patient.uid}/")
    assert ALTERED in page.text
    with pytest.raises(ValidationError, match="altered outside Secretum"):
        _attach(practitioner, patient.uid, "another.pdf")


def test_the_intake_leaves_a_file_for_an_altered_record_in_its_folder(
    scanner: str, practitioner: Any, patient: Any, tmp_path: Path
) -> None:
    """A scan for an altered record is not filed (a new seal would launder the alteration): it
    stays in the folder, said why, and the run goes on with the other files."""
    uid = _attach(practitioner, patient.uid)
    _sql("DELETE FROM documents_document WHERE id = %s", _pk(Document, uid))
    other = patients.register_patient(actor_for(practitioner), identity())
    folder = tmp_path / "intake"
    folder.mkdir()
    (folder / f"{patient.uid}_scan.png").write_bytes(samples.png())
    (folder / f"{other.uid}_scan.png").write_bytes(samples.png())
    report = intake.import_folder(folder, now=1e12)
    assert report.filed == 1 and len(report.left) == 1
    assert "altered outside Secretum" in report.left[0]
    assert [p.name for p in folder.iterdir()] == [f"{patient.uid}_scan.png"]


def test_acknowledge_seals_the_documents_again(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """After examining it, `records acknowledge` makes the record as it stands the reference,
    documents included; documents can be added again."""
    first = _attach(practitioner, patient.uid)
    _attach(practitioner, patient.uid, "kept.pdf")
    _sql("DELETE FROM documents_document WHERE id = %s", _pk(Document, first))
    _verify_names(str(patient.uid), "set of entries", capsys=capsys)
    call_command("records_acknowledge", patient.uid, reason="letter deleted by a faulty import")
    assert Document.objects.filter(patient__uid=patient.uid).count() == 1
    _intact(practitioner, patient.uid)
    _attach(practitioner, patient.uid, "new letter.pdf")
    _intact(practitioner, patient.uid)


def _before_the_upgrade(patient_uid: str) -> None:
    """The record as the previous release left it: documents without a seal, the digest over
    the clinical entries only (the record sealed over it)."""
    _sql("UPDATE documents_document SET row_seal = NULL, content_sha256 = NULL")
    row = Patient.objects.get(uid=patient_uid)
    seals = [
        (kind, uid, seal)
        for kind, entries in records.ENTRY_KINDS.items()
        if kind != integrity.KIND
        for uid, seal in entries.model.objects.filter(patient=row).values_list("uid", "row_seal")
    ]
    row.entries_digest = records.digest_of(seals)
    row.record_seal = records.seal_of(row)
    row.save(update_fields=["entries_digest", "record_seal"])


def test_the_upgrade_seals_documents_of_intact_records_only(
    scanner: str, practitioner: Any, patient: Any, capsys: Any
) -> None:
    """The migration takes an intact record's documents into its seal; a record altered before
    the upgrade (an allergy deleted by SQL) stays altered, its documents unsealed."""
    _attach(practitioner, patient.uid)
    altered = patients.register_patient(actor_for(practitioner), identity())
    _attach(practitioner, altered.uid, "other.pdf")
    allergy = clinical.record_entry(actor_for(practitioner), altered.uid, "allergy", ALLERGY)
    version = Patient.objects.get(uid=patient.uid).record_version
    _before_the_upgrade(str(patient.uid))
    _before_the_upgrade(altered.uid)
    _sql("DELETE FROM clinical_allergy WHERE id = %s", _pk(Allergy, allergy.uid))
    assert clinical.access_chart(actor_for(practitioner), patient.uid).altered  # not sealed yet
    migration = importlib.import_module("secretum.documents.migrations.0003_row_seals")
    # The models as the migration sees them (historical), not the current ones.
    historical = MigrationLoader(connection).project_state(("documents", "0003_row_seals")).apps
    migration.seal_existing_documents(historical, None)
    _verify_names(altered.uid, "set of entries", "1 document row(s)", capsys=capsys)
    assert str(patient.uid) not in capsys.readouterr().out
    assert not clinical.access_chart(actor_for(practitioner), patient.uid).altered
    assert Patient.objects.get(uid=patient.uid).record_version == version  # its history kept
    assert clinical.access_chart(actor_for(practitioner), altered.uid).altered
    assert Document.objects.filter(patient__uid=altered.uid, row_seal=None).count() == 1
