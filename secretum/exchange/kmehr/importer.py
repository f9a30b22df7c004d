"""A SumEHR from another package into Secretum (issue 14): one transaction, all or nothing.

The file is size-checked, then scanned by ClamAV (E2: a file from outside is scanned before it
is read), then parsed (parse.py: no DTD, no entity, the KMEHR namespace). The patient is found
by the national number (INSS), or registered from the message's identity; when the record's
identity differs from the message's in its names, the report says which, and nothing of the
record's identity is overwritten (another package may spell a name otherwise); when it differs
in the birth date or the sex, which the national number itself encodes, the message is for
another patient or one of the two numbers is wrong: refused, nothing imported. Each item
Secretum understands becomes a clinical entry through the clinical services (checked, audited,
the importing practitioner its author); one already in the record is not added twice. Whatever
is not understood is never dropped: the original message is attached to the patient as a
document (downloaded only) and each such part named in the report. The import's own audit event
names the sender ("imported from"), the counts and the attached document, never the content."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import guarded
from secretum.access.policy import Permission
from secretum.audit.models import INFECTED, Action
from secretum.clinical import rules
from secretum.clinical import services as clinical
from secretum.documents import services as documents
from secretum.exchange import kmehr
from secretum.exchange.kmehr import mapping, parse
from secretum.patients import services as patients

RESOURCE = "exchange.Import"
# A field that may differ in a copy of an entry already in the record: who gave a vaccine is
# the sender's name once imported, empty in the record that gave it.
_NOT_COMPARED = frozenset({"given_by"})


@dataclass
class ImportReport:
    patient_uid: str
    created: bool  # the patient was registered from the message
    sender: str
    imported: dict[str, int] = field(default_factory=dict)  # new entries, by kind
    already: int = 0  # items already in the record, not added again
    kept: list[str] = field(default_factory=list)  # not understood: in the attached original
    notes: list[str] = field(default_factory=list)  # how an understood item was read
    mismatch: list[str] = field(default_factory=list)  # identity fields that differ
    document: str = ""  # the attached original's reference, when something was kept


def report_lines(source: str, report: ImportReport) -> list[str]:
    """What the console says of one SumEHR imported: the patient, the entries, what was kept."""
    said = "registered from the message" if report.created else "found by national number"
    out = [f"Imported {source} from {report.sender}: patient {report.patient_uid} ({said})."]
    out += [f"  {kind}: {count} new" for kind, count in sorted(report.imported.items())]
    if report.already:
        out.append(f"  {report.already} already in the record, not added again")
    out += [f"  note: {line}" for line in report.notes]
    if report.mismatch:
        out.append(
            "Warning: the record's identity differs from the message's in "
            f"{', '.join(report.mismatch)}; the record's was kept, check the patient."
        )
    if report.kept:
        out.append(
            f"Not understood, kept in the original attached to the patient ({report.document}):"
        )
        out += [f"  - {line}" for line in report.kept]
    return out


def _need_author(actor: Actor) -> None:
    if actor.user is None:
        raise ValidationError(
            _("An import records entries under a practitioner's account: name the practitioner.")
        )


def _patient(actor: Actor, identity: parse.Identity) -> tuple[str, bool, list[str]]:
    """The patient's reference, whether registered now, and the identity fields that differ."""
    found = patients.patient_ref_for_niss(identity.niss)
    if found is None:
        made = patients.register_patient(
            actor,
            {"family_name": identity.family_name, "given_name": identity.given_name,
             "birth_date": identity.birth_date, "sex": identity.sex or None,
             "niss": identity.niss},
        )  # fmt: skip
        return made.uid, True, []
    record = patients.access_patient(actor, found)
    differ = []
    if record.family_name.casefold() != identity.family_name.casefold():
        differ.append("family_name")
    if record.given_name.casefold() != identity.given_name.casefold():
        differ.append("given_name")
    if identity.birth_date and record.birth_date != identity.birth_date:
        differ.append("birth_date")
    if identity.sex and record.sex and record.sex != identity.sex:
        differ.append("sex")
    if {"birth_date", "sex"} & set(differ):
        raise ValidationError(
            _(
                "The patient with this national number in Secretum has another birth date or "
                "sex than the message's: the message may be for another patient, or one of the "
                "two national numbers is wrong. Nothing was imported; check the patient."
            ),
            code="identity",
        )
    return found, False, differ


def _present(existing: list[Any], values: dict[str, Any]) -> bool:
    return any(
        all(e.values.get(k) == v for k, v in values.items() if k not in _NOT_COMPARED)
        for e in existing
    )


def import_sumehr(actor: Actor, data: bytes, *, source_name: str) -> ImportReport:
    """Import one SumEHR message (bytes as read from ``source_name``, a file's name), or raise
    ValidationError (a message saying what is wrong) or AccessDenied, having changed nothing."""
    name = documents.clean_title(source_name)
    with guarded(
        actor,
        Permission.CLINICAL_WRITE,
        Action.CREATE,
        RESOURCE,
        detail={"format": kmehr.FORMAT, "file": name},
    ) as event:
        _need_author(actor)
        parse.check_size(data)
        verdict = documents.scan(data)
        if not verdict.clean:  # E2: the auditor's "virus" alert reads this
            event.detail["problem"] = INFECTED
            event.detail["signature"] = verdict.signature[:200]
            raise ValidationError(
                _("The antivirus scanner found %(name)s in this file: it was not imported.")
                % {"name": verdict.signature}
            )
        message = parse.read(data)
        uid, created, mismatch = _patient(actor, message.identity)
        event.patient_ref = event.resource_ref = uid
        report = ImportReport(uid, created, message.sender, mismatch=mismatch)
        chart = None if created else clinical.access_chart(actor, uid)
        report.kept.extend(message.other)
        for n, item in enumerate(message.items, 1):
            _one(actor, report, chart, n, item, message.sender)
        if report.kept:
            title = _("SumEHR from %(sender)s (%(file)s)") % {
                "sender": message.sender,
                "file": name,
            }
            report.document = documents.keep_received(
                actor, uid, name=f"{title}.xml", data=data, verdict=verdict
            ).uid
        event.detail.update(
            {"from": message.sender, "standard": message.standard[:20], "created": created,
             "entries": report.imported, "already": report.already, "kept": len(report.kept),
             "identity_differs": mismatch, "document": report.document},
        )  # fmt: skip
        return report


def _one(actor: Actor, report: ImportReport, chart: Any, n: int, item: Any, sender: str) -> None:
    """One item: an entry recorded, an entry already there, or a part kept (named)."""
    try:
        found = mapping.map_item(item, sender)
        values = rules.clean_entry(found.kind, found.values)
    except mapping.NotMapped as exc:
        report.kept.append(_("item %(n)d: %(what)s") % {"n": n, "what": exc})
        return
    except ValidationError as exc:  # understood, but what Secretum would refuse from a form
        report.kept.append(_("item %(n)d: %(what)s") % {"n": n, "what": " ".join(exc.messages)})
        return
    if chart is not None and _present(chart.entries.get(found.kind, []), values):
        report.already += 1
        return
    clinical.record_entry(actor, report.patient_uid, found.kind, found.values)
    report.imported[found.kind] = report.imported.get(found.kind, 0) + 1
    if found.note:
        report.notes.append(_("item %(n)d: %(what)s") % {"n": n, "what": found.note})
