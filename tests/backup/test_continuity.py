"""Business continuity (I5): the latest backup served read-only on a laptop, its audit events
merged back into the server's log afterwards.

The attacker here is whoever holds the copy: a practitioner who tries to change a record on it
(through any page, or through a service past the pages), or someone who brings back a copy of
another practice's instance, or a copy whose audit log they edited to hide an access. Each is
refused; the reads are audited on the copy and land in the server's log, which still verifies.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from secretum.access.actor import Actor
from secretum.access.guard import ReadOnlyCopy
from secretum.access.middleware import READ_ONLY_PASSES
from secretum.audit.models import READ_ONLY, AuditEvent, Outcome
from secretum.backup import continuity
from secretum.backup.archive import BackupError
from secretum.lib.continuity import MARKER
from secretum.patients import services as patients
from secretum.patients.models import Patient
from tests.conftest import SecureClient, actor_for, client_for, events, identity
from tests.core.test_cli import run
from tests.instances import initialised

# --- the copy as served: read-only everywhere (Django's test client, SECRETUM_READ_ONLY) ------


@pytest.fixture
def read_only(settings: Any) -> Iterator[Path]:
    """The test instance as a continuity copy of a backup of 1 March 2026, 08:30 UTC."""
    marker = settings.INSTANCE.home / MARKER
    marker.write_text(
        json.dumps(
            {"kind": "secretum-continuity-copy", "backup_created_at": "2026-03-01T08:30:00+00:00"}
        )
    )
    settings.SECRETUM_READ_ONLY = True
    yield settings.INSTANCE.home
    marker.unlink()


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, URLPattern]]:
    out: list[tuple[str, URLPattern]] = []
    for p in patterns:
        if isinstance(p, URLResolver):
            out += _walk(p.url_patterns, f"{p.namespace}:" if p.namespace else prefix)
        elif isinstance(p, URLPattern):
            out.append((f"{prefix}{p.name}", p))
    return out


def _url(name: str, pattern: URLPattern, patient_uid: str) -> str:
    kwargs: dict[str, str] = {}
    for arg in pattern.pattern.converters:
        kwargs[arg] = "observation" if arg == "kind" else patient_uid
    return reverse(name, kwargs=kwargs)


def test_a_practitioner_reads_a_chart_on_the_copy_and_every_page_says_it_is_one(
    read_only: Path, practitioner: Any
) -> None:
    """I5: the chart opens; the banner names the backup's date; the read is audited."""
    from django.conf import settings

    settings.SECRETUM_READ_ONLY = False
    patient = patients.register_patient(actor_for(practitioner), identity())
    settings.SECRETUM_READ_ONLY = True
    client = client_for(practitioner)
    page = client.get(reverse("patients:detail", args=[patient.uid]))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="read-only-copy"' in text
    assert "Read-only copy of the backup of" in text and "2026" in text
    assert "nothing can be changed here" in text
    # No link to a form that would only be refused: a new patient, a new entry, an attachment.
    assert "/patients/new/" not in text and "/observation/new/" not in text
    assert "/attach/" not in text
    read = events(patient_ref=str(patient.uid), action="read", outcome=Outcome.SUCCESS)
    assert read and read[-1].actor_name == practitioner.username
    # A summary printed for a transfer to hospital: a read, audited as a print.
    printed = client.post(reverse("compliance:print_patient", args=[patient.uid]))
    assert printed.status_code == 200 and b"data:application/pdf;base64," in printed.content
    assert events(patient_ref=str(patient.uid), action="print", outcome=Outcome.SUCCESS)
    # The sign-in page, before anyone signs in, says it too.
    signed_out = SecureClient().get(reverse("accounts:login"))
    assert signed_out.status_code == 200 and "Read-only copy" in signed_out.content.decode()


