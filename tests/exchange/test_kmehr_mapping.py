"""A SumEHR read item by item (issue 14): what is mapped, what is kept and why; the refusals of
a message's envelope, each in one clear sentence; the export of what the chart fixture lacks."""

from __future__ import annotations

import datetime as dt
import io
from types import SimpleNamespace
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from secretum.access.actor import Purpose
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Role
from secretum.audit.models import INFECTED
from secretum.clinical import rules
from secretum.exchange import kmehr, services
from secretum.exchange.kmehr import export, importer, mapping, parse
from secretum.exchange.kmehr import q as qualified
from secretum.maintenance.console import ConsoleActor
from tests.conftest import actor_for, events, make_user
from tests.documents import conftest as documents_conftest
from tests.exchange.test_kmehr import FIXTURE, REASON, for_patient

clamd_socket = documents_conftest.clamd_socket
scanner = documents_conftest.scanner
EICAR = documents_conftest.EICAR
SENDER = "Cabinet Fictif"


def item(body: str) -> Any:
    return fromstring(f'<item xmlns="{kmehr.NS}">{body}</item>')


def cd(table: str, value: str) -> str:
    return f'<cd S="{table}" SV="1">{value}</cd>'


def local(table: str, value: str) -> str:
    return f'<cd S="LOCAL" SL="{table}" SV="1.0">{value}</cd>'


def text(value: str) -> str:
    return f'<content><text L="fr">{value}</text></content>'


def product(name: str, cnk: str = "") -> str:
    code = f'<intendedcd S="CD-DRUG-CNK" SV="01-2016">{cnk}</intendedcd>' if cnk else ""
    named = f"{code}<intendedname>{name}</intendedname>"
    return f"<content><medicinalproduct>{named}</medicinalproduct></content>"


def life(value: str) -> str:
    return f"<lifecycle>{cd('CD-LIFECYCLE', value)}</lifecycle>"


def kept(body: str) -> str:
    with pytest.raises(mapping.NotMapped) as exc:
        mapping.map_item(item(body), SENDER)
    return str(exc.value)


def test_problem_codes_the_first_one_secretum_can_check() -> None:
    body = (
        cd("CD-ITEM", "problem")
        + "<content>"
        + cd("ICD", "Q99.99")
        + cd("ICD", "E11.9")
        + "</content>"
    )
    found = mapping.map_item(item(body), SENDER)
    assert found.values["code"] == "E11.9" and found.values["label"] == ""  # the WHO title follows
    icpc_without_label = cd("CD-ITEM", "problem") + "<content>" + cd("ICPC", "K86") + "</content>"
    assert "without an ICPC-2 or ICD-10 code" in kept(icpc_without_label)
    resolved = cd("CD-ITEM", "healthcareelement") + local(kmehr.LOCAL_STATUS, "resolved")
    resolved += "<content>" + cd("ICPC", "R74") + "</content>" + text("Angine") + life("inactive")
    assert mapping.map_item(item(resolved), SENDER).values["status"] == "resolved"


def test_allergy_by_product_name_and_its_refusals() -> None:
    by_name = cd("CD-ITEM", "allergy") + local(kmehr.LOCAL_SEVERITY, "severe") + product("Quzine")
    found = mapping.map_item(item(by_name + "<text L='fr'>urticaire</text>"), SENDER)
    assert found.values == {"substance": "Quzine", "reaction": "urticaire", "severity": "severe"}
    assert "no substance" in kept(cd("CD-ITEM", "adr") + "<content/>")


def test_medication_read_as_far_as_the_message_goes() -> None:
    assert "lifecycle is stopped" in kept(
        cd("CD-ITEM", "medication") + product("Quz") + life("stopped")
    )
    assert "no product" in kept(cd("CD-ITEM", "medication") + "<content/>")
    by_text = mapping.map_item(item(cd("CD-ITEM", "medication") + text("Quzol")), SENDER)
    assert by_text.values["drug"] == "Quzol" and by_text.values["dose"] == mapping.PLACEHOLDER
    # The CNK, the start and the stop, as another package writes them.
    body = cd("CD-ITEM", "medication") + product("Quzpril", "0999999")
    body += "<beginmoment><date>2026-01-02</date></beginmoment>"
    body += "<endmoment><date>2026-03-04</date></endmoment>"
    values = mapping.map_item(item(body), SENDER).values
    # endmoment is the last day taken: Secretum stops the day after.
    assert (values["cnk"], values["start"], values["stop"]) == (
        "0999999",
        "2026-01-02",
        "2026-03-05",
    )
    wrong = body.replace("2026-03-04", "mars")
    assert mapping.map_item(item(wrong), SENDER).values["stop"] == "mars"  # the rules refuse it


