"""Maintenance access for an outside technician (K2, with G1, K1, E3): a window of at most eight
hours, opened by a practice manager after re-authentication (the page's sudo mode), closed at its
end by Secretum or before by a manager. Every call goes through the one gate
(``access.guard``) and leaves its "maintenance" audit event.

Opening a window (``open_window``), in one transaction with its event:

* a new account, made for this window and never reused, whose role ``Role.TECHNICIAN`` applies
  from the window's start until its end: the account's sealed role dates, which
  ``access.actor.role_of`` reads at every request and every check; ``User.give_role`` refuses a
  technician's role longer than ``TECHNICIAN_HOURS`` whoever asks, and ``lifecycle.change_role``
  refuses to change or extend it;
* a one-time enrolment link (``accounts.links``): the technician chooses a password and enrols a
  second factor like anyone else (B3, no exception), and accepts the charter; the link is
  returned once, to be shown once to the manager;
* an entry in the maintenance log (K1): who, their company, on which equipment, the purpose and
  the window, the supervisor of the practice (K2), whether it is on a user's workstation and
  that user's consent beforehand (E3), checked as every entry is (``services.check_intervention``).

The technician's role holds their own session and the writing of the maintenance log: no patient
data, no account, no register (``access.policy``); every refusal is a "denied" event.

Closing it (``close_window``, a manager; ``close_expired``, ``secretum maintenance close-expired``,
which ``secretum serve`` runs every minute) happens once, whoever asks first: a conditional
UPDATE in the database decides, so two sweeps at once close it once (the other's event says it
was closed already). The account's role ends now if it has not already, the account is disabled,
its sessions and its unused links end, and an entry is appended to the log. An account altered
outside Secretum is left as found (a save would seal the altered values) and refused everywhere
anyway (``accounts.integrity``); its sessions end all the same, and the window closes.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from secretum.access.actor import Actor
from secretum.access.guard import EventDraft, guarded, require
from secretum.access.policy import Permission, Role
from secretum.accounts import integrity, links
from secretum.accounts import services as accounts
from secretum.accounts.models import TECHNICIAN_HOURS, EnrolmentToken
from secretum.audit.models import Action
from secretum.compliance.people import acting_user, display_names, system_name
from secretum.crypto import keyring
from secretum.crypto.rows import intact
from secretum.maintenance import services
from secretum.maintenance.entries import Intervention
from secretum.maintenance.models import MaintenanceEntry, MaintenanceWindow

RESOURCE = "maintenance.MaintenanceWindow"
LONGEST = dt.timedelta(hours=TECHNICIAN_HOURS)
DEFAULT_DURATION = dt.timedelta(hours=2)
PURPOSE_MIN = 10
# The sealed text of a window, each key with its longest value (N2).
TEXT_LIMITS = {
    "technician": 150,  # the technician's name
    "company": 150,  # their company: a maintenance access is for someone from outside (K2)
    "purpose": 500,  # what they come to do
    "equipment": 150,  # on which equipment
    "consent_by": 150,  # the user of the workstation who consented (E3)
}
# A start typed to the minute a moment ago is "now"; a later one must come while the enrolment
# link still works.
START_SLACK = dt.timedelta(minutes=10)
START_AHEAD = dt.timedelta(hours=links.LINK_HOURS)
LIST_LIMIT = 200
DISABLED = "maintenance"  # User.disabled_reason of a technician's account once its window closed
Closing = MaintenanceWindow.Closing


@dataclass(frozen=True)
class WindowRequest:
    """What the manager asks for (the form's fields)."""

    technician: str
    company: str
    purpose: str
    equipment: str
    supervisor_id: int | None
    duration: dt.timedelta = DEFAULT_DURATION
    starts_at: dt.datetime | None = None  # None: now
    on_workstation: bool = True  # on a user's workstation (E3), not the server or the network
    consent: bool | None = None  # did that user consent beforehand? None: not answered
    consent_by: str = ""


@dataclass(frozen=True)
class OpenedWindow:
    uid: str
    username: str  # the technician's user name, to sign in with
    token: str  # the enrolment link's secret: returned once, stored only as a keyed digest
    starts_at: dt.datetime
    ends_at: dt.datetime


@dataclass(frozen=True)
class WindowView:
    uid: str
    username: str
    technician: str
    company: str
    purpose: str
    equipment: str
    supervisor: str
    opened_by: str
    opened_at: dt.datetime
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str  # "scheduled", "open", "ended" (the sweep has not closed it yet), "closed"
    closed_at: dt.datetime | None
    closing: str  # how it was closed, as the page says it
    closed_by: str


# --- sealing ------------------------------------------------------------------------------------


def sealed_aad(uid: Any) -> str:
    return f"maintenance.MaintenanceWindow.sealed:{uid}"


def _seal(texts: dict[str, str], uid: Any) -> bytes:
    return keyring.seal_secret(json.dumps(texts, sort_keys=True).encode(), sealed_aad(uid))


def _open(blob: Any, uid: Any) -> dict[str, str]:
    found = json.loads(keyring.open_secret(bytes(blob), sealed_aad(uid)).decode())
    return {k: str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _when(at: dt.datetime) -> str:
    local = timezone.localtime(at)
    return f"{local:%d/%m/%Y %H:%M}"


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="seconds")


# --- opening ------------------------------------------------------------------------------------


def supervisors() -> list[tuple[int, str]]:
    """Who may supervise a window: the practice's active users who hold their role now (K2)."""
    return services.practice_users(current=True)


@dataclass(frozen=True)
class _Checked:
    texts: dict[str, str]  # the window's sealed text
    entry: dict[str, str]  # the log entry's sealed text (its "what" is written once opened)
    flags: dict[str, bool]  # the log entry's flags (E3, K2)
    supervisor: int
    starts: dt.datetime
    ends: dt.datetime


def _checked(request: WindowRequest, now: dt.datetime) -> _Checked:
    """The window as it will be recorded; or a ValidationError naming each field wrong (the
    form's field names), in one sentence each."""
    errors: dict[str, str] = {}
    texts = {name: str(getattr(request, name) or "").strip() for name in TEXT_LIMITS}
    required = {
        "technician": _("Say who the technician is."),
        "company": _(
            "Say which company the technician works for: a maintenance access is for someone "
            "from outside the practice (K2)."
        ),
        "equipment": _("Say on which equipment."),
    }
    for name, limit in TEXT_LIMITS.items():
        if len(texts[name]) > limit:
            errors[name] = _("At most %(n)d characters.") % {"n": limit}
        elif not texts[name] and name in required:
            errors[name] = required[name]
    if "purpose" not in errors and len(texts["purpose"]) < PURPOSE_MIN:
        errors["purpose"] = _(
            "State the purpose of the intervention, in %(min)d to %(max)d characters."
        ) % {"min": PURPOSE_MIN, "max": TEXT_LIMITS["purpose"]}
    starts = request.starts_at or now
    if starts < now - START_SLACK:
        errors["starts_at"] = _("A maintenance window cannot start in the past.")
    elif starts > now + START_AHEAD:
        errors["starts_at"] = _(
            "A maintenance window starts within %(n)d hours: its enrolment link works that long."
        ) % {"n": links.LINK_HOURS}
    minutes = int(request.duration.total_seconds() // 60)
    ends = now
    if request.duration > LONGEST:
        errors["duration"] = _(
            "A maintenance window lasts at most %(max)d hours (asked: %(h)d h %(m)02d). If the "
            "work takes longer, open a new window when this one ends."
        ) % {"max": TECHNICIAN_HOURS, "h": minutes // 60, "m": minutes % 60}
    elif minutes < 1:
        errors["duration"] = _("Give the window's duration: hours and minutes, such as 2:00.")
    elif "starts_at" not in errors:
        ends = starts + request.duration
        if ends <= now:
            errors["duration"] = _("This window would already be over.")
    if request.supervisor_id is None:
        errors["supervisor"] = _("Name the supervisor of the practice (K2).")
    elif request.supervisor_id not in dict(supervisors()):
        errors["supervisor"] = _("Choose the supervisor among the practice's current users.")
    intervention = Intervention(
        intervened_at=now,
        intervener=texts["technician"],
        equipment=texts["equipment"],
        what=texts["purpose"],
        company=texts["company"],
        supervisor_id=request.supervisor_id,
        on_workstation=request.on_workstation,
        consent=request.consent,
        consent_by=texts["consent_by"],
    )
    entry: dict[str, str] = {}
    flags: dict[str, bool] = {}
    try:
        entry, flags = services.check_intervention(intervention)  # the log's rules: E3 above all
    except ValidationError as exc:
        named = {"intervener": "technician", "what": "purpose"}
        for field, messages in exc.message_dict.items():
            errors.setdefault(named.get(field, field), " ".join(messages))
    if errors:
        raise ValidationError(errors)
    texts["consent_by"] = entry["consent_by"]  # none without consent
    return _Checked(texts, entry, flags, int(request.supervisor_id or 0), starts, ends)


def open_window(actor: Actor, request: WindowRequest) -> OpenedWindow:
    """K2: a manager opens a maintenance window for an outside technician: a new account for
    the window only, its enrolment link (returned once), and the log's entry, in one audited
    transaction. ValidationError, saying why, for a window longer than 8 hours, without a
    purpose or a supervisor, on a workstation without its user's consent (E3)..."""
    require(actor, Permission.USERS_MANAGE, EventDraft(Action.MAINTENANCE, RESOURCE))
    if acting_user(actor) is None:
        raise ValidationError(_("A maintenance window is opened by a practice manager (K2)."))
    now = timezone.now()
    checked = _checked(request, now)
    texts, entry_texts, flags = checked.texts, checked.entry, checked.flags
    starts, ends = checked.starts, checked.ends
    with guarded(
        actor,
        Permission.USERS_MANAGE,
        Action.MAINTENANCE,
        RESOURCE,
        detail={
            "phase": "open",
            "starts_at": _iso(starts),
            "ends_at": _iso(ends),
            "minutes": int((ends - starts).total_seconds() // 60),
            "supervisor": checked.supervisor,
            **flags,
        },
    ) as event:
        # A new account, every time (B1): a name nobody chose, so that no window reuses one.
        account = accounts.create_user(
            actor,
            username=f"tech-{timezone.localdate(now):%Y%m%d}-{secrets.token_hex(4)}",
            role=Role.TECHNICIAN,
            last_name=texts["technician"],
            role_starts_at=starts,
            role_ends_at=ends,
        )
        entry_texts["what"] = _(
            "Maintenance access (account %(account)s) from %(start)s to %(end)s. Purpose: "
            "%(purpose)s"
        ) % {
            "account": account.username,
            "start": _when(starts),
            "end": _when(ends),
            "purpose": texts["purpose"],
        }
        entry = services.append_entry(
            actor,
            now,
            entry_texts,
            flags,
            supervisor_id=checked.supervisor,
            origin=MaintenanceEntry.Origin.WINDOW,
        )
        uid = uuid.uuid4()
        MaintenanceWindow.objects.create(
            uid=uid,
            account=account,
            opened_at=now,
            opened_by=actor.user,
            supervisor_id=checked.supervisor,
            starts_at=starts,
            ends_at=ends,
            sealed=_seal(texts, uid),
            opening_entry=entry,
        )
        _purpose, token = links.issue(actor, account.pk, links.Purpose.ENROL)
        event.resource_ref = str(uid)
        event.detail.update(account=account.pk, entry=str(entry.uid))
    return OpenedWindow(str(uid), account.username, token, starts, ends)


# --- closing ------------------------------------------------------------------------------------


def _window(uid: Any) -> MaintenanceWindow:
    try:
        return MaintenanceWindow.objects.select_related("opening_entry").get(
            uid=uuid.UUID(str(uid))
        )
    except (MaintenanceWindow.DoesNotExist, ValueError):
        raise Http404("No such maintenance window.") from None


def _end_account(actor: Actor, account: Any, now: dt.datetime) -> None:
    """The account's role ends now (a window closed before its start never held it: it ends
    where it starts), the account is disabled; saved through Secretum, so sealed, and audited."""
    ends = min(account.role_ends_at or now, now)
    changed = {
        "role_starts_at": [_iso(account.role_starts_at), _iso(min(account.role_starts_at, ends))],
        "role_ends_at": [_iso(account.role_ends_at or now), _iso(ends)],
    }
    account.role_starts_at, account.role_ends_at = min(account.role_starts_at, ends), ends
    fields = account.switch_active(False, DISABLED)
    account.save(update_fields=["role_starts_at", "role_ends_at", *fields])
    accounts.account_event(
        actor,
        Action.UPDATE,
        "accounts.User",
        ref=account.pk,
        detail={"change": "disabled", "reason": "maintenance-window-closed", "changed": changed},
    )


def _close(actor: Actor, window: MaintenanceWindow, closing: str, event: EventDraft) -> bool:
    """Close ``window`` inside the caller's guarded call, if nobody did before: True when this
    call closed it. The conditional UPDATE is the decision (a second closer, waiting for the
    first one's transaction, finds it closed and does nothing more)."""
    now = timezone.now()
    event.detail["closing"] = closing
    claimed = MaintenanceWindow.objects.filter(pk=window.pk, closed_at__isnull=True).update(
        closed_at=now, closing=closing, closed_by=acting_user(actor)
    )
    if not claimed:
        event.detail["already_closed"] = True
        return False
    account = get_user_model().objects.get(pk=window.account_id)
    if integrity.checked(account, actor.source):
        _end_account(actor, account, now)
    else:
        event.detail["account_altered"] = True  # left as found: refused at every login, request
    sessions = accounts.end_all_sessions(account, reason="maintenance-window-closed")
    EnrolmentToken.objects.filter(user=account, used_at__isnull=True).update(used_at=now)
    texts = _open(window.sealed, window.uid)
    opening = window.opening_entry
    how = {
        Closing.EXPIRED: _("at the end of its window"),
        Closing.MANAGER: _("by a manager, before the end of its window"),
        Closing.ALTERED: _("because its account was altered outside Secretum"),
    }[Closing(closing)]
    what = ngettext(
        "Maintenance access (account %(account)s, %(start)s to %(end)s) closed %(how)s: "
        "account disabled, %(n)d session ended.",
        "Maintenance access (account %(account)s, %(start)s to %(end)s) closed %(how)s: "
        "account disabled, %(n)d sessions ended.",
        sessions,
    ) % {
        "account": account.username,
        "start": _when(window.starts_at),
        "end": _when(window.ends_at),
        "how": how,
        "n": sessions,
    }
    entry = services.append_entry(
        actor,
        now,
        {
            "intervener": texts["technician"],
            "company": texts["company"],
            "equipment": texts["equipment"],
            "what": what,
            "consent_by": texts["consent_by"],
        },
        {"outside": True, "on_workstation": opening.on_workstation, "consent": opening.consent},
        supervisor_id=window.supervisor_id,
        origin=MaintenanceEntry.Origin.WINDOW,
    )
    MaintenanceWindow.objects.filter(pk=window.pk).update(closing_entry=entry)
    event.detail.update(sessions=sessions, entry=str(entry.uid))
    return True


def close_window(actor: Actor, uid: Any) -> bool:
    """A manager closes a window before its end: True when this call closed it, False when it
    was closed already (audited all the same). Idempotent."""
    with guarded(
        actor,
        Permission.USERS_MANAGE,
        Action.MAINTENANCE,
        RESOURCE,
        resource_ref=str(uid)[:36],
        detail={"phase": "close"},
    ) as event:
        window = _window(uid)  # none: a "failure" event, and the page's 404
        event.resource_ref = str(window.uid)
        return _close(actor, window, Closing.MANAGER, event)


def _due(window: MaintenanceWindow, now: dt.datetime) -> str | None:
    """Why this open window must close now, or None: its end has come (its own, or its account's
    sealed role end, whichever is first), or its account was altered outside Secretum."""
    account = window.account
    if not intact(account):
        return Closing.ALTERED
    ends = min(window.ends_at, account.role_ends_at or window.ends_at)
    return Closing.EXPIRED if ends <= now else None


def close_expired(actor: Actor | None = None) -> list[MaintenanceWindow]:
    """Close every window whose end has come (``secretum maintenance close-expired``, run by
    ``secretum serve`` every minute): the windows this run closed, the soonest ended first."""
    actor = actor or Actor.system()
    now = timezone.now()
    found = MaintenanceWindow.objects.filter(closed_at__isnull=True).select_related(
        "account", "opening_entry"
    )
    done = []
    for window in sorted(found, key=lambda w: w.ends_at):
        closing = _due(window, now)
        if closing is None:
            continue
        with guarded(
            actor,
            Permission.USERS_MANAGE,
            Action.MAINTENANCE,
            RESOURCE,
            resource_ref=window.uid,
            detail={"phase": "close"},
        ) as event:
            closed = _close(actor, window, closing, event)
        if closed:
            done.append(window)
    return done


# --- the manager's page -------------------------------------------------------------------------


def _status(window: MaintenanceWindow, now: dt.datetime) -> str:
    if window.closed_at is not None:
        return "closed"
    if now < window.starts_at:
        return "scheduled"
    return "open" if now < window.ends_at else "ended"


def list_windows(actor: Actor) -> list[WindowView]:
    """The windows, the latest first: who, their company, the purpose, the supervisor, the
    window, its status and how it closed. An audited read: the names are sealed."""
    with guarded(actor, Permission.USERS_MANAGE, Action.SEARCH, RESOURCE) as event:
        rows = list(MaintenanceWindow.objects.select_related("account")[:LIST_LIMIT])
        event.detail["windows"] = len(rows)
        people = {r.supervisor_id for r in rows} | {r.opened_by_id for r in rows}
        names = display_names(people | {r.closed_by_id for r in rows if r.closed_by_id})
        now = timezone.now()
        out = []
        for r in rows:
            texts = _open(r.sealed, r.uid)
            out.append(
                WindowView(
                    uid=str(r.uid),
                    username=r.account.username,
                    technician=texts.get("technician", ""),
                    company=texts.get("company", ""),
                    purpose=texts.get("purpose", ""),
                    equipment=texts.get("equipment", ""),
                    supervisor=names.get(r.supervisor_id, "?"),
                    opened_by=names.get(r.opened_by_id, "?"),
                    opened_at=r.opened_at,
                    starts_at=r.starts_at,
                    ends_at=r.ends_at,
                    status=_status(r, now),
                    closed_at=r.closed_at,
                    closing=str(Closing(r.closing).label) if r.closing else "",
                    closed_by=names.get(r.closed_by_id or 0, system_name()),
                )
            )
        return out
