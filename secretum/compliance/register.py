"""The measures register: the practice's profile (which part of the checklist applies) and the
row of every measure of the checklist, decided from its live evidence, the practice's
declaration and the documents attached to it (``status.decide``).

Views call these functions and receive frozen value objects; they never touch the models. Reads
of the register are checked (a refusal is audited); changing the profile is one transaction
with its audit event (``access.guard.guarded``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.compliance import catalogue, evidence
from secretum.compliance.catalogue import Category, Part, measure_or_404
from secretum.compliance.declarations import current_of, declaration_history
from secretum.compliance.documents import DocumentView, documents
from secretum.compliance.models import EvidenceDocument, Hosting, PracticeProfile
from secretum.compliance.people import acting_user
from secretum.compliance.status import DeclarationView, MeasureRow, Status, decide

# --- the practice's profile: which part of the checklist applies -------------------------------

HOSTING_PARTS = {
    Hosting.LOCAL: frozenset({Part.LOCAL}),
    Hosting.CLOUD: frozenset({Part.CLOUD}),
    Hosting.BOTH: frozenset({Part.LOCAL, Part.CLOUD}),
}


def practice_profile() -> PracticeProfile:
    found, _created = PracticeProfile.objects.get_or_create(pk=1)
    return found


def set_hosting(actor: Actor, hosting: str) -> None:
    if hosting not in Hosting.values:
        raise ValidationError(_("Choose where the practice's data are hosted."))
    with guarded(
        actor, Permission.COMPLIANCE_MANAGE, Action.UPDATE, "compliance.PracticeProfile"
    ) as event:
        profile = practice_profile()
        event.detail = {"hosting": hosting, "before": profile.hosting}
        profile.hosting = hosting
        profile.updated_by = acting_user(actor)
        profile.save()


# --- the register ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    hosting: str
    hosting_label: str
    parts: frozenset[Part]
    rows: tuple[MeasureRow, ...]
    generated_at: dt.datetime

    @property
    def groups(self) -> list[tuple[Category, list[MeasureRow]]]:
        """The rows by category, in the order of the source."""
        by: dict[str, list[MeasureRow]] = {}
        for row in self.rows:
            by.setdefault(row.category.code, []).append(row)
        order = catalogue.CATEGORY_ORDER
        return [(catalogue.CATEGORIES[c], by[c]) for c in sorted(by, key=order.__getitem__)]

    @property
    def counts(self) -> dict[str, int]:
        out = {s.value.replace("-", "_"): 0 for s in Status}
        for row in self.rows:
            out[row.status.value.replace("-", "_")] += 1
        out["total"] = len(self.rows)
        # Of the not met: declarations that failing evidence contradicts (issue 11).
        out["contradicted"] = sum(1 for row in self.rows if row.contradicted)
        return out

    @property
    def attention(self) -> list[MeasureRow]:
        return [r for r in self.rows if r.needs_attention]

    def row(self, measure_id: str) -> MeasureRow:
        return next(r for r in self.rows if r.id == measure_id)


def build_register() -> Register:
    """The register as it stands now. Unchecked: for the services and the CLI."""
    profile = practice_profile()
    parts = HOSTING_PARTS[Hosting(profile.hosting)]
    found = evidence.gather()
    current = {m: current_of(versions) for m, versions in declaration_history().items()}
    counted: dict[str, int] = {}
    for measure_id in EvidenceDocument.objects.values_list("measure", flat=True):
        counted[measure_id] = counted.get(measure_id, 0) + 1
    rows = tuple(
        decide(m, parts, found.get(m.id), current.get(m.id), counted.get(m.id, 0))
        for m in catalogue.MEASURES
    )
    return Register(
        hosting=profile.hosting,
        hosting_label=str(Hosting(profile.hosting).label),
        parts=parts,
        rows=rows,
        generated_at=timezone.now(),
    )


def register(actor: Actor) -> Register:
    require(actor, Permission.COMPLIANCE_READ, EventDraft(Action.READ, "compliance.Register"))
    return build_register()


@dataclass(frozen=True)
class MeasureDetail:
    row: MeasureRow
    history: list[DeclarationView]  # newest first
    documents: list[DocumentView]
    texts: dict[str, str]  # the measure in French, Dutch and English


def measure_detail(actor: Actor, measure_id: str) -> MeasureDetail:
    measure = measure_or_404(measure_id)
    require(
        actor,
        Permission.COMPLIANCE_READ,
        EventDraft(Action.READ, "compliance.Register", resource_ref=measure.id),
    )
    profile = practice_profile()
    parts = HOSTING_PARTS[Hosting(profile.hosting)]
    history = declaration_history(measure.id).get(measure.id, [])
    attached = documents(measure.id)
    row = decide(
        measure,
        parts,
        evidence.gather([measure.id]).get(measure.id),
        current_of(history),
        len(attached),
    )
    texts = {code: measure.text(code) for code in ("fr", "nl", "en")}
    return MeasureDetail(row, list(reversed(history)), attached, texts)