def test_medication_atc_strength_route_packages_and_delivery_date() -> None:
    """L1, L2: what a prescription records beyond the product, read back: the ATC code from the
    content's CD-ATC, the strength and route from our local codes (the strength taken off the
    name where we wrote it, left on a name that does not end with it), the packages from the
    quantity's decimal, the "deliver from" date from deliverydate."""
    body = cd("CD-ITEM", "medication") + local(kmehr.LOCAL_STRENGTH, "5 mg")
    body += local(kmehr.LOCAL_ROUTE, "sublingual") + product("Quzpril 5 mg", "0999999")
    body += "<content>" + cd("CD-ATC", "C09AA05") + "</content>"
    body += "<quantity><decimal>2.0</decimal></quantity>"
    body += "<posology><text L='fr'>1; daily; </text></posology>"
    body += "<instructionforpatient L='fr'>sublinguale</instructionforpatient>"
    body += "<deliverydate>2026-12-01</deliverydate>"
    values = mapping.map_item(item(body), SENDER).values
    assert values == {
        "drug": "Quzpril",
        "strength": "5 mg",
        "route": "sublingual",
        "cnk": "0999999",
        "atc": "C09AA05",
        "quantity": "2",
        "not_before": "2026-12-01",
        "dose": "1",
        "frequency": "daily",
    }
    # Another name: the strength stays a field, the name as written.
    other = body.replace("Quzpril 5 mg", "Quzpril comprimés")
    assert mapping.map_item(item(other), SENDER).values["drug"] == "Quzpril comprimés"
    # A quantity that is not a whole number is passed as written: the rules refuse it.
    half = mapping.map_item(item(body.replace("2.0", ".5")), SENDER)
    assert half.values["quantity"] == ".5"
    with pytest.raises(ValidationError, match="whole number"):
        rules.clean_entry("medication", half.values)
    assert mapping.map_item(item(body.replace("2.0", "two")), SENDER).values["quantity"] == "two"


def test_vaccine_given_by_its_author_else_the_sender() -> None:
    body = cd("CD-ITEM", "vaccine") + local(kmehr.LOCAL_DOSE, "1") + local(kmehr.LOCAL_SITE, "oral")
    body += (
        product("Quzpolio") + "<beginmoment><date>2020-05-06</date></beginmoment><batch>L1</batch>"
    )
    assert mapping.map_item(item(body), SENDER).values["given_by"] == SENDER
    author = (
        "<author><hcparty>"
        + cd("CD-HCPARTY", "orgpractice")
        + "<name>Centre Quz</name></hcparty></author>"
    )
    assert mapping.map_item(item(body + author), SENDER).values["given_by"] == "Centre Quz"
    assert "a vaccine Quzflu without" in kept(cd("CD-ITEM", "vaccine") + text("Quzflu"))
    assert "a social risk factor" in kept(cd("CD-ITEM", "socialrisk"))
    assert "does not read: ?" in kept("<content/>")


def _message(folder: str, header: str = "<header><sender><hcparty><firstname>Ann</firstname>"
             "<familyname>Quz</familyname></hcparty></sender></header>") -> bytes:  # fmt: skip
    return f'<kmehrmessage xmlns="{kmehr.NS}">{header}{folder}</kmehrmessage>'.encode()


PATIENT = (
    '<patient><id S="ID-PATIENT" SV="1.0">85073003328</id><firstname>Q</firstname>'
    "<familyname>Z</familyname></patient>"
)
BORN = "<birthdate><date>1985-13-45</date></birthdate>"
SUMEHR = "<transaction>" + cd("CD-TRANSACTION", "sumehr") + "</transaction>"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_message("<folder/>", header=""), "no header"),
        (_message("<folder/><folder/>"), "this message has 2 folders"),
        (_message("<folder/>"), "names no patient"),
        (_message("<folder><patient/></folder>"), "no national number"),
        (_message(f"<folder>{PATIENT.replace('<firstname>Q</firstname>', '')}</folder>"),
         "no first name"),
        (_message(f"<folder>{PATIENT.replace('</familyname>', '</familyname>' + BORN)}</folder>"),
         "not a date"),
        (_message("<folder>" + PATIENT + "</folder>"), "no SumEHR transaction"),
    ],
)  # fmt: skip
def test_an_envelope_without_what_a_sumehr_needs_is_refused(
    data: bytes, message: str, settings: Any
) -> None:
    with pytest.raises(ValidationError) as refused:
        parse.read(data)
    assert message in " ".join(refused.value.messages)