def test_every_unsafe_request_is_refused_on_the_copy_but_sign_in_and_searches(
    read_only: Path, practitioner: Any
) -> None:
    """I5: a POST (PUT, DELETE) to every page of the site, as a signed-in practitioner: refused
    with 403 and a "denied" event naming the copy, nothing written, unless the page is one of
    the few that only sign in or out or search."""
    from django.conf import settings

    settings.SECRETUM_READ_ONLY = False
    patient = patients.register_patient(actor_for(practitioner), identity())
    settings.SECRETUM_READ_ONLY = True
    client = client_for(practitioner)
    rows = Patient.objects.count()
    refused = []
    for name, pattern in _walk(get_resolver().url_patterns):
        if name in READ_ONLY_PASSES:
            continue
        url = _url(name, pattern, str(patient.uid))
        for method in ("post", "put", "delete"):
            before = AuditEvent.objects.count()
            answer = getattr(client, method)(url, {"family_name": "Changed", "text": "x"})
            assert answer.status_code == 403, (name, method, answer.status_code)
            new = list(AuditEvent.objects.filter(seq__gt=before))
            assert [json.loads(e.detail)["reason"] for e in new] == [READ_ONLY], (name, method)
            assert new[0].outcome == Outcome.DENIED and new[0].actor_name == practitioner.username
        refused.append(name)
    assert len(refused) >= 40
    assert Patient.objects.count() == rows
    # The passes are only sign-in, sign-out, unlocking (and the typing kept at the lock, in the
    # session), the language, searches and a print.
    assert READ_ONLY_PASSES == {
        "accounts:login", "accounts:verify", "accounts:verify_webauthn_options",
        "accounts:verify_webauthn", "accounts:logout", "accounts:unlock", "accounts:ping",
        "accounts:draft", "set_language", "patients:search", "audit:log", "audit:export",
        "audit:report_search", "compliance:print_patient",
    }  # fmt: skip
    # A search still works (POSTed so that nothing identifying is in a URL, H2).
    found = client.post(reverse("patients:search"), {"q": "Zorbatova"})
    assert found.status_code == 200 and "Read-only copy" in found.content.decode()


