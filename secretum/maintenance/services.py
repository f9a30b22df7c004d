"""The maintenance log (K1, E3, K2): every read and write of an intervention, checked and
audited.

The practice manager and the IT maintainer record each intervention on the practice's equipment:
when, who (name, company), on what, what was done, whether the user of the workstation agreed
beforehand (E3), and who of the practice supervised an outside company's intervention (K2). An
entry is never changed nor deleted; a correction is a new entry naming the one it corrects. Each
write is one transaction with its "maintenance" audit event (``access.guard.guarded``), which
names the entry and its flags, never its text; each read and the CSV export are audited too:
the text may name people, and it is sealed under the instance's key file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor, role_of
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission, Role
from secretum.audit.models import Action
from secretum.compliance.people import acting_user, display_name, display_names, system_name
from secretum.crypto import keyring
from secretum.crypto.sealing import Delivery, Kind
from secretum.lib.dates import check_recent
from secretum.maintenance.entries import (
    TEXT_LIMITS,
    EntryGroup,
    EntryView,
    Intervention,
)
from secretum.maintenance.models import MaintenanceEntry

RESOURCE = "maintenance.MaintenanceEntry"
LIST_LIMIT = 500  # entries on the page, the newest; the export holds them all


def sealed_aad(uid: Any) -> str:
    return f"maintenance.MaintenanceEntry.sealed:{uid}"


def _seal(texts: dict[str, str], uid: Any) -> bytes:
    return keyring.seal_secret(json.dumps(texts, sort_keys=True).encode(), sealed_aad(uid))


def _open(blob: Any, uid: Any) -> dict[str, str]:
    found = json.loads(keyring.open_secret(blob, sealed_aad(uid)).decode())
    return {k: str(v) for k, v in found.items()} if isinstance(found, dict) else {}


# --- what a person records ----------------------------------------------------------------------


def practice_users(*, current: bool = False) -> list[tuple[int, str]]:
    """The active users of the practice, by name: who may have supervised an intervention (K2)
    or be named as its author; with ``current``, only those who hold their role now (C2): who
    may supervise a maintenance window. Never an outside technician (K2: the practice supervises
    them). Their names only, as every register shows them."""
    users = get_user_model().objects.filter(is_active=True).exclude(role__in=("", Role.TECHNICIAN))
    chosen = [u for u in users if not current or role_of(u) is not None]
    return sorted(((u.pk, display_name(u)) for u in chosen), key=lambda pair: pair[1].lower())


def check_intervention(data: Intervention) -> tuple[dict[str, str], dict[str, bool]]:
    """The intervention's sealed text and its flags, or a ValidationError naming each field
    wrong (the form's field names), in one sentence each."""
    errors: dict[str, str] = {}
    texts: dict[str, str] = {}
    required = {
        "intervener": _("Say who intervened."),
        "equipment": _("Say on which equipment."),
        "what": _("Say what was done."),
    }
    for name, limit in TEXT_LIMITS.items():
        if name == "correction_reason":
            continue
        value = str(getattr(data, name) or "").strip()
        if len(value) > limit:
            errors[name] = _("At most %(n)d characters.") % {"n": limit}
        elif not value and name in required:
            errors[name] = required[name]
        texts[name] = value
    at = data.intervened_at
    try:
        check_recent(at)  # N2
    except ValidationError as exc:
        errors["intervened_at"] = " ".join(exc.messages)
    else:
        if at > timezone.now() + dt.timedelta(minutes=5):
            errors["intervened_at"] = _("The intervention cannot be in the future.")
    # E3: the user of the workstation agreed beforehand, and is named.
    if data.consent is None:
        errors["consent"] = _("Say whether the user of the workstation consented beforehand.")
    elif data.consent and not texts["consent_by"]:
        errors.setdefault("consent_by", _("Give the name of the user who consented."))
    elif not data.consent and data.on_workstation:
        errors["consent"] = _(
            "An intervention on a user's workstation needs that user's consent beforehand "
            "(E3): ask them first. If it was not on a user's workstation (the server, the "
            "network), say so."
        )
    if not data.consent:
        texts["consent_by"] = ""
    # K2: an outside company's intervention is supervised by someone of the practice.
    if data.supervisor_id is not None and data.supervisor_id not in dict(practice_users()):
        errors["supervisor"] = _("Choose an active user of the practice.")
    elif texts["company"] and data.supervisor_id is None:
        errors["supervisor"] = _(
            "An outside company's intervention must be supervised by someone of the practice "
            "(K2): say who."
        )
    if errors:
        raise ValidationError(errors)
    flags = {
        "outside": bool(texts["company"]),
        "on_workstation": bool(data.on_workstation),
        "consent": bool(data.consent),
    }
    return texts, flags


def append_entry(
    actor: Actor,
    at: dt.datetime,
    texts: dict[str, str],
    flags: dict[str, bool],
    *,
    supervisor_id: int | None = None,
    origin: str = MaintenanceEntry.Origin.FORM,
    corrects: MaintenanceEntry | None = None,
) -> MaintenanceEntry:
    """Append one entry, its text sealed. No check and no event of its own: the caller holds
    the gate (a ``guarded`` call) and has checked the text."""
    uid = uuid.uuid4()
    return MaintenanceEntry.objects.create(
        uid=uid,
        intervened_at=at,
        recorded_at=timezone.now(),
        recorded_by=acting_user(actor),
        origin=origin,
        supervisor_id=supervisor_id,
        corrects=corrects,
        sealed=_seal(texts, uid),
        **flags,
    )


def record_intervention(actor: Actor, data: Intervention) -> str:
    """K1: record an intervention. Refused, saying why, without the consent of the workstation's
    user (E3) or, for an outside company, without a supervisor of the practice (K2). Returns the
    entry's reference."""
    require(actor, Permission.MAINTENANCE_LOG_WRITE, EventDraft(Action.MAINTENANCE, RESOURCE))
    texts, flags = check_intervention(data)
    with guarded(
        actor, Permission.MAINTENANCE_LOG_WRITE, Action.MAINTENANCE, RESOURCE, detail=flags
    ) as event:
        entry = append_entry(
            actor, data.intervened_at, texts, flags, supervisor_id=data.supervisor_id
        )
        event.resource_ref = str(entry.uid)
        return str(entry.uid)


def _get(uid: Any, *, lock: bool = False) -> MaintenanceEntry:
    qs = MaintenanceEntry.objects.select_for_update() if lock else MaintenanceEntry.objects.all()
    try:
        return qs.get(uid=uid)
    except (MaintenanceEntry.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such maintenance entry.") from None


def correct_intervention(actor: Actor, uid: Any, data: Intervention, reason: str) -> str:
    """A correction: a new entry, as the intervention should have been recorded, that names the
    one it corrects and why. The corrected entry stays as it was. An entry is corrected once:
    a later mistake is corrected on its correction. Only who may read the log corrects it: an
    outside technician records their intervention, never rewrites the record of their own
    maintenance window (K2). Returns the new entry's reference."""
    for permission in (Permission.MAINTENANCE_LOG_WRITE, Permission.MAINTENANCE_LOG_READ):
        require(actor, permission, EventDraft(Action.MAINTENANCE, RESOURCE))
    reason = str(reason or "").strip()
    limit = TEXT_LIMITS["correction_reason"]
    problems: dict[str, str] = {}
    if not reason:
        problems["reason"] = _("Say why the entry is corrected.")
    elif len(reason) > limit:
        problems["reason"] = _("At most %(n)d characters.") % {"n": limit}
    try:
        texts, flags = check_intervention(data)
    except ValidationError as exc:
        raise ValidationError({**problems, **exc.message_dict}) from None
    if problems:
        raise ValidationError(problems)
    texts["correction_reason"] = reason
    with guarded(
        actor,
        Permission.MAINTENANCE_LOG_WRITE,
        Action.MAINTENANCE,
        RESOURCE,
        detail={**flags, "corrects": str(uid)},
    ) as event:
        old = _get(uid, lock=True)  # PostgreSQL: a second correction waits, then sees this one
        if MaintenanceEntry.objects.filter(corrects=old).exists():
            raise ValidationError(
                _("This entry is already corrected: correct its latest correction instead.")
            )
        try:
            with transaction.atomic():  # the database's unique link closes the race on SQLite
                entry = append_entry(
                    actor,
                    data.intervened_at,
                    texts,
                    flags,
                    supervisor_id=data.supervisor_id,
                    corrects=old,
                )
        except IntegrityError:
            raise ValidationError(
                _("This entry is already corrected: correct its latest correction instead.")
            ) from None
        event.resource_ref = str(entry.uid)
        return str(entry.uid)


# --- what the log shows -------------------------------------------------------------------------


def _views(rows: list[MaintenanceEntry]) -> dict[int, EntryView]:
    """The rows opened, by primary key, each knowing what it corrects and what corrects it."""
    ids = {r.recorded_by_id for r in rows if r.recorded_by_id}
    ids |= {r.supervisor_id for r in rows if r.supervisor_id}
    names = display_names(ids)
    corrected_by = {r.corrects_id: r.pk for r in rows if r.corrects_id}
    out: dict[int, EntryView] = {}
    for r in rows:
        text = _open(r.sealed, r.uid)
        out[r.pk] = EntryView(
            uid=str(r.uid),
            number=r.pk,
            intervened_at=r.intervened_at,
            recorded_at=r.recorded_at,
            recorded_by=names.get(r.recorded_by_id or 0, system_name()),
            origin=r.origin,
            origin_label=str(MaintenanceEntry.Origin(r.origin).label),
            intervener=text.get("intervener", ""),
            company=text.get("company", ""),
            supervisor=names.get(r.supervisor_id, "?") if r.supervisor_id else "",
            supervisor_id=r.supervisor_id,
            equipment=text.get("equipment", ""),
            what=text.get("what", ""),
            on_workstation=r.on_workstation,
            consent=r.consent,
            consent_by=text.get("consent_by", ""),
            corrects=r.corrects_id,
            correction_reason=text.get("correction_reason", ""),
            corrected_by=corrected_by.get(r.pk),
        )
    return out


def list_entries(actor: Actor) -> list[EntryGroup]:
    """The log, newest intervention first: each entry as it stands, with the entries it
    corrects below it."""
    with guarded(actor, Permission.MAINTENANCE_LOG_READ, Action.SEARCH, RESOURCE) as event:
        rows = list(MaintenanceEntry.objects.order_by("-intervened_at", "-id")[:LIST_LIMIT])
        views = _views(rows)
        event.detail["entries"] = len(rows)
    groups = []
    for r in rows:
        if views[r.pk].corrected_by is not None:
            continue  # shown below the entry that corrects it
        earlier = []
        previous = r.corrects_id
        while previous is not None and previous in views:
            earlier.append(views[previous])
            previous = views[previous].corrects
        groups.append(EntryGroup(views[r.pk], tuple(earlier)))
    return groups


def access_entry(actor: Actor, uid: Any) -> EntryView:
    """One entry, to correct it."""
    with guarded(actor, Permission.MAINTENANCE_LOG_READ, Action.READ, RESOURCE, resource_ref=uid):
        entry = _get(uid)
        found = _views([entry])[entry.pk]
        later = MaintenanceEntry.objects.filter(corrects=entry).values_list("pk", flat=True)
        if later:
            found = replace(found, corrected_by=later[0])
        return found


# --- the auditor's export -----------------------------------------------------------------------

CSV_COLUMNS = (
    "number", "intervened_at", "intervener", "company", "supervised_by", "equipment", "what",
    "on_workstation", "consent", "consent_by", "origin", "recorded_at", "recorded_by",
    "corrects", "corrected_by", "correction_reason",
)  # fmt: skip


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must never run a cell as a formula (OWASP CSV injection), as audit/fhir.py.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Export:
    filename: str
    text: str
    count: int


def export_log(actor: Actor, *, delivery: Delivery | None = None) -> Export:
    """The whole log as CSV (UTF-8, RFC 4180), oldest entry first: for the auditor, whatever
    spreadsheet or tool they use. The export is itself an audited event, which names how the file
    leaves (``delivery``, E7, M3: never the passphrase)."""
    with guarded(
        actor,
        Permission.MAINTENANCE_LOG_READ,
        Action.EXPORT,
        RESOURCE,
        detail={"format": "csv", **(delivery.audit_detail(Kind.CSV) if delivery else {})},
    ) as event:
        views = _views(list(MaintenanceEntry.objects.order_by("id")))
        event.detail["entries"] = len(views)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for v in views.values():
        writer.writerow(
            [
                v.number,
                _when(v.intervened_at),
                *map(_cell, (v.intervener, v.company, v.supervisor, v.equipment, v.what)),
                "yes" if v.on_workstation else "no",
                "yes" if v.consent else "no",
                _cell(v.consent_by),
                v.origin,
                _when(v.recorded_at),
                _cell(v.recorded_by),
                v.corrects or "",
                v.corrected_by or "",
                _cell(v.correction_reason),
            ]
        )
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return Export(f"maintenance-log-{stamp}.csv", buffer.getvalue(), len(views))
