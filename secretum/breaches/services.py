"""The breach register (D3): every read and write of a suspected personal-data breach, checked
and audited (GDPR art. 33, 34).

Any user reports a suspected breach, and when the practice became aware of it: the 72-hour clock
starts then. The manager assesses it, records the notification to the authority and the
information of the people concerned, and closes it; each change is an update row beside the
entry, in one transaction with its audit event (``access.guard.guarded``), which names the
changed fields, never their text. Reading an entry is audited too: its text may name people, and
it is sealed under the instance's key.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission
from secretum.audit.models import Action
from secretum.breaches import notification
from secretum.breaches.entries import (
    ASSESSED_FIELDS,
    BREACH_HOURS,
    PEOPLE_CATEGORIES,
    RECORD_CATEGORIES,
    BreachUpdateView,
    BreachView,
)
from secretum.breaches.models import Breach, BreachUpdate
from secretum.compliance.people import acting_user, display_names, system_name
from secretum.crypto import keyring
from secretum.lib.dates import check_recent
from secretum.lib.practice import practice_name

# The audit events' resource. Events written before the breach register was an app of its own
# keep theirs: "compliance.Breach".
RESOURCE = "breaches.Breach"


# The associated data of the sealed text keep the label that the models had in the compliance app,
# where they were first written: the rows of an existing installation open only with it
# (tests/breaches/test_migrations.py).
def narrative_aad(uid: Any) -> str:
    return f"compliance.Breach.narrative:{uid}"


def update_aad(uid: Any) -> str:
    return f"compliance.BreachUpdate:{uid}"


def _seal_json(data: dict[str, Any], aad: str) -> bytes:
    return keyring.seal_secret(json.dumps(data, sort_keys=True).encode(), aad)


def _open_json(blob: Any, aad: str) -> dict[str, Any]:
    if blob is None:
        return {}
    found = json.loads(keyring.open_secret(blob, aad).decode())
    return found if isinstance(found, dict) else {}


def _codes(value: str) -> tuple[str, ...]:
    return tuple(c for c in value.split(",") if c)


def _breach_view(b: Breach, *, with_history: bool = False) -> BreachView:
    updates = list(b.updates.all()) if with_history else []
    names = display_names({b.recorded_by_id or 0} | {u.by_id for u in updates if u.by_id})
    history = [
        BreachUpdateView(
            at=u.at,
            by=names.get(u.by_id or 0, system_name()),
            kind=u.kind,
            kind_label=str(BreachUpdate.Kind(u.kind).label),
            fields=_codes(u.fields),
            values=_open_json(u.sealed, update_aad(b.uid)),
        )
        for u in updates
    ]
    return BreachView(
        uid=str(b.uid),
        aware_at=b.aware_at,
        recorded_at=b.recorded_at,
        recorded_by=names.get(b.recorded_by_id or 0, system_name()),
        status=b.status,
        status_label=str(Breach.Status(b.status).label),
        risk=b.risk,
        risk_label=str(Breach.Risk(b.risk).label),
        people_categories=_codes(b.people_categories),
        people_count=b.people_count,
        record_categories=_codes(b.record_categories),
        records_count=b.records_count,
        narrative={k: str(v) for k, v in _open_json(b.narrative, narrative_aad(b.uid)).items()},
        authority_notified_at=b.authority_notified_at,
        authority_reference=b.authority_reference,
        people_informed_at=b.people_informed_at,
        closed_at=b.closed_at,
        history=history,
    )


def _bounded(text: Any, label: str, *, required: bool = False, limit: int = 4000) -> str:
    value = str(text or "").strip()
    if required and not value:
        raise ValidationError(_("%(field)s is required.") % {"field": label})
    if len(value) > limit:
        raise ValidationError(
            _("%(field)s is longer than %(n)d characters.") % {"field": label, "n": limit}
        )
    return value


def report_breach(actor: Actor, *, aware_at: dt.datetime, what_happened: str) -> str:
    """Any user records a suspected breach, and when the practice became aware of it. The
    72-hour clock (GDPR art. 33) starts at that moment. Returns the entry's reference."""
    what = _bounded(what_happened, _("What happened"), required=True)
    check_recent(aware_at)  # N2; a moment in the future has its own message
    if aware_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError(_("The moment you became aware of it cannot be in the future."))
    with guarded(actor, Permission.BREACH_REPORT, Action.CREATE, RESOURCE) as event:
        uid = uuid.uuid4()
        now = timezone.now()
        breach = Breach.objects.create(
            uid=uid,
            aware_at=aware_at,
            recorded_at=now,
            recorded_by=acting_user(actor),
            narrative=_seal_json({"what_happened": what}, narrative_aad(uid)),
            updated_at=now,
        )
        BreachUpdate.objects.create(
            breach=breach,
            at=now,
            by=acting_user(actor),
            kind=BreachUpdate.Kind.REPORTED,
            fields="what_happened,aware_at",
            sealed=_seal_json(
                {"what_happened": what, "aware_at": aware_at.isoformat()}, update_aad(uid)
            ),
        )
        event.resource_ref = str(uid)
        return str(uid)


