"""No raw codes on screen (issue 16; WCAG 2.1 SC 3.1.1/3.1.2 language of the page and of its
parts, SC 1.3.1 info and relationships, SC 2.4.6 labels): every stored code a person reads (the
audit log's actions, resources, purposes, outcomes and roles, a clinical entry's coded fields, a
breach entry's history) goes through one labelled vocabulary, in French, Dutch and English.

The completeness test derives the codes from the code itself (the enums, and the resources the
writers pass to the audit log), so a new code without a label fails here.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from secretum.access.actor import Actor, Purpose
from secretum.access.policy import Role
from secretum.audit.log import record_event
from secretum.audit.models import Action, Outcome
from secretum.audit.vocabulary import (
    ACTION_LABELS,
    OUTCOME_LABELS,
    PURPOSE_LABELS,
    RESOURCE_LABELS,
    VOCABULARIES,
    label,
)
from secretum.breaches import services as breaches
from secretum.clinical import services as clinical
from secretum.clinical.rules import SEVERITIES
from secretum.core.templatetags.secretum import label as show
from secretum.lib.practice import practice_name
from secretum.patients import services as patients
from tests.conftest import SecureClient, actor_for, client_for, identity, make_user

PACKAGE = Path(__file__).resolve().parents[2] / "secretum"

# The functions that write an audit event, and the place of their ``resource`` argument.
_WRITERS = {
    "guarded": 3,
    "record_event": 2,
    "record_tampered": 0,
    "account_event": 2,
    "managing": 3,
    "EventDraft": 1,
    "_denied": None,  # keyword only
}


def _strings(node: ast.AST, constants: dict[str, str]) -> set[str]:
    """The string literals an argument can evaluate to: its literals, the module constants it
    names (``RESOURCE``), both branches of a conditional."""
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            found.add(sub.value)
        elif isinstance(sub, ast.Name) and sub.id in constants:
            found.add(constants[sub.id])
        elif isinstance(sub, ast.Attribute) and sub.attr in constants:
            found.add(constants[sub.attr])
    return found


def _module_constants(tree: ast.Module) -> dict[str, str]:
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }


def written_resources() -> set[str]:
    """Every resource code the writers can record, read from the source: the ``resource``
    argument of each audit writer call (literal, module constant, conditional), the defaults of
    parameters named ``resource``, and every model's label (written through ``_meta.label``)."""
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8"))
        for path in PACKAGE.rglob("*.py")
        if "migrations" not in path.parts
    }
    constants: dict[str, str] = {}
    for tree in trees.values():
        for name, value in _module_constants(tree).items():
            if name in ("RESOURCE", "REASON") and re.fullmatch(r"[a-z]+(\.[A-Z]\w+)?", value):
                constants[name] = value  # each module's own value is added below
    found: set[str] = set()
    for tree in trees.values():
        local = {**constants, **_module_constants(tree)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name not in _WRITERS:
                    continue
                place = _WRITERS[name]
                args = [k.value for k in node.keywords if k.arg == "resource"]
                if place is not None and len(node.args) > place:
                    args.append(node.args[place])
                for arg in args:
                    found |= _strings(arg, local)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                params = [*node.args.posonlyargs, *node.args.args]
                pairs: list[tuple[ast.arg, ast.expr | None]] = [
                    *zip(reversed(params), reversed(node.args.defaults), strict=False),
                    *zip(node.args.kwonlyargs, node.args.kw_defaults, strict=True),
                ]
                for param, default in pairs:
                    if param.arg == "resource" and isinstance(default, ast.Constant):
                        found.add(str(default.value))
    found |= {m._meta.label for m in apps.get_models() if m.__module__.startswith("secretum.")}
    # Names of variables and attributes read through ``_strings`` are not codes.
    return {code for code in found if re.fullmatch(r"[a-z]+(\.[A-Z]\w+)?", code)}


def test_the_resource_scan_finds_the_writers_codes() -> None:
    """The scan itself can fail: it finds codes written as literals, as module constants, as a
    default argument and as a model's label."""
    found = written_resources()
    assert {"session", "network", "clinical", "patients.Patient", "audit.Log"} <= found
    assert {"maintenance.ConsoleSession", "accounts.PasswordHistory", "compliance.Report"} <= found


def test_every_code_the_writers_can_produce_has_a_label() -> None:
    """SC 3.1.2, 1.3.1: each action, resource, purpose, outcome and role an event can record is
    in the vocabulary; a code added without a label fails."""
    assert set(Action.values) - set(ACTION_LABELS) == set()
    assert set(Outcome.values) - set(OUTCOME_LABELS) == set()
    assert {p.value for p in Purpose} - set(PURPOSE_LABELS) == set()
    assert {r.value for r in Role} - set(VOCABULARIES["role"]) == set()
    assert written_resources() - set(RESOURCE_LABELS) == set()
    for vocabulary in VOCABULARIES.values():
        assert all(str(text).strip() for text in vocabulary.values())


def test_an_unknown_code_is_shown_as_recorded_and_no_code_as_nothing() -> None:
    assert label("resource", "some.Future") == "some.Future"
    assert label("action", None) == label("action", "") == ""
    with translation.override("fr"):
        assert label("outcome", "success") == str(OUTCOME_LABELS["success"])
    assert show(None, "resource") == show("", "observation") == ""
    assert show("weight", "no-such-vocabulary") == "weight"
    from secretum.core.templatetags.secretum import get_item

    assert get_item({"a": "1"}, "a") == "1" and get_item({}, "a") is None


class _Cells(HTMLParser):
    """The text of each ``<td data-code>`` cell of a page, and the page's visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self.text: list[str] = []
        self._code: str | None = None
        self._buffer: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self._skip += 1
        if tag == "td" and dict(attrs).get("data-code") is not None:
            self._code, self._buffer = dict(attrs)["data-code"], []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._skip -= 1
        if tag == "td" and self._code is not None:
            self.cells.append((self._code, " ".join("".join(self._buffer).split())))
            self._code = None

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)
        if self._code is not None:
            self._buffer.append(data)


def _read(html: str) -> _Cells:
    parser = _Cells()
    parser.feed(html)
    return parser


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_the_audit_log_shows_labels_in_the_readers_language(
    practitioner: Any, language: str
) -> None:
    """SC 3.1.2, 1.3.1: the audit log's cells read "liste"/"lijst"-like words, never "search",
    "login-failed", "patients.Patient", "clinical.Observation", "care" or "success"."""
    actor = actor_for(practitioner)
    patient = patients.register_patient(actor, identity())
    clinical.record_entry(actor, patient.uid, "observation", {"code": "weight", "value": "71"})
    patients.search_patients(actor, identity()["birth_date"].strftime("%d/%m/%Y"))
    record_event(Actor(None, None, "127.0.0.1"), Action.LOGIN_FAILED, "session", outcome="denied")
    auditor = make_user(Role.AUDITOR)
    page = client_for(auditor).get("/audit/", headers={"Accept-Language": language})
    assert page.status_code == 200
    html = page.content.decode()
    assert f'lang="{language}"' in html
    read = _read(html)
    codes = {code for code, _text in read.cells}
    assert {"search", "create", "login-failed", "patients.Patient", "clinical.Observation"} <= codes
    assert {"care", "success", "denied", "session"} <= codes
    with translation.override(language):
        for code, text in read.cells:
            if not code:
                continue
            vocabulary = next(v for v in VOCABULARIES.values() if code in v)
            assert text.startswith(str(vocabulary[code])), (code, text)
    visible = " ".join(read.text)
    for raw in ("login-failed", "patients.Patient", "clinical.Observation"):
        assert raw not in visible
    with translation.override(language):  # an unnamed practice, in the reader's language
        assert practice_name() in visible and (language == "fr") == ("Cabinet médical" in visible)
    assert ">Resource<" not in html  # the column's header is translated words too
    # SC 2.4.4: a patient's link says where it leads, not only a cut-off identifier.
    links = re.findall(r'data-testid="patient-link">(.*?)</a>', html)
    assert links and all(link.startswith('<span class="visually-hidden">') for link in links)


@pytest.mark.parametrize("language", ["fr", "nl"])
def test_the_history_page_names_the_observation_not_its_code(
    practitioner: Any, patient: Any, language: str
) -> None:
    """SC 3.1.2: the history of an observation reads "Poids"/"Gewicht", never "weight"."""
    actor = actor_for(practitioner)
    values = {"code": "weight", "value": "71"}
    entry = clinical.record_entry(actor, patient.uid, "observation", values)
    url = reverse("clinical:history", args=["observation", entry.uid])
    html = client_for(practitioner).get(url, headers={"Accept-Language": language}).content.decode()
    visible = " ".join(_read(html).text)
    with translation.override(language):
        assert show("weight", "observation") in visible
    assert not re.search(r"\bweight\b", visible)


def test_the_breach_history_shows_dates_and_labels_not_iso_timestamps_or_codes(
    manager: Any,
) -> None:
    """SC 3.1.2, 1.3.1: a breach's history reads local dates and labelled codes."""
    actor = actor_for(manager)
    uid = breaches.report_breach(
        actor, aware_at=timezone.now() - dt.timedelta(hours=2), what_happened="Fictitious loss."
    )
    breaches.assess_breach(
        actor,
        uid,
        {"risk": "high", "people_categories": ["patients"], "record_categories": ["health"]},
    )
    notified = (timezone.now() - dt.timedelta(minutes=5)).replace(second=0, microsecond=0)
    breaches.record_notification(actor, uid, notified_at=notified, reference="DPA-1")
    url = reverse("breaches:breach", args=[uid])
    html = client_for(manager).get(url, headers={"Accept-Language": "nl"}).content.decode()
    visible = " ".join(_read(html).text)
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", visible)  # no ISO 8601 timestamp
    shown = timezone.localtime(notified).strftime("%d/%m/%Y %H:%M")  # in Brussels time
    assert visible.count(shown) >= 2  # on the card, and in the history's own line
    with translation.override("nl"):
        assert show("health", "breach-records") in visible
        assert show("high", "breach-risk") in visible
        assert show("authority_notified_at", "breach-field") in visible
    for raw in ("authority_notified_at", "record_categories", "people_categories"):
        assert raw not in visible


def test_breach_value_shows_each_kind_of_value() -> None:
    def render(value: Any, name: str) -> str:
        return Template("{% load secretum %}{{ v|breach_value:n }}").render(
            Context({"v": value, "n": name})
        )

    with timezone.override("Europe/Brussels"):
        assert render("2026-06-01T10:00:00+00:00", "aware_at") == "01/06/2026 12:00"
        assert render("2026-06-01T10:00:00", "aware_at") == "01/06/2026 10:00"  # naive: as it is
    assert render("not a date", "people_informed_at") == "not a date"
    assert render("2026-13-45T10:00:00", "people_informed_at") == "2026-13-45T10:00:00"
    assert render("patients,staff", "people_categories") == "patients, staff of the practice"
    assert render(None, "records_count") == "—"
    assert render(12, "records_count") == "12"


def test_entry_value_shows_a_coded_field_by_its_label() -> None:
    def render(kind: str, name: str, values: dict[str, Any]) -> str:
        return Template("{% load secretum %}{% entry_value k n v %}").render(
            Context({"k": kind, "n": name, "v": values})
        )

    with translation.override("nl"):
        severe = str(dict(SEVERITIES)["severe"])
        assert render("allergy", "severity", {"severity": "severe"}) == severe
    assert render("observation", "value", {"value": "71"}) == "71"
    assert render("observation", "code", {}) == "—"
    assert render("observation", "code", {"code": "future"}) == "future"


@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_the_default_practice_name_is_in_the_readers_language(
    db: Any, settings: Any, language: str
) -> None:
    """SC 3.1.2: a practice that gave no name is "Cabinet médical", "Medische praktijk" or
    "Medical practice", each in its language; a name given is shown as it is."""
    settings.PRACTICE_NAME = "Cabinet médical"
    html = SecureClient().get("/accounts/login/", headers={"Accept-Language": language})
    with translation.override(language):
        words = translation.gettext("Medical practice")
    assert f'<span class="practice">{words}</span>' in html.content.decode()
    settings.PRACTICE_NAME = "Groepspraktijk De Linde"
    html = SecureClient().get("/accounts/login/", headers={"Accept-Language": language})
    assert '<span class="practice">Groepspraktijk De Linde</span>' in html.content.decode()


def test_entry_name_names_each_kind_of_entry() -> None:
    """SC 2.4.4: the hidden words of a chart's "correct" links: the entry, then its moment."""
    from types import SimpleNamespace

    from secretum.core.templatetags.secretum import entry_name

    at = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.UTC)

    def named(kind: str, **values: str) -> str:
        return entry_name(SimpleNamespace(kind=kind, values=values, recorded_at=at))

    with timezone.override("Europe/Brussels"):
        weight = named("observation", code="weight", value="71", unit="kg")
        assert weight == f"{show('weight', 'observation')} 71 kg, 01/06/2026 12:00"
        assert named("problem", code="K86", label="HTA").startswith("HTA, ")
        assert named("allergy", substance="Latex", severity="severe").startswith("Latex, ")
        assert named("encounter", reason="Toux").startswith("Toux, ")
        assert named("observation") == "01/06/2026 12:00"
    assert entry_name(SimpleNamespace(kind="unknown", values={}, recorded_at=None)) == ""
