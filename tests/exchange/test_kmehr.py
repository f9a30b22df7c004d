"""KMEHR SumEHR 2.0 (issue 14): exported from a chart, read back; a SumEHR written as another
package would imported with its report; hostile or malformed XML refused, nothing changed; the
gate (L1, L2, E2, E7)."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from secretum.access.actor import AccessDenied
from secretum.clinical import services as clinical
from secretum.clinical.models import MODELS
from secretum.documents.models import Document
from secretum.exchange import kmehr, services
from secretum.exchange.kmehr import importer
from secretum.lib import niss
from secretum.patients.models import Patient
from tests.conftest import actor_for, events, make_user
from tests.documents import conftest as documents_conftest

# A real ClamAV daemon (E2): an imported message is scanned before it is read.
clamd_socket = documents_conftest.clamd_socket
scanner = documents_conftest.scanner
REASON = "Fictitious: the patient moves to another practice."
NS = {"k": kmehr.NS}
FIXTURE = Path(__file__).parent / "sumehr_other_package.xml"


def _sumehr(user: Any, uid: str) -> bytes:
    out = io.BytesIO()
    services.export_patient(actor_for(user), uid, out, plain_reason=REASON, format=kmehr.FORMAT)
    return out.getvalue()


def _rows() -> dict[str, int]:
    counts = {kind: model.objects.count() for kind, model in MODELS.items()}
    return {**counts, "patient": Patient.objects.count(), "document": Document.objects.count()}


def _current(user: Any, uid: str) -> dict[str, list[dict[str, Any]]]:
    chart = clinical.access_chart(actor_for(user), uid)
    return {
        k: sorted((e.values for e in chart.entries[k]), key=str)
        for k in ("problem", "allergy", "medication", "vaccination")
    }


def test_export_is_a_sumehr_in_the_kmehr_namespace(practitioner: Any, full_chart: Any) -> None:
    xml = _sumehr(practitioner, full_chart.uid)
    root = ET.fromstring(xml)  # noqa: S314 (our own output)
    assert root.tag == f"{{{kmehr.NS}}}kmehrmessage"
    assert root.find("k:header/k:standard/k:cd", NS).text == kmehr.STANDARD
    assert root.find("k:folder/k:patient/k:id[@S='ID-PATIENT']", NS).text == full_chart.niss
    transaction = root.find("k:folder/k:transaction", NS)
    assert transaction.find("k:cd[@S='CD-TRANSACTION']", NS).text == "sumehr"
    assert transaction.find("k:iscomplete", NS).text == "true"
    items = transaction.findall("k:item", NS)
    kinds = [i.find("k:cd[@S='CD-ITEM']", NS).text for i in items]
    assert kinds.count("healthcareelement") == 3 and kinds.count("allergy") == 2
    assert kinds.count("medication") == 1 and kinds.count("vaccine") == 2
    codes = {
        (c.get("S"), c.get("SV"), c.text) for c in transaction.findall("k:item/k:content/k:cd", NS)
    }
    assert {("ICPC", "2", "K86"), ("ICD", "10", "E11.9"), ("ICPC", "2", "R74")} <= codes
    lifecycles = [c.text for c in transaction.findall("k:item/k:lifecycle/k:cd", NS)]
    assert "inactive" in lifecycles and "active" in lifecycles
    assert b"126" not in xml  # lab results are not part of the summary
    assert root.find("k:folder/k:transaction/k:item/k:posology/k:text", NS).text == (
        "1 tablet; daily; 3 months"
    )


def test_export_is_encrypted_by_default_and_audited(practitioner: Any, full_chart: Any) -> None:
    out = io.BytesIO()
    done = services.export_patient(
        actor_for(practitioner), full_chart.uid, out, format=kmehr.FORMAT
    )
    assert done.passphrase and out.getvalue().startswith(b"age-encryption.org/v1")
    assert full_chart.niss.encode() not in out.getvalue()
    (event,) = events(action="export")
    assert '"kmehr-sumehr"' in event.detail


def test_reimported_gives_the_same_entries(
    practitioner: Any, full_chart: Any, scanner: str
) -> None:
    """Round trip: the SumEHR read back into the same record adds nothing (each entry found
    there); read as another patient's (INSS and name changed), the same entries."""
    xml = _sumehr(practitioner, full_chart.uid)
    before = _rows()
    report = importer.import_sumehr(actor_for(practitioner), xml, source_name="s.xml")
    assert report.patient_uid == full_chart.uid and not report.created and not report.mismatch
    assert report.already == 8 and not report.imported and not report.kept
    assert _rows() == before
    other = niss.build(full_chart.birth_date, 611)
    copy = xml.replace(full_chart.niss.encode(), other.encode()).replace(
        full_chart.family_name.encode(), b"Quzcopy"
    )
    report = importer.import_sumehr(actor_for(practitioner), copy, source_name="s.xml")
    assert report.created and report.imported == {
        "problem": 3,
        "allergy": 2,
        "medication": 1,
        "vaccination": 2,
    }
    mine, theirs = (
        _current(practitioner, full_chart.uid),
        _current(practitioner, report.patient_uid),
    )
    for kind in ("problem", "allergy", "medication"):
        assert mine[kind] == theirs[kind], kind
    strip = lambda rows: [{k: v for k, v in r.items() if k != "given_by"} for r in rows]  # noqa: E731
    assert strip(mine["vaccination"]) == strip(theirs["vaccination"])