def test_sender_named_by_person_other_transactions_listed(settings: Any) -> None:
    other = "<transaction>" + cd("CD-TRANSACTION", "contactreport") + "</transaction>"
    nameless = "<header><sender><hcparty/><hcparty><firstname>Ann</firstname><familyname>Quz"
    nameless += "</familyname></hcparty></sender></header>"
    folder = "<folder>" + PATIENT + other + SUMEHR + SUMEHR + "</folder>"
    read = parse.read(_message(folder, header=nameless))
    assert read.sender == "Ann Quz" and read.identity.sex == ""
    assert read.other == ["a transaction contactreport", "a transaction sumehr"]
    assert parse.local(fromstring(f'<a xmlns="{kmehr.NS}"/>')) == "a" and qualified("a").endswith(
        "}a"
    )


def test_an_infected_message_is_refused_and_raises_the_alert(
    practitioner: Any, scanner: str
) -> None:
    with pytest.raises(ValidationError, match="antivirus scanner found"):
        importer.import_sumehr(actor_for(practitioner), EICAR, source_name="e.xml")
    (event,) = events(resource="exchange.Import")
    assert event.outcome == "failure" and f'"problem":"{INFECTED}"' in event.detail


def test_an_import_needs_an_author(db: Any) -> None:
    console = ConsoleActor(
        user=None, role=None, source="console", purpose=Purpose.MAINTENANCE, os_user="x"
    )
    with pytest.raises(ValidationError, match="practitioner's account"):
        importer.import_sumehr(console, FIXTURE.read_bytes(), source_name="x.xml")


def test_an_entry_the_checks_refuse_is_kept(practitioner: Any, scanner: str) -> None:
    """A vaccine dated in the future: what a form would refuse is kept, not recorded."""
    future = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    body = cd("CD-ITEM", "vaccine") + local(kmehr.LOCAL_DOSE, "1") + local(kmehr.LOCAL_SITE, "oral")
    body += (
        product("Quzpolio") + f"<beginmoment><date>{future}</date></beginmoment><batch>L1</batch>"
    )
    data = FIXTURE.read_bytes().replace(
        b'<text L="fr">Patient fictif', f'<item>{body}</item><text L="fr">Patient fictif'.encode()
    )
    report = importer.import_sumehr(actor_for(practitioner), data, source_name="f.xml")
    assert any("in the future" in line for line in report.kept)


def test_without_a_care_relationship_the_import_is_refused(patient: Any, scanner: str) -> None:
    """C1: a practitioner who does not care for a known patient writes nothing into the record."""
    stranger = make_user(Role.PRACTITIONER)
    data = for_patient(patient)
    with pytest.raises(NoCareRelationship):
        importer.import_sumehr(actor_for(stranger), data, source_name="n.xml")
    assert [e.outcome for e in events(resource="exchange.Import")] == ["failure"]


def test_the_command_says_what_it_found(
    practitioner: Any, patient: Any, scanner: str, tmp_path: Any
) -> None:
    path = tmp_path / "same.xml"
    path.write_bytes(for_patient(patient))
    call_command(
        "exchange_import",
        str(path),
        "--reason",
        REASON,
        "--as",
        practitioner.username,
        stdout=io.StringIO(),
    )
    out = io.StringIO()
    call_command(
        "exchange_import", str(path), "--reason", REASON, "--as", practitioner.username, stdout=out
    )
    said = out.getvalue()
    assert "4 already in the record" in said and "Warning: the record's identity differs" in said
    assert "family_name, given_name" in said
    with pytest.raises(CommandError, match="no such file"):
        call_command(
            "exchange_import",
            str(tmp_path / "none.xml"),
            "--reason",
            REASON,
            "--as",
            practitioner.username,
        )
    secretary = make_user(Role.SECRETARY)
    with pytest.raises(CommandError, match="refused"):
        call_command("exchange_import", str(path), "--reason", REASON, "--as", secretary.username)
    problem = "<item>" + cd("CD-ITEM", "problem") + "<content>" + cd("ICD", "I10")
    understood = SUMEHR.replace("</transaction>", problem + "</content></item></transaction>")
    path.write_bytes(_message(f"<folder>{PATIENT}{understood}</folder>"))
    out = io.StringIO()
    call_command(
        "exchange_import", str(path), "--reason", REASON, "--as", practitioner.username, stdout=out
    )
    assert "problem: 1 new" in out.getvalue() and "Not understood" not in out.getvalue()


