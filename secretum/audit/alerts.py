"""Alerts for the auditor, read from the audit log itself (D1, D2).

Nothing is stored beside the log: each alert is a pattern over events that the tamper-evident
log already holds, so an alert cannot be deleted without breaking the log.

* ``break-the-glass``: every emergency access, with its reason;
* ``archived-record``: every archived record opened, with its reason (J1);
* ``many-patients``: one user opening the records of many different patients in a short time
  (SECRETUM_AUDIT_ALERT_PATIENTS within SECRETUM_AUDIT_ALERT_MINUTES): identities, and charts
  opened outside a care relationship (the shared record, break-the-glass); a doctor going
  through the charts of the patients in their care does not count;
* ``refusals``: one user refused again and again (probing for data their role does not give;
  a locked or ended session's refused requests are not probing, nor is a practitioner shown
  that a record is outside their care: neither counts);
* ``link-misuse``: someone signed in opened another person's one-time link (a manager trying to
  enter an account they manage, B1): each attempt, at once;
* ``failed-logins``: many failed logins from one address (password guessing);
* ``integrity``: the checkpoint signer refused to sign (the log was tampered with);
* ``tampered``: a row that grants rights (a user, a factor, the practice settings) was found
  altered outside Secretum, and refused (``accounts.integrity``);
* ``virus``: the antivirus found a file infected; it was refused and quarantined (E2).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict, deque
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Q

from secretum.access.actor import SYSTEM
from secretum.audit.models import INFECTED, NO_CARE, TAMPERED, AuditEvent

RECORD_READS = ("patients.Patient", "clinical.Chart")
REFUSALS = 5
LINK_MISUSE = "link-opened-by-another-user"  # accounts.links.OTHER_USER (no import upward)
SHARED = '"basis":"shared-record"'  # a chart read on the practice's shared record (access.guard)
FAILED_LOGINS = 10
# The actions that open a record on a stated reason: their alert's kind and severity.
GRANTS = {
    "break-the-glass": ("break-the-glass", "high"),
    "open-archived": ("archived-record", "medium"),  # J1
}


@dataclass(frozen=True)
class Alert:
    # break-the-glass | archived-record | many-patients | refusals | link-misuse | failed-logins |
    # integrity | tampered | virus
    kind: str
    severity: str  # high | medium
    at: dt.datetime
    until: dt.datetime
    who: str  # user name, or source address for failed logins and refusals of no one
    count: int
    first_seq: int
    patient_ref: str = ""
    reason: str = ""


def _bursts(
    items: list[tuple[dt.datetime, int, str]], threshold: int, window: dt.timedelta
) -> list[tuple[dt.datetime, dt.datetime, int, int]]:
    """Time-sorted (at, seq, key) -> (start, end, distinct keys, first seq) for each run in
    which ``threshold`` distinct keys fall within ``window``; overlapping runs merge."""
    out: list[tuple[dt.datetime, dt.datetime, int, int]] = []
    recent: deque[tuple[dt.datetime, int, str]] = deque()
    for at, seq, key in items:
        recent.append((at, seq, key))
        while recent[0][0] < at - window:
            recent.popleft()
        distinct = {k for _, _, k in recent}
        if len(distinct) >= threshold:
            start, first = recent[0][0], recent[0][1]
            if out and out[-1][1] >= start:
                s, _, n, f = out[-1]
                out[-1] = (s, at, max(n, len(distinct)), f)
            else:
                out.append((start, at, len(distinct), first))
    return out


def detect(since: dt.datetime) -> list[Alert]:
    window = dt.timedelta(minutes=settings.SECRETUM_AUDIT_ALERT_MINUTES)
    threshold = settings.SECRETUM_AUDIT_ALERT_PATIENTS
    recent = AuditEvent.objects.filter(at__gte=since)
    alerts: list[Alert] = []

    # One alert per emergency access opened, and per archived record opened (J1), with its
    # reason (the reads under it carry its purpose too).
    for seq, at, who, patient, detail, action in recent.filter(
        action__in=GRANTS, outcome="success"
    ).values_list("seq", "at", "actor_name", "patient_ref", "detail", "action"):
        try:
            reason = str(json.loads(detail).get("reason", "")) if detail else ""
        except (ValueError, AttributeError):
            reason = ""
        kind, severity = GRANTS[action]
        alerts.append(Alert(kind, severity, at, at, who, 1, seq, patient, reason))

    reads: dict[str, list[tuple[dt.datetime, int, str]]] = defaultdict(list)
    # A chart opened within a care relationship is the doctor's own patient: not counted.
    in_care = Q(resource="clinical.Chart", purpose="care") & ~Q(detail__contains=SHARED)
    for seq, at, who, patient in (
        recent.filter(action="read", resource__in=RECORD_READS, outcome="success")
        .exclude(patient_ref="")
        .exclude(in_care)
        .order_by("seq")
        .values_list("seq", "at", "actor_name", "patient_ref")
    ):
        reads[who].append((at, seq, patient))
    for who, items in reads.items():
        for start, end, n, first in _bursts(items, threshold, window):
            alerts.append(Alert("many-patients", "high", start, end, who, n, first))

    for seq, at, who, target in recent.filter(
        outcome="denied", resource="enrolment", detail__contains=LINK_MISUSE
    ).values_list("seq", "at", "actor_name", "on_behalf_of"):
        alerts.append(Alert("link-misuse", "high", at, at, who, 1, seq, reason=target))

    refused: dict[str, list[tuple[dt.datetime, int, str]]] = defaultdict(list)
    for seq, at, who, source in (
        recent.filter(outcome="denied")
        .exclude(resource="session")
        .exclude(detail__contains=NO_CARE)
        .order_by("seq")
        .values_list("seq", "at", "actor_name", "source")
    ):
        # No one signed in (a request from outside the allowed networks, F1): the address is who.
        refused[source if who == SYSTEM and source else who].append((at, seq, str(seq)))
    for who, items in refused.items():
        for start, end, n, first in _bursts(items, REFUSALS, window):
            alerts.append(Alert("refusals", "medium", start, end, who, n, first))

    failed: dict[str, list[tuple[dt.datetime, int, str]]] = defaultdict(list)
    for seq, at, source in (
        recent.filter(action="login-failed").order_by("seq").values_list("seq", "at", "source")
    ):
        failed[source].append((at, seq, str(seq)))
    for source, items in failed.items():
        for start, end, n, first in _bursts(items, FAILED_LOGINS, window):
            alerts.append(Alert("failed-logins", "medium", start, end, source, n, first))

    for seq, at, detail in recent.filter(resource="audit.Log", outcome="failure").values_list(
        "seq", "at", "detail"
    ):
        try:
            problem = str(json.loads(detail).get("problem", "")) if detail else ""
        except (ValueError, AttributeError):
            problem = ""
        alerts.append(Alert("integrity", "high", at, at, "system", 1, seq, reason=problem))

    tampered: dict[tuple[str, str], list[tuple[dt.datetime, int]]] = defaultdict(list)
    for seq, at, resource, ref in recent.filter(
        outcome="failure", detail__contains=TAMPERED
    ).values_list("seq", "at", "resource", "resource_ref"):
        tampered[(resource, ref)].append((at, seq))
    for (resource, ref), seen in tampered.items():  # one alert per row, however often refused
        (first_at, first), last_at = seen[0], seen[-1][0]
        alerts.append(
            Alert(
                "tampered",
                "high",
                first_at,
                last_at,
                "system",
                len(seen),
                first,
                reason=f"{resource} {ref}",
            )
        )

    # E2: each file the antivirus refused, with what it found and whose record it came for.
    for seq, at, who, patient, detail in recent.filter(
        outcome="success", detail__contains=INFECTED
    ).values_list("seq", "at", "actor_name", "patient_ref", "detail"):
        found = json.loads(detail).get("signature", "")
        alerts.append(Alert("virus", "high", at, at, who, 1, seq, patient, found))

    alerts.sort(key=lambda a: (a.at, a.first_seq), reverse=True)
    return alerts
