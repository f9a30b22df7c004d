"""Evidence of bounded clinical fields (N2), for the register: a property of the code (by
construction), proven by the tests it names."""

from __future__ import annotations

from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met

LONGEST_FIELD = 4000  # characters: the SOAP parts of a consultation note


@evidence(
    "N2",
    proof=Proof.BY_CONSTRUCTION,
    tests=(
        "tests/clinical/test_services.py::test_note_fields_are_bounded",
        "tests/clinical/test_rules.py::test_every_clinical_field_is_bounded",
    ),
)
def bounded_fields() -> Evidence:
    from secretum.clinical import rules

    specs = [(kind, s) for kind, fields in rules.SPECS.items() for s in fields]
    unbounded = [f"{kind}.{s.name}" for kind, s in specs if not 0 < s.max_length <= LONGEST_FIELD]
    if unbounded:
        return not_met(
            _("Clinical fields without a bound."),
            _("Give every field of secretum/clinical/rules.py a maximum length."),
            *unbounded,
        )
    free = sum(1 for _kind, s in specs if s.multiline)
    coded = sum(1 for _kind, s in specs if s.choices or s.is_date)
    return met(
        _(
            "%(n)d structured clinical fields, each bounded (at most %(max)d characters); %(free)d "
            "free-text fields, all parts of a structured note; %(coded)d coded; observations "
            "checked against plausible ranges."
        )
        % {"n": len(specs), "max": LONGEST_FIELD, "free": free, "coded": coded}
    )
