"""The scan intake (D4): a real folder, a real clamd (E2), the command as the CLI runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from secretum import cli
from secretum.crypto import keyring
from secretum.documents import evidence, intake, services
from secretum.documents.models import Document, UnfiledDocument
from secretum.lib import niss
from tests.conftest import actor_for, events
from tests.documents import samples
from tests.documents.conftest import EICAR
from tests.documents.conftest import drop as _drop


def test_files_are_filed_to_their_patient_or_the_tray_and_removed(
    scanner: str, folder: Path, practitioner: Any, patient: Any
) -> None:
    _drop(folder, f"{niss.formatted(patient.niss)} lettre Dr Quz.pdf", samples.pdf("Quzintake"))
    _drop(folder, f"{patient.uid}_scan.png", samples.png())
    _drop(folder, "SCAN_0001.jpg", samples.jpeg())
    _drop(folder, "00.00.00-000.00 bad number.png", samples.png())  # wrong check digits
    report = intake.import_folder(folder)
    assert (report.filed, report.unfiled, report.quarantined, report.left) == (2, 2, 0, [])
    assert list(folder.iterdir()) == []
    documents = services.patient_documents(actor_for(practitioner), patient.uid)
    titles = sorted(d.title for d in documents)
    number = niss.formatted(patient.niss)
    assert titles == sorted([f"{number} lettre Dr Quz.pdf", f"{patient.uid}_scan.png"])
    assert {d.author for d in documents} == {"scan intake"}
    assert all(d.source == Document.Source.INTAKE for d in Document.objects.all())
    tray = UnfiledDocument.objects.order_by("id")
    assert [t.content_type for t in tray] == ["image/png", "image/jpeg"]
    first = tray[0]
    assert b"bad number" not in bytes(first.title)
    assert keyring.open_secret(first.content, first.content_aad()) == samples.png()
    created = [e for e in events(action="create") if e.resource.startswith("documents.")]
    assert len(created) == 4 and all(e.actor_id is None for e in created)
    assert all(json.loads(e.detail)["source"] == "intake" for e in created)


def test_an_infected_file_is_quarantined_and_removed(
    scanner: str, folder: Path, patient: Any
) -> None:
    _drop(folder, f"{patient.uid} invoice.pdf", EICAR)
    _drop(folder, "unnamed.bin", EICAR)
    report = intake.import_folder(folder)
    assert (report.filed, report.unfiled, report.quarantined) == (1, 1, 2)
    assert Document.objects.get().status == Document.Status.QUARANTINED
    assert UnfiledDocument.objects.get().status == Document.Status.QUARANTINED
    assert list(folder.iterdir()) == []


def test_what_cannot_be_taken_is_left_and_reported_when_old(
    db: Any, scanner: str, folder: Path, settings: Any
) -> None:
    settings.SECRETUM_INTAKE_WARN_MINUTES = 30
    _drop(folder, "notes.txt", b"fictitious", age=3600)
    _drop(folder, "fresh.pdf", samples.pdf(), age=0)  # still being written
    _drop(folder, ".hidden", b"x", age=3600)
    (folder / "sub").mkdir()
    report = intake.import_folder(folder)
    assert report.left == ["fresh.pdf: still being written", "notes.txt: not a PDF, PNG or JPEG"]
    assert report.old == ["notes.txt"]
    found = evidence.intake_folder_empty()
    assert not found.met and found.details == ("notes.txt",)


def test_without_clamd_nothing_is_taken(
    db: Any, folder: Path, settings: Any, tmp_path: Path
) -> None:
    settings.SECRETUM_CLAMD_SOCKET = str(tmp_path / "none.sock")
    _drop(folder, "a.png", samples.png())
    with pytest.raises(CommandError, match="antivirus scanner is not available"):
        call_command("documents_intake")
    assert [p.name for p in folder.iterdir()] == ["a.png"]


def test_the_command_reports_and_warns(
    db: Any, scanner: str, folder: Path, settings: Any, capsys: Any
) -> None:
    settings.SECRETUM_INTAKE_WARN_MINUTES = 1
    _drop(folder, "a.png", samples.png())
    _drop(folder, "old.txt", b"x", age=600)
    call_command("documents_intake")
    out = capsys.readouterr()
    assert "0 filed to patients, 1 to the unfiled tray, 0 quarantined (virus), 1 left." in out.out
    assert "WARNING: old.txt" in out.err
    assert cli._command_name(["documents", "intake", "--every", "60"]) == (
        "documents_intake",
        ["--every", "60"],
    )


def test_the_command_refuses_bad_input(db: Any, settings: Any, tmp_path: Path) -> None:
    settings.SECRETUM_INTAKE_DIR = ""
    with pytest.raises(CommandError, match="no intake folder"):
        call_command("documents_intake")
    with pytest.raises(CommandError, match="at least 10"):
        call_command("documents_intake", "--every", "3")
    with pytest.raises(CommandError, match="does not exist"):
        call_command("documents_intake", "--folder", str(tmp_path / "nowhere"))


def test_the_register_reads_the_folder(db: Any, settings: Any, tmp_path: Path) -> None:
    settings.SECRETUM_INTAKE_DIR = ""
    assert "No scan intake folder" in evidence.intake_folder_empty().summary
    settings.SECRETUM_INTAKE_DIR = str(tmp_path / "nowhere")
    assert "does not exist" in evidence.intake_folder_empty().summary
    (tmp_path / "nowhere").mkdir()
    assert evidence.intake_folder_empty().met


def test_a_file_too_large_is_left(scanner: str, folder: Path, settings: Any) -> None:
    settings.SECRETUM_DOCUMENT_MAX_BYTES = 1000
    _drop(folder, "big.pdf", samples.pdf(padding=2000))
    report = intake.import_folder(folder)
    assert report.left == ["big.pdf: The file is larger than 1000\xa0bytes."]
    assert [p.name for p in folder.iterdir()] == ["big.pdf"]


def test_every_runs_again_until_stopped(
    scanner: str, folder: Path, monkeypatch: Any, capsys: Any
) -> None:
    from secretum.documents.management.commands import documents_intake

    waits: list[float] = []

    def stop_after_two(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(documents_intake.time, "sleep", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        call_command("documents_intake", "--every", "10")
    assert waits == [10, 10]
    assert capsys.readouterr().out.count("intake ") == 2