# A medication with every field a prescription records (docs/prescriptions.md), still taken.
FULL_MEDICATION = {
    "drug": "Quzpril", "strength": "5 mg", "cnk": "0999999", "atc": "C09AA05",
    "route": "sublingual", "dose": "1 tablet", "frequency": "daily", "duration": "",
    "start": "2026-11-01", "stop": "2099-06-01", "quantity": "3", "not_before": "2026-11-15",
}  # fmt: skip


def test_a_medication_with_every_field_goes_and_comes_back(
    practitioner: Any, patient: Any, scanner: str
) -> None:
    """L1, L2: nothing a medication records is lost on the way to another practice and back:
    the strength on the product's name and as a local code, the ATC code as CD-ATC, the route
    in words for the patient and as a local code, the packages and the "deliver from" date;
    read back as another patient, the same values, field for field."""
    clinical.record_entry(actor_for(practitioner), patient.uid, "medication", FULL_MEDICATION)
    xml = _sumehr(practitioner, patient.uid)
    item = ET.fromstring(xml).find("k:folder/k:transaction/k:item", NS)  # noqa: S314
    assert item.find("k:content/k:medicinalproduct/k:intendedname", NS).text == "Quzpril 5 mg"
    assert item.find("k:content/k:cd[@S='CD-ATC']", NS).attrib["SV"] == "1.0"
    assert item.find("k:content/k:cd[@S='CD-ATC']", NS).text == "C09AA05"
    assert item.find("k:quantity/k:decimal", NS).text == "3"
    assert item.find("k:deliverydate", NS).text == "2026-11-15"
    assert item.find("k:endmoment/k:date", NS).text == "2099-05-31"  # the last day taken
    assert item.find("k:instructionforpatient", NS).text  # the route in the reader's words
    assert item.find("k:route", NS) is None  # no CD-DRUG-ROUTE code (docs/exchange.md)
    assert {(c.get("SL"), c.text) for c in item.findall("k:cd[@S='LOCAL']", NS)} == {
        (kmehr.LOCAL_STRENGTH, "5 mg"),
        (kmehr.LOCAL_ROUTE, "sublingual"),
    }
    other = niss.build(patient.birth_date, 613)
    copy = xml.replace(patient.niss.encode(), other.encode())
    report = importer.import_sumehr(actor_for(practitioner), copy, source_name="s.xml")
    assert report.created and report.imported == {"medication": 1} and not report.kept
    assert not report.notes  # our own posology, split back
    (mine,) = _current(practitioner, patient.uid)["medication"]
    (theirs,) = _current(practitioner, report.patient_uid)["medication"]
    assert theirs == mine
    assert {k: v for k, v in theirs.items() if v} == {k: v for k, v in FULL_MEDICATION.items() if v}


