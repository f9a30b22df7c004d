"""How a measure's status follows from the practice's profile, the evidence and the practice's
declaration. Pure: no database, no request; the services feed it.

1. A measure of a part that does not apply to the practice (a cloud measure for a practice that
   hosts locally only) is *not applicable*; it stays listed.
2. A declaration never hides failing evidence (issue 11): when the measure's check fails, any
   declaration on it (adopted, equivalent measure, not needed) is *contradicted*, and the measure
   is *not met*, with the evidence's reason, until the check passes or the declaration is
   withdrawn. It stays among the reminders, in the daily summary and in the signed report.
3. A declaration of an *equivalent measure* or of *not needed*, with its justification, is the
   status: the checklist asks the practitioner exactly that. The evidence still shows beside it.
4. The evidence decides the rest: *met* or *not met* with the reason and what to do. A measure
   whose software part does not cover its organisational part (``also_declare``) also needs the
   practice's declaration to be met.
5. Without evidence: *declared* (adopted) when the practice declared it, otherwise *not met*:
   "no declaration yet" (organisational measures) or "not provided by this installation".

A declaration past its next review date is flagged overdue (a reminder), whatever the status.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secretum.compliance.catalogue import Category, Kind, Measure, Part
from secretum.compliance.evidence import Evidence


class Status(StrEnum):
    MET = "met"
    NOT_MET = "not-met"
    DECLARED = "declared"
    NOT_APPLICABLE = "not-applicable"


STATUS_LABELS = {
    Status.MET: gettext_lazy("met"),
    Status.NOT_MET: gettext_lazy("not met"),
    Status.DECLARED: gettext_lazy("declared"),
    Status.NOT_APPLICABLE: gettext_lazy("not applicable"),
}
CONTRADICTED_LABEL = gettext_lazy("not met: declaration contradicted by the evidence")
KIND_LABELS = {
    Kind.ENFORCE: gettext_lazy("enforced by Secretum"),
    Kind.SUPPORT: gettext_lazy("supported by Secretum"),
    Kind.DECLARE: gettext_lazy("organisational: the practice declares it"),
}


@dataclass(frozen=True)
class DeclarationView:
    measure: str
    version: int
    change: str
    change_label: str
    choice: str
    choice_label: str
    justification: str
    owner_id: int
    owner: str
    next_review: dt.date
    recorded_at: dt.datetime
    recorded_by: str
    overdue: bool
    changed_fields: tuple[str, ...] = ()  # against the previous version
    withdrawn: bool = False  # this version withdraws the declaration


@dataclass(frozen=True)
class MeasureRow:
    measure: Measure
    category: Category
    text: str
    applies: bool
    status: Status
    reason: str
    action: str
    evidence: Evidence | None
    declaration: DeclarationView | None
    documents: int
    last_verified: dt.datetime | None
    # A declaration that the failing evidence contradicts: counted as not met.
    contradicted: bool = False

    @property
    def id(self) -> str:
        return self.measure.id

    @property
    def status_label(self) -> str:
        if self.contradicted:
            return str(CONTRADICTED_LABEL)
        if self.status == Status.DECLARED and self.declaration is not None:
            return f"{STATUS_LABELS[self.status]}: {self.declaration.choice_label.lower()}"
        return str(STATUS_LABELS[self.status])

    @property
    def kind_label(self) -> str:
        return str(KIND_LABELS[self.measure.kind])

    @property
    def overdue(self) -> bool:
        return self.applies and self.declaration is not None and self.declaration.overdue

    @property
    def failing_evidence(self) -> bool:
        """Live evidence that does not pass (what the reminders show)."""
        return (
            self.applies
            and self.status == Status.NOT_MET
            and self.evidence is not None
            and not self.evidence.met
        )

    @property
    def needs_attention(self) -> bool:
        return self.failing_evidence or self.overdue

    @property
    def proof_lines(self) -> list[tuple[Evidence, bool]]:
        """Each check's evidence, labelled live or by construction, and whether its summary
        needs saying (not when the row's reason already is that summary)."""
        if self.evidence is None:
            return []
        proofs = self.evidence.proofs
        return [(p, len(proofs) > 1 or p.summary != self.reason) for p in proofs]


PART_NAMES = {
    Part.LOCAL: gettext_lazy("local hosting (part 1)"),
    Part.CLOUD: gettext_lazy("cloud hosting (part 2)"),
}


def decide(
    measure: Measure,
    parts: frozenset[Part],
    evidence: Evidence | None,
    declaration: DeclarationView | None,
    documents: int = 0,
) -> MeasureRow:
    def row(
        status: Status,
        reason: str,
        action: str = "",
        verified: dt.datetime | None = None,
        contradicted: bool = False,
    ) -> MeasureRow:
        return MeasureRow(
            measure=measure,
            category=measure.category_for(parts),
            text=measure.text(),
            applies=applies,
            status=status,
            reason=reason,
            action=action,
            evidence=evidence,
            declaration=declaration,
            documents=documents,
            last_verified=verified,
            contradicted=contradicted,
        )

    applies = bool(measure.parts & parts)
    declared_at = declaration.recorded_at if declaration is not None else None
    if not applies:
        only = ", ".join(str(PART_NAMES[p]) for p in sorted(measure.parts, reverse=True))
        return row(
            Status.NOT_APPLICABLE,
            _("Applies to %(parts)s only, which this practice does not use.") % {"parts": only},
        )
    if declaration is not None and evidence is not None and not evidence.met:
        return row(
            Status.NOT_MET,
            _(
                "Contradicted: the practice declared “%(choice)s”, but the evidence fails: "
                "%(summary)s"
            )
            % {"choice": declaration.choice_label.lower(), "summary": evidence.summary},
            " ".join(
                a
                for a in (
                    evidence.action,
                    _(
                        "The declaration does not count while the evidence fails: make the "
                        "check pass, or withdraw the declaration."
                    ),
                )
                if a
            ),
            evidence.verified_at,
            contradicted=True,
        )
    if declaration is not None and declaration.choice != "adopted":
        return row(
            Status.DECLARED,
            f"{declaration.choice_label}: {declaration.justification}",
            verified=declared_at,
        )
    if evidence is not None:
        if not evidence.met:
            return row(Status.NOT_MET, evidence.summary, evidence.action, evidence.verified_at)
        if measure.also_declare and declaration is None:
            return row(
                Status.NOT_MET,
                evidence.summary
                + " "
                + _(
                    "The organisational part of this measure still needs the practice's "
                    "declaration."
                ),
                _("Declare how the practice meets the rest of this measure."),
                evidence.verified_at,
            )
        return row(Status.MET, evidence.summary, verified=evidence.verified_at)
    if declaration is not None:
        return row(Status.DECLARED, _("Adopted by the practice."), verified=declared_at)
    if measure.kind == Kind.DECLARE:
        return row(
            Status.NOT_MET,
            _("No declaration yet."),
            _("Declare it adopted, or an equivalent measure, or not needed (with the reason)."),
        )
    return row(
        Status.NOT_MET,
        _("Not provided by this installation."),
        _(
            "A later module of Secretum provides it; until then, declare how the practice meets it "
            "(or why it is not needed)."
        ),
    )