def test_a_practitioner_signs_in_with_both_factors_and_out_on_the_copy(
    read_only: Path, db: Any
) -> None:
    """I5: sign-in (password, then the authenticator's code), the home page, sign-out: each works
    on the copy and is audited there."""
    from tests.accounts.test_login import login, make_doctor

    doctor = make_doctor()
    client = SecureClient()
    signed_in = login(client, doctor)
    assert signed_in.status_code == 302 and signed_in["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Read-only copy" in home.content.decode()
    assert client.post(reverse("accounts:logout")).status_code == 302
    assert client.get("/").status_code == 302
    assert [e.action for e in events(actor_name=doctor.username)] == ["login", "logout"]


def test_a_charter_published_since_does_not_lock_anyone_out_of_the_copy(
    read_only: Path, settings: Any, db: Any
) -> None:
    """I5: accepting a charter is a write, refused on the copy: someone who has not accepted the
    current version reads the records there all the same (the server asks at their next login)."""
    from secretum.access.actor import Actor
    from secretum.accounts import charter as charters
    from tests.accounts.test_login import login, make_doctor

    settings.SECRETUM_READ_ONLY = False
    charters.publish_charter(Actor.system(), text_fr="v9", text_nl="v9", text_en="v9")
    doctor = make_doctor()
    assert charters.charter_pending(doctor) is not None
    settings.SECRETUM_READ_ONLY = True
    client = SecureClient()
    assert login(client, doctor)["Location"] == "/"
    assert client.get("/patients/").status_code == 200
    assert client.post(reverse("accounts:charter")).status_code == 403  # never accepted there
    assert charters.charter_pending(doctor) is not None


def test_a_service_write_is_refused_by_the_gate_even_past_the_middleware(
    read_only: Path, practitioner: Any
) -> None:
    """I5, defence in depth: a write asked of a service directly (no request, no middleware),
    by a practitioner or by the system itself, is refused and audited as denied."""
    before = Patient.objects.count()
    for actor in (actor_for(practitioner), Actor.system()):
        with pytest.raises(ReadOnlyCopy):
            patients.register_patient(actor, identity())
    assert Patient.objects.count() == before
    denied = events(action="create", outcome=Outcome.DENIED)
    assert [json.loads(e.detail)["problem"] for e in denied] == [READ_ONLY, READ_ONLY]
    # Reads still pass the gate.
    assert patients.search_patients(actor_for(practitioner), "Zorbatova") is not None


# --- the copy made from a real backup, and its audit events merged back (real processes) ---

_ACCESSES = """
import datetime
import os
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "secretum.settings"
django.setup()
from secretum.access.actor import AccessDenied, Actor
from secretum.accounts.models import User
from secretum.lib import niss
from secretum.patients import services
from secretum.patients.models import Patient

doctor = User.objects.filter(role="practitioner").order_by("pk").first()
actor = Actor.for_user(doctor, source="192.0.2.44", request_id="continuity-test")
for p in Patient.objects.order_by("pk")[:2]:
    services.access_patient(actor, p.uid)
birth = datetime.date(1971, 3, 14)
data = {
    "family_name": "Zorbatova", "given_name": "Quilline", "birth_date": birth, "sex": "female",
    "niss": niss.build(birth, 2), "street": "Rue des Essais 1", "postal_code": "1000",
    "city": "Testville", "phone": "", "email": "", "insurer": "", "insurer_number": "",
}
try:
    services.update_patient(actor, Patient.objects.order_by("pk").first().uid, data)
except AccessDenied:
    print("write refused")
print(doctor.username)
"""


def _copy_env(home: Path) -> dict[str, str]:
    env = continuity.copy_environment(home)
    env = {k: v for k, v in env.items() if not k.startswith("SECRETUM_") or k in (
        "SECRETUM_HOME", "SECRETUM_READ_ONLY", "SECRETUM_BACKUP_EVERY"
    )}  # fmt: skip
    return env


def _accesses_on(copy: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _ACCESSES], env=_copy_env(copy),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "write refused"
    return lines[-1]


@pytest.fixture(scope="module")
def main_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = initialised(
        tmp_path_factory.mktemp("continuity") / "var", ("--patients", "3", "--seed", "7")
    )
    return home


@pytest.fixture(scope="module")
def backup(main_home: Path) -> Path:
    made = run(main_home, "backup", "create", "--to", str(main_home.parent / "backups"))
    assert made.returncode == 0, made.stderr
    return Path(made.stdout.strip())


def _log(home: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "data" / "secretum.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM audit_auditevent ORDER BY seq")]