def test_a_sumehr_of_another_package_imports_with_its_report(
    practitioner: Any, scanner: str
) -> None:
    data = FIXTURE.read_bytes()
    assert kmehr.detect(data) and not kmehr.detect(b"%PDF-1.7")
    report = importer.import_sumehr(actor_for(practitioner), data, source_name="other.xml")
    assert report.created and report.sender == "Cabinet Fictif des Tilleuls"
    assert report.imported == {"problem": 2, "medication": 2}
    kept = " | ".join(report.kept)
    for what in (
        "a risk factor",
        "a contact person",
        "global medical record",
        "lifecycle is excluded",
        "no severity",
        "without its date",
        "does not read: bloodpressure",
        "a part text",
    ):
        assert what in kept, what
    assert any("posology kept as written" in note for note in report.notes)
    document = Document.objects.get()
    assert document.source == "import" and document.content_type == "application/xml"
    current = _current(practitioner, report.patient_uid)
    assert {p["code"] for p in current["problem"]} == {"T90", "I10"}
    assert {p["status"] for p in current["problem"]} == {"active", "inactive"}
    (event,) = events(action="create", resource="exchange.Import")
    assert "Cabinet Fictif des Tilleuls" in event.detail and "Quz" not in event.detail


def for_patient(patient: Any) -> bytes:
    """The other package's SumEHR, for this patient's national number, birth date and sex."""
    data = FIXTURE.read_bytes().replace(b"85073003328", patient.niss.encode())
    data = data.replace(b"1985-07-30", patient.birth_date.isoformat().encode())
    return data.replace(b'SV="1.1">male<', f'SV="1.1">{patient.sex}<'.encode())


def test_a_name_that_differs_is_reported_never_overwritten(
    practitioner: Any, patient: Any, scanner: str
) -> None:
    report = importer.import_sumehr(
        actor_for(practitioner), for_patient(patient), source_name="o.xml"
    )
    assert not report.created and set(report.mismatch) == {"family_name", "given_name"}
    assert (
        clinical.access_chart(actor_for(practitioner), patient.uid).patient.family_name
        == patient.family_name
    )


def test_another_birth_date_or_sex_is_another_patient_and_nothing_is_imported(
    practitioner: Any, patient: Any, scanner: str
) -> None:
    """A message whose patient has this national number but another birth date or sex (which
    the number encodes) is for someone else, or a number is wrong: refused, nothing written."""
    right = for_patient(patient)
    other_sex = "female" if patient.sex != "female" else "male"
    wrong = [
        right.replace(patient.birth_date.isoformat().encode(), b"1901-01-01"),
        right.replace(f'SV="1.1">{patient.sex}<'.encode(), f'SV="1.1">{other_sex}<'.encode()),
    ]
    before = clinical.access_chart(actor_for(practitioner), patient.uid).entries
    for data in wrong:
        assert data != right
        with pytest.raises(ValidationError, match="another birth date or sex"):
            importer.import_sumehr(actor_for(practitioner), data, source_name="o.xml")
    assert clinical.access_chart(actor_for(practitioner), patient.uid).entries == before
    assert not Document.objects.exists()
    assert [e.outcome for e in events(resource="exchange.Import")] == ["failure", "failure"]