def test_export_of_an_older_problem_a_cnk_and_from_the_console(db: Any, settings: Any) -> None:
    """What the chart fixture lacks: a problem of no stated system (recorded before problems had
    one), a medication with its CNK and dates, a patient with no birth date, the console."""
    identity = SimpleNamespace(
        niss="85073003328", given_name="Q", family_name="Z", birth_date=None, sex="other"
    )
    entry = lambda **v: SimpleNamespace(values=v)  # noqa: E731
    chart = SimpleNamespace(
        patient=identity,
        entries={
            "problem": [entry(code="K86", label="Old", onset=None, system=None, status=None)],
            "medication": [entry(drug="Quz", dose="1", frequency="2", duration="3", cnk="0999999",
                                 start="2026-01-01", stop="2027-02-01"),
                           entry(drug="Stopped", dose="1", frequency="2", duration="",
                                 start="2026-01-01", stop="2026-02-01")],
        },
    )  # fmt: skip
    xml, written = export.message(
        chart,
        dt.datetime(2026, 11, 30, tzinfo=dt.UTC),
        practice="P",
        author=None,
        recipient="",
        lang="fr",
    )
    assert written == {"problem": 1, "allergy": 0, "medication": 1, "vaccination": 0}
    root = fromstring(xml)
    ns = {"k": kmehr.NS}
    assert root.find("k:folder/k:transaction/k:author/k:hcparty/k:name", ns).text == "P"
    assert root.find("k:folder/k:patient/k:sex/k:cd", ns).text == "undefined"
    assert root.find("k:folder/k:patient/k:birthdate", ns) is None
    assert root.find(".//k:intendedcd", ns).text == "0999999"
    # The last day taken (Secretum's stop is the first day without); a stopped one left out.
    assert root.find(".//k:endmoment/k:date", ns).text == "2027-01-31"
    assert b"Stopped" not in xml
    problem = root.find("k:folder/k:transaction/k:item", ns)
    assert problem.find("k:content/k:cd", ns) is None  # no system: its label as text only


def test_unknown_format_and_a_patient_without_national_number(practitioner: Any) -> None:
    from secretum.patients import services as patients
    from tests.conftest import identity

    with pytest.raises(ValidationError, match="Unknown export format"):
        services.export_patient(actor_for(practitioner), "x", io.BytesIO(), format="hl7v2")
    nameless = patients.register_patient(actor_for(practitioner), identity(niss=""))
    with pytest.raises(ValidationError, match="national number"):
        services.export_patient(
            actor_for(practitioner),
            nameless.uid,
            io.BytesIO(),
            plain_reason="Fictitious reason here",
            format=kmehr.FORMAT,
        )


def test_secretum_import_takes_a_kmehr_file_encrypted_or_not_and_needs_its_author(
    practitioner: Any, patient: Any, scanner: str, tmp_path: Any, monkeypatch: Any, settings: Any
) -> None:
    """`secretum import` detects a SumEHR (.xml, .xml.age): its entries need a practitioner
    named with --as; --as names nobody for another format; an encrypted message is opened
    with the passphrase asked; one that does not open, or cannot be read, changes nothing."""
    from secretum.crypto import age
    from secretum.exchange import importing

    plain = tmp_path / "sumehr.xml"
    plain.write_bytes(for_patient(patient))
    with pytest.raises(CommandError, match="under a practitioner's account"):
        call_command("exchange_import", str(plain), "--reason", REASON)
    bundle = tmp_path / "b.json"
    bundle.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')
    with pytest.raises(CommandError, match="--as names the author of a KMEHR"):
        call_command("exchange_import", str(bundle), "--reason", REASON, "--as", "x")
    sealed = tmp_path / "sumehr.xml.age"
    with sealed.open("wb") as out:
        age.encrypt([for_patient(patient)], out, age.ScryptRecipient("quz-pass", work_factor=10))
    monkeypatch.setattr(
        "secretum.exchange.management.commands.exchange_import._ask", lambda: "wrong"
    )
    with pytest.raises(CommandError, match="cannot be decrypted"):
        call_command(
            "exchange_import", str(sealed), "--reason", REASON, "--as", practitioner.username
        )
    monkeypatch.setattr(
        "secretum.exchange.management.commands.exchange_import._ask", lambda: "quz-pass"
    )
    out = io.StringIO()
    call_command(
        "exchange_import", str(sealed), "--reason", REASON, "--as", practitioner.username,
        stdout=out,
    )  # fmt: skip
    assert "Imported (kmehr)" in out.getvalue() and "found by national number" in out.getvalue()
    folder = tmp_path / "folder.xml"
    folder.mkdir()
    actor = ConsoleActor(
        user=practitioner, role=Role.PRACTITIONER, source="console", purpose=Purpose.CARE,
        os_user="quz",
    )  # fmt: skip
    with pytest.raises(importing.ImportRefused, match="cannot be read"):
        importing.import_kmehr(actor, folder, importing.Secrets(), {})
    settings.SECRETUM_KMEHR_MAX_BYTES = 100_000
    big = tmp_path / "big.xml"
    big.write_bytes(b"<kmehrmessage>" + b" " * 300_000)
    with pytest.raises(importing.ImportRefused, match="it was not read"):
        importing.import_kmehr(actor, big, importing.Secrets(), {})
