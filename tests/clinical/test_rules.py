"""N2: every clinical field is framed: a purpose, a bounded length (the register's N2 names
this test: a proof by construction)."""

from __future__ import annotations

from secretum.clinical import rules
from secretum.clinical.evidence import LONGEST_FIELD


def test_every_clinical_field_is_bounded() -> None:
    specs = [(kind, spec) for kind, fields in rules.SPECS.items() for spec in fields]
    assert len(specs) >= 10
    unbounded = [f"{kind}.{s.name}" for kind, s in specs if not 0 < s.max_length <= LONGEST_FIELD]
    assert unbounded == []
    # Free text exists only as a part of a structured note, never as a lone comment field.
    free = {s.name for _kind, s in specs if s.multiline}
    assert free and not free & {"comment", "remarks", "notes", "free_text"}