HOSTILE = {
    "xxe": (b'<?xml version="1.0"?><!DOCTYPE k [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<kmehrmessage xmlns="' + kmehr.NS.encode() + b'">&x;</kmehrmessage>', "DTD"),
    "laughs": (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">'
               b'<!ENTITY c "&b;&b;&b;&b;">]><kmehrmessage xmlns="' + kmehr.NS.encode()
               + b'">&c;</kmehrmessage>', "DTD"),
    "external dtd": (b'<?xml version="1.0"?><!DOCTYPE kmehrmessage SYSTEM "http://127.0.0.1:9/k.dtd">'
                     b'<kmehrmessage xmlns="' + kmehr.NS.encode() + b'"/>', "DTD"),
    "namespace": (b'<kmehrmessage xmlns="http://example.invalid/kmehr"/>', "not a KMEHR message"),
    "not xml": (b"%PDF-1.7 not a message", "not well-formed XML"),
    "truncated": (FIXTURE.read_bytes()[:700], "not well-formed XML"),
    "empty": (b"", "empty"),
    "bad inss": (FIXTURE.read_bytes().replace(b"85073003328", b"85073003329"), "check digits"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_or_malformed_input_is_refused_nothing_changed(
    practitioner: Any, scanner: str, name: str
) -> None:
    data, message = HOSTILE[name]
    before = _rows()
    with pytest.raises(ValidationError) as refused:
        importer.import_sumehr(actor_for(practitioner), data, source_name="h.xml")
    assert message in " ".join(refused.value.messages)
    assert _rows() == before
    (event,) = events(resource="exchange.Import")
    assert event.outcome == "failure"


def test_oversized_is_refused_before_it_is_read(
    practitioner: Any, scanner: str, settings: Any
) -> None:
    settings.SECRETUM_KMEHR_MAX_BYTES = 1000
    before = _rows()
    with pytest.raises(ValidationError, match="larger than"):
        importer.import_sumehr(actor_for(practitioner), FIXTURE.read_bytes(), source_name="big.xml")
    assert _rows() == before


def test_a_failure_midway_changes_nothing(
    practitioner: Any, scanner: str, monkeypatch: Any
) -> None:
    """All or nothing: the patient and the entries made before a failure are rolled back."""
    real = clinical.record_entry
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(clinical, "record_entry", failing)
    before = _rows()
    with pytest.raises(RuntimeError):
        importer.import_sumehr(actor_for(practitioner), FIXTURE.read_bytes(), source_name="f.xml")
    assert _rows() == before


@pytest.mark.parametrize("role", ["secretary", "auditor"])
def test_secretary_and_auditor_can_neither_import_nor_export(
    role: str, full_chart: Any, scanner: str
) -> None:
    from secretum.access.policy import Role

    user = make_user(Role(role))
    before = _rows()
    with pytest.raises(AccessDenied):
        importer.import_sumehr(actor_for(user), FIXTURE.read_bytes(), source_name="x.xml")
    with pytest.raises(AccessDenied):
        services.export_patient(actor_for(user), full_chart.uid, io.BytesIO(), format=kmehr.FORMAT)
    assert _rows() == before
    assert {e.outcome for e in events(actor_name=user.username)} == {"denied"}


def test_the_command_imports_and_refuses_in_one_sentence(
    practitioner: Any, scanner: str, tmp_path: Path
) -> None:
    path = tmp_path / "other.xml"
    path.write_bytes(FIXTURE.read_bytes())
    out = io.StringIO()
    call_command(
        "exchange_import", str(path), "--reason", REASON, "--as", practitioner.username, stdout=out
    )
    said = out.getvalue()
    assert "from Cabinet Fictif des Tilleuls" in said and "problem: 2 new" in said
    assert "kept in the original attached" in said
    (event,) = events(resource="exchange.Import")
    assert event.actor_name.startswith("os:")
    path.write_bytes(HOSTILE["xxe"][0])
    with pytest.raises(CommandError, match=r"DTD.*Nothing was imported"):
        call_command(
            "exchange_import", str(path), "--reason", REASON, "--as", practitioner.username
        )
    with pytest.raises(CommandError, match="no active account"):
        call_command("exchange_import", str(path), "--reason", REASON, "--as", "nobody")


def test_the_kept_original_is_downloaded_never_shown(practitioner: Any, scanner: str) -> None:
    """The original message (XML from outside) is never rendered as a page of ours: the chart's
    "show" link asks how it leaves, as any download (E7: encrypted by default); in clear, with a
    reason, it is saved by the browser, sandboxed and never sniffed."""
    from tests.conftest import client_for

    report = importer.import_sumehr(
        actor_for(practitioner), FIXTURE.read_bytes(), source_name="other.xml"
    )
    client = client_for(practitioner)
    shown = client.get(f"/documents/{report.document}/")
    assert shown.status_code == 302
    assert shown["Location"].endswith(f"/documents/{report.document}/download/")
    asked = client.get(shown["Location"])
    assert asked.status_code == 200 and FIXTURE.read_bytes() not in asked.content
    served = client.post(
        f"/documents/{report.document}/download/",
        {"delivery": "plain", "delivery_reason": "Sent to the hospital on a USB key, fictitious."},
    )
    assert served.status_code == 200 and served.content == FIXTURE.read_bytes()
    assert served["Content-Disposition"].startswith("attachment;")
    assert ".xml" in served["Content-Disposition"]
    assert served["X-Content-Type-Options"] == "nosniff"
