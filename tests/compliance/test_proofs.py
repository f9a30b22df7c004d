"""Two kinds of proof, labelled (issue 11): every check says whether it is live (it reads the
installation's state and can fail at run time) or by construction (a property of the code,
named with the tests that prove it); the registry refuses a check that says neither, and the
register shows the label and the tests' names."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from secretum.compliance import evidence, register
from secretum.compliance.evidence import Proof
from tests.conftest import actor_for, client_for
from tests.pdf import pdf_text

ROOT = Path(__file__).resolve().parents[2]

# The audit of every check (issue 11): C1, N1, N3 and O1 read constants or their own source,
# G1, E4, N2 and the routes of H2 the code; the rest reads the installation. Changing a label
# changes this table, in the same commit as the check.
BY_CONSTRUCTION = {"C1", "E4", "G1", "H2", "N1", "N2", "N3", "O1"}
LIVE = {
    "A1", "A2", "B1", "B2", "B3", "C1", "C2", "C3", "D1", "D2", "D3", "D4", "E1", "E2", "E3", "E7",
    "E9", "E10", "F1", "F3", "F4", "G2", "G3", "H1", "H2", "H3", "I1", "I2", "I3", "I4", "I5",
    "J1", "J2", "K1", "K2", "L1", "L2", "L3", "M3", "M4", "M5", "O2", "P1",
}  # fmt: skip


def _never() -> evidence.Evidence:
    return evidence.met("never registered")


def test_every_check_is_labelled_as_audited() -> None:
    found = evidence.registered()
    by_kind = {kind: {m for m, checks in found.items() for c in checks if c.proof == kind}
               for kind in Proof}  # fmt: skip
    assert by_kind == {Proof.BY_CONSTRUCTION: BY_CONSTRUCTION, Proof.LIVE: LIVE}


def test_a_check_without_its_kind_of_proof_is_refused() -> None:
    with pytest.raises(TypeError, match="proof"):
        evidence.evidence("E5")(_never)  # type: ignore[call-arg]  (what the test tries)
    with pytest.raises(ImproperlyConfigured, match="proof must be one of"):
        evidence.evidence("E5", proof="maybe")(_never)
    assert "E5" not in evidence.registered()


def test_a_check_by_construction_names_the_tests_that_prove_it() -> None:
    with pytest.raises(ImproperlyConfigured, match="names no test"):
        evidence.evidence("E5", proof=Proof.BY_CONSTRUCTION)(_never)
    with pytest.raises(ImproperlyConfigured, match="is not 'tests/"):
        evidence.evidence("E5", proof=Proof.BY_CONSTRUCTION, tests=("it works, trust me",))
    with pytest.raises(ImproperlyConfigured, match="a live check reads state"):
        evidence.evidence("E5", proof=Proof.LIVE, tests=("tests/core/test_cli.py::test_x",))
    assert "E5" not in evidence.registered()


def test_a_second_check_of_the_same_kind_is_refused_one_of_the_other_kind_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(evidence._CHECKS, "E5", {})
    evidence.evidence("E5", proof=Proof.LIVE)(_never)

    def _other() -> evidence.Evidence:
        return evidence.met("other")

    with pytest.raises(ImproperlyConfigured, match="two live evidence checks"):
        evidence.evidence("E5", proof=Proof.LIVE)(_other)
    evidence.evidence("E5", proof=Proof.BY_CONSTRUCTION, tests=("tests/x.py::test_y",))(_other)
    assert [c.proof for c in evidence.registered()["E5"]] == [Proof.BY_CONSTRUCTION, Proof.LIVE]


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_every_test_named_by_a_proof_exists() -> None:
    named = {t for checks in evidence.registered().values() for c in checks for t in c.tests}
    assert len(named) >= 10
    missing = []
    for test in sorted(named):
        file, name = test.split("::")
        if not (ROOT / file).is_file() or name not in _test_names(ROOT / file):
            missing.append(test)
    assert missing == []


def test_the_evidence_carries_its_label_and_a_measure_proved_twice_shows_both(db: Any) -> None:
    found = evidence.gather(["N2", "B1", "C1", "H2"])
    assert found["N2"].proof == Proof.BY_CONSTRUCTION and found["N2"].tests
    assert found["B1"].proof == Proof.LIVE and found["B1"].tests == ()
    for measure_id in ("C1", "H2"):
        proofs = found[measure_id].proofs
        assert [p.proof for p in proofs] == [Proof.BY_CONSTRUCTION, Proof.LIVE]
        assert found[measure_id].met and all(p.met for p in proofs)
        assert found[measure_id].summary == " ".join(p.summary for p in proofs)


def test_the_register_shows_each_label_and_the_tests_names(manager: Any) -> None:
    page = client_for(manager).get("/compliance/").content.decode()
    assert 'data-testid="proof-by-construction"' in page and 'data-testid="proof-live"' in page
    assert "<code>tests/clinical/test_rules.py::test_every_clinical_field_is_bounded</code>" in page
    measure = client_for(manager).get("/compliance/measures/c1/").content.decode()
    assert measure.count('data-testid="proof-') == 2
    assert "tests/access/test_policy.py::test_secretary_holds_no_medical_permission" in measure
    row = register.register(actor_for(manager)).row("N2")
    ((proof, _said),) = row.proof_lines
    assert proof.proof_label == "by construction"


def test_the_signed_report_labels_each_proof(manager: Any) -> None:
    from secretum.compliance import reports

    issued = reports.issue_report(actor_for(manager))
    html = reports.report_file(actor_for(manager), issued.uid, "html").data.decode()
    assert "[by construction: passes]" in html and "[live evidence: passes]" in html
    assert "tests/clinical/test_rules.py::test_every_clinical_field_is_bounded" in html
    text = pdf_text(reports.report_file(actor_for(manager), issued.uid, "pdf").data)
    assert "[by construction: passes]" in text and "[live evidence: passes]" in text