def test_reads_on_the_copy_are_merged_into_the_server_log_once(
    main_home: Path, backup: Path, tmp_path: Path
) -> None:
    """I5: restored, marked, read on; merged: the copy's events keep their time, actor, action,
    resource and source and say which copy they came from; the log verifies; again: nothing."""
    copy = continuity.prepare_copy(backup, main_home / "secretum.key", tmp_path / "copy")
    marker = json.loads((copy / MARKER).read_text())
    assert marker["backup"] == backup.name and marker["head"]["seq"] > 0
    # Started again on the same folder with the same backup: the same copy, reused.
    assert continuity.prepare_copy(backup, main_home / "secretum.key", copy) == copy
    assert json.loads((copy / MARKER).read_text())["copy"] == marker["copy"]
    doctor = _accesses_on(copy)
    on_copy = [e for e in _log(copy) if e["seq"] > marker["head"]["seq"]]
    assert any(e["action"] == "read" and e["actor_name"] == doctor for e in on_copy)

    before = len(_log(main_home))
    merged = run(main_home, "audit", "merge-continuity", str(copy))
    assert merged.returncode == 0, merged.stderr
    assert f"{len(on_copy)} events merged" in merged.stdout
    log = _log(main_home)
    brought = [e for e in log[before:] if '"continuity"' in e["detail"]]
    assert len(brought) == len(on_copy)
    for mine, theirs in zip(brought, on_copy, strict=True):
        for field in ("at", "actor_name", "role", "action", "resource", "patient_ref", "outcome",
                      "source", "request_id"):  # fmt: skip
            assert mine[field] == theirs[field], field
        assert json.loads(mine["detail"])["continuity"] == {
            "copy": marker["copy"], "seq": theirs["seq"]
        }  # fmt: skip
    denied = [e for e in brought if e["outcome"] == "denied"]
    assert denied and json.loads(denied[0]["detail"])["problem"] == READ_ONLY
    record = [e for e in log[before:] if e["resource"] == continuity.RESOURCE]
    assert len(record) == 1 and record[0]["action"] == "maintenance"
    assert json.loads(record[0]["detail"])["merged"] == len(on_copy)
    verified = run(main_home, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    size = len(_log(main_home))
    again = run(main_home, "audit", "merge-continuity", str(copy))
    assert again.returncode == 0 and "0 events merged" in again.stdout
    assert len(_log(main_home)) == size


def test_a_copy_whose_audit_log_was_altered_is_refused(
    main_home: Path, backup: Path, tmp_path: Path
) -> None:
    """I5: an access hidden by editing the copy's log (its triggers dropped first) is found."""
    copy = continuity.prepare_copy(backup, main_home / "secretum.key", tmp_path / "copy")
    _accesses_on(copy)
    with sqlite3.connect(copy / "data" / "secretum.sqlite3") as db:
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_auditevent'"
        ).fetchall():
            db.execute(f'DROP TRIGGER "{name}"')
        db.execute(
            "UPDATE audit_auditevent SET patient_ref = ? WHERE seq = (SELECT MAX(seq) - 1 FROM "
            "audit_auditevent)",
            (str(uuid.uuid4()),),
        )
    size = len(_log(main_home))
    refused = run(main_home, "audit", "merge-continuity", str(copy))
    assert refused.returncode != 0
    assert "does not verify" in refused.stderr
    assert len(_log(main_home)) == size


def test_a_copy_whose_mark_was_moved_back_is_refused(
    main_home: Path, backup: Path, tmp_path: Path
) -> None:
    """I5: a mark edited to name an earlier head would bring this log's own events in again."""
    copy = continuity.prepare_copy(backup, main_home / "secretum.key", tmp_path / "copy")
    _accesses_on(copy)
    marker = json.loads((copy / MARKER).read_text())
    earlier = _log(copy)[marker["head"]["seq"] - 3]
    marker["head"] = {"seq": earlier["seq"], "leaf_hash": earlier["leaf_hash"]}
    (copy / MARKER).write_text(json.dumps(marker))
    size = len(_log(main_home))
    refused = run(main_home, "audit", "merge-continuity", str(copy))
    assert refused.returncode != 0 and "does not branch off this log" in refused.stderr
    assert len(_log(main_home)) == size


def test_a_copy_of_another_instance_is_refused(main_home: Path, tmp_path: Path) -> None:
    """I5: another practice's copy brought to this server: its events are not this log's."""
    other = tmp_path / "other" / "var"
    assert run(other, "init").returncode == 0
    made = run(other, "backup", "create", "--to", str(tmp_path / "other-backups"))
    assert made.returncode == 0, made.stderr
    copy = continuity.prepare_copy(
        Path(made.stdout.strip()), other / "secretum.key", tmp_path / "copy"
    )
    size = len(_log(main_home))
    refused = run(main_home, "audit", "merge-continuity", str(copy))
    assert refused.returncode != 0 and "another instance" in refused.stderr
    assert len(_log(main_home)) == size
    # A folder that is no copy at all is refused too.
    plain = run(main_home, "audit", "merge-continuity", str(tmp_path))
    assert plain.returncode != 0 and "not a continuity copy" in plain.stderr