def list_breaches(actor: Actor) -> list[BreachView]:
    require(actor, Permission.BREACH_READ, EventDraft(Action.SEARCH, RESOURCE))
    return [_breach_view(b) for b in Breach.objects.order_by("-aware_at")[:200]]


def open_breaches() -> list[BreachView]:
    """Unchecked, for the reminders and the daily summary (they show dates, never the text)."""
    return [
        _breach_view(b)
        for b in Breach.objects.filter(status=Breach.Status.OPEN).order_by("aware_at")
    ]


def _get_breach(uid: Any, *, lock: bool = False) -> Breach:
    qs = Breach.objects.select_for_update() if lock else Breach.objects.all()
    try:
        return qs.get(uid=uid)
    except (Breach.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such breach entry.") from None


def access_breach(actor: Actor, uid: Any) -> BreachView:
    with guarded(actor, Permission.BREACH_READ, Action.READ, RESOURCE, resource_ref=uid):
        return _breach_view(_get_breach(uid), with_history=True)


def _change_breach(
    actor: Actor,
    uid: Any,
    kind: BreachUpdate.Kind,
    apply: Any,
) -> None:
    """Apply ``apply(breach, narrative) -> (changed field names, their new values)`` to a breach,
    and keep the change as an update row, in one audited transaction."""
    with guarded(
        actor,
        Permission.BREACH_MANAGE,
        Action.UPDATE,
        RESOURCE,
        resource_ref=uid,
        detail={"change": str(kind)},
    ) as event:
        breach = _get_breach(uid, lock=True)
        narrative = _open_json(breach.narrative, narrative_aad(breach.uid))
        changed, values = apply(breach, narrative)
        now = timezone.now()
        breach.narrative = _seal_json(narrative, narrative_aad(breach.uid))
        breach.updated_at = now
        breach.save()
        BreachUpdate.objects.create(
            breach=breach,
            at=now,
            by=acting_user(actor),
            kind=kind,
            fields=",".join(changed)[:300],
            sealed=_seal_json(values, update_aad(breach.uid)),
        )
        event.detail["fields"] = list(changed)  # which fields, never their text


def assess_breach(actor: Actor, uid: Any, data: dict[str, Any]) -> None:
    """The guided assessment: what GDPR art. 33(3) asks the notification to contain."""
    risk = data.get("risk") or Breach.Risk.UNASSESSED
    if risk not in Breach.Risk.values:
        raise ValidationError(_("Choose the level of risk."))
    people = [c for c in data.get("people_categories") or [] if c in PEOPLE_CATEGORIES]
    records = [c for c in data.get("record_categories") or [] if c in RECORD_CATEGORIES]
    texts = {
        "nature": _bounded(data.get("nature"), _("Nature of the breach")),
        "consequences": _bounded(data.get("consequences"), _("Likely consequences")),
        "measures_taken": _bounded(data.get("measures_taken"), _("Measures taken")),
        "measures_proposed": _bounded(data.get("measures_proposed"), _("Measures proposed")),
        "contact": _bounded(data.get("contact"), _("Contact point"), limit=300),
    }
    counts: dict[str, int | None] = {}
    for name in ("people_count", "records_count"):
        value = data.get(name)
        if value in (None, ""):
            counts[name] = None
            continue
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ValidationError(_("Give a number.")) from None
        if not 0 <= number <= 100_000_000:
            raise ValidationError(_("Give a plausible number."))
        counts[name] = number

    def apply(breach: Breach, narrative: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        if breach.status == Breach.Status.CLOSED:
            raise ValidationError(_("This entry is closed."))
        values: dict[str, Any] = {}
        for name, value in texts.items():
            if narrative.get(name, "") != value:
                narrative[name] = value
                values[name] = value
        plain: dict[str, Any] = {
            "risk": risk,
            "people_categories": ",".join(people),
            "record_categories": ",".join(records),
            **counts,
        }
        for name, value in plain.items():
            if getattr(breach, name) != value:
                setattr(breach, name, value)
                values[name] = value
        return [n for n in ASSESSED_FIELDS if n in values], values

    _change_breach(actor, uid, BreachUpdate.Kind.ASSESSED, apply)


def record_notification(
    actor: Actor, uid: Any, *, notified_at: dt.datetime, reference: str, delay_reason: str = ""
) -> None:
    """The authority was notified (GDPR art. 33). After 72 hours, with the reasons for the
    delay (art. 33(1))."""
    reference = _bounded(reference, _("Reference"), limit=64)
    delay_reason = _bounded(delay_reason, _("Reasons for the delay"))
    check_recent(notified_at)  # N2
    if notified_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError(_("The notification cannot be in the future."))

    def apply(breach: Breach, narrative: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        if breach.status == Breach.Status.CLOSED:
            raise ValidationError(_("This entry is closed."))
        if notified_at < breach.aware_at:
            raise ValidationError(_("The notification cannot precede the awareness of the breach."))
        if notified_at > breach.aware_at + dt.timedelta(hours=BREACH_HOURS) and not delay_reason:
            raise ValidationError(
                _(
                    "The notification is later than 72 hours: give the reasons for the delay "
                    "(GDPR art. 33(1))."
                )
            )
        breach.status = Breach.Status.NOTIFIED
        breach.authority_notified_at = notified_at
        breach.authority_reference = reference
        values: dict[str, Any] = {
            "authority_notified_at": notified_at.isoformat(),
            "authority_reference": reference,
        }
        if delay_reason:
            narrative["delay_reason"] = delay_reason
            values["delay_reason"] = delay_reason
        return list(values), values

    _change_breach(actor, uid, BreachUpdate.Kind.NOTIFIED, apply)


def record_people_informed(actor: Actor, uid: Any, *, informed_at: dt.datetime, how: str) -> None:
    """The people concerned were informed (GDPR art. 34)."""
    how = _bounded(how, _("How they were informed"), required=True)
    check_recent(informed_at)  # N2

    def apply(breach: Breach, narrative: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        if informed_at < breach.aware_at or informed_at > timezone.now() + dt.timedelta(minutes=5):
            raise ValidationError(_("Give the date on which they were informed."))
        breach.people_informed_at = informed_at
        narrative["informed_how"] = how
        values = {"people_informed_at": informed_at.isoformat(), "informed_how": how}
        return list(values), values

    _change_breach(actor, uid, BreachUpdate.Kind.INFORMED, apply)


def close_breach(actor: Actor, uid: Any, *, reason: str) -> None:
    """Close an entry (it stays in the register). A breach that puts people at risk is closed
    only once the authority was notified."""
    reason = _bounded(reason, _("Reason"), required=True)

    def apply(breach: Breach, narrative: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
        if breach.status == Breach.Status.CLOSED:
            raise ValidationError(_("This entry is closed."))
        if breach.risk == Breach.Risk.UNASSESSED:
            raise ValidationError(_("Assess the risk before closing the entry."))
        if breach.risk != Breach.Risk.UNLIKELY and breach.authority_notified_at is None:
            raise ValidationError(
                _("This breach puts people at risk: notify the authority before closing it.")
            )
        breach.status = Breach.Status.CLOSED
        breach.closed_at = timezone.now()
        narrative["close_reason"] = reason
        return ["close_reason"], {"close_reason": reason}

    _change_breach(actor, uid, BreachUpdate.Kind.CLOSED, apply)


def add_breach_note(actor: Actor, uid: Any, *, note: str) -> None:
    note = _bounded(note, _("Note"), required=True)
    _change_breach(
        actor, uid, BreachUpdate.Kind.NOTE, lambda breach, narrative: ([], {"note": note})
    )


@dataclass(frozen=True)
class BreachDrafts:
    breach: BreachView
    notification: str
    letter: str  # "" unless the risk is high


def breach_drafts(actor: Actor, uid: Any) -> BreachDrafts:
    """Drafts of the notification to the authority (art. 33) and, for a high risk, of the
    letter to the people concerned (art. 34), from what the assessment recorded."""
    with guarded(
        actor,
        Permission.BREACH_READ,
        Action.READ,
        RESOURCE,
        resource_ref=uid,
        detail={"view": "drafts"},
    ):
        view = _breach_view(_get_breach(uid))
        practice = practice_name()
        letter = notification.patient_letter(view, practice) if view.letter_needed else ""
        return BreachDrafts(view, notification.authority_notification(view, practice), letter)