def test_serve_refuses_a_folder_that_is_not_a_copy_of_that_backup(
    main_home: Path, backup: Path, tmp_path: Path
) -> None:
    """I5: an existing folder is reused only when it is a copy of the very same backup."""
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    args = ("serve", "--read-only", "--from-backup", str(backup))
    done = run(tmp_path / "nowhere", *args, "--key-file", str(main_home / "secretum.key"),
               "--home", str(busy))  # fmt: skip
    assert done.returncode == 1 and "is not a continuity copy" in done.stderr
    assert (busy / "notes.txt").read_text() == "keep me"
    assert run(tmp_path / "nowhere", *args).returncode == 2  # no key file: said how
    with pytest.raises(BackupError, match="not a Secretum backup"):
        continuity.prepare_copy(busy / "notes.txt", main_home / "secretum.key", tmp_path / "new")
    assert not (tmp_path / "new").exists()
    shutil.rmtree(busy)


def test_the_copy_runs_no_periodic_task_and_the_commands_are_listed(settings: Any) -> None:
    """I5: no scheduled backup of the copy, no account disabled or window closed there; `help`
    names both commands."""
    from secretum import cli
    from secretum.core.management.commands import serve

    settings.SECRETUM_READ_ONLY = True
    assert serve.periodic_tasks() == ()
    assert "serve --read-only --from-backup FILE" in cli.USAGE
    assert "audit merge-continuity DIR" in cli.USAGE
    assert cli._command_name(["audit", "merge-continuity", "x"]) == (
        "audit_merge_continuity",
        ["x"],
    )


def _continuity_findings() -> set[str]:
    from secretum.core.checks import instance_checks

    return {m.id for m in instance_checks()} & {"secretum.E010", "secretum.W006"}


def test_a_copy_is_served_only_read_only_and_the_server_never_is(read_only: Path, db: Any) -> None:
    """I5: `check` and `serve` refuse a continuity copy without SECRETUM_READ_ONLY (written on,
    it would hold records the server never gets back); the setting on the server warns."""
    from django.conf import settings

    assert _continuity_findings() == set()
    settings.SECRETUM_READ_ONLY = False
    assert _continuity_findings() == {"secretum.E010"}
    (read_only / MARKER).rename(read_only / "was-a-copy.json")
    settings.SECRETUM_READ_ONLY = True
    assert _continuity_findings() == {"secretum.W006"}
    (read_only / "was-a-copy.json").rename(read_only / MARKER)


def test_the_auditor_sees_which_events_came_from_a_continuity_copy(auditor: Any) -> None:
    """I5: a merged event keeps its own time and actor, and the log page says where it was
    recorded; a write refused on the copy says why."""
    import datetime as dt

    from secretum.audit.log import append_merged

    at = dt.datetime(2026, 3, 1, 9, 15, tzinfo=dt.UTC)
    texts = {"actor_name": "dr-copy", "role": "practitioner", "action": "update",
             "resource": "patients.Patient", "purpose": "care", "outcome": "denied",
             "source": "192.0.2.44"}  # fmt: skip
    merged = append_merged(
        texts, at, None, {"problem": READ_ONLY, "continuity": {"copy": "c", "seq": 9}}
    )
    assert merged.at == at and AuditEvent.objects.get(pk=merged.pk).actor_name == "dr-copy"
    page = client_for(auditor).get(reverse("audit:log")).content.decode()
    row = page[page.index(f'data-seq="{merged.seq}"') :].split("</tr>")[0]
    assert "(on the continuity copy)" in row and "dr-copy" in row
    assert "a read-only continuity copy: nothing can be changed there" in row


def test_a_merged_event_must_speak_the_logs_vocabulary(db: Any) -> None:
    """D1, I5: an event from a copy whose action is no word of the log is refused, not
    appended (an edited copy cannot bring a new kind of event)."""
    import datetime as dt

    from secretum.audit.log import append_merged
    from secretum.audit.models import AuditEvent

    before = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="unknown audit action"):
        append_merged({"action": "erase"}, dt.datetime.now(dt.UTC), None, {})
    assert AuditEvent.objects.count() == before
