"""Evidence that nothing leaves in clear (E7), for the register: live, it reads the audit log.

Every file Secretum hands out (an export, a printed summary, a report, a log, a document
downloaded) records in its own audit event how it left: ``encryption`` (``pdf-aes256``,
``age-scrypt``, ``age-x25519``, or ``none``) and, for a copy in clear, its ``plain_reason``
(crypto/sealing.py, exchange/services.py). The check reads the last year's events: met when each
file left encrypted, or in clear with its reason; not met when the log holds a file in clear
without one (a path that went around the rule). It shows how many left in clear, for the DPO to
read their reasons in the log. Prints to paper (prescriptions, letters) are prints, not files:
docs/exchange.md.
"""

from __future__ import annotations

import datetime as dt
import json

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, day, evidence, met, not_met

WINDOW_DAYS = 365
PLAIN = "none"
KINDS = ("pdf-aes256", "age-scrypt", "age-x25519")  # crypto/sealing.py, exchange/services.py


@evidence("E7", proof=Proof.LIVE)
def files_leave_encrypted() -> Evidence:
    from secretum.audit.models import Action, AuditEvent, Outcome

    since = timezone.now() - dt.timedelta(days=WINDOW_DAYS)
    files = AuditEvent.objects.filter(
        at__gte=since, outcome=Outcome.SUCCESS, action__in=[Action.EXPORT, Action.PRINT],
        detail__contains='"encryption":',
    )  # fmt: skip
    # Counted in the database, never parsed here: the copies in clear are many (every print
    # to paper is one), and a reason is never empty (10 characters at least, crypto/sealing.py).
    kinds = {how: files.filter(detail__contains=f'"encryption":"{how}"').count() for how in KINDS}
    plain = files.filter(detail__contains=f'"encryption":"{PLAIN}"')
    kinds[PLAIN] = plain.count()
    bare = plain.exclude(detail__contains='"plain_reason":"').order_by("seq")
    unexplained = [
        _("audit event #%(seq)d") % {"seq": seq} for seq in bare.values_list("seq", flat=True)
    ]
    if unexplained:
        return not_met(
            _("%(n)d file(s) left in clear without a reason in the last year.")
            % {"n": len(unexplained)},
            _("Find the path that hands out files around the delivery rule (crypto/sealing.py)."),
            *unexplained[:10],
        )
    encrypted = sum(kinds[how] for how in KINDS)
    summary = _(
        "Every file handed out leaves encrypted for its recipient by default; in the last year "
        "%(encrypted)d left encrypted and %(plain)d in clear, each with its reason in the audit "
        "log."
    ) % {"encrypted": encrypted, "plain": kinds[PLAIN]}
    return met(summary, *(f"{how}: {n}" for how, n in sorted(kinds.items()) if n))


TEST_DAYS = 365  # a practice's ability to leave, tested at least once a year


@evidence("L1", "L2", proof=Proof.LIVE)
def practice_can_leave() -> Evidence:
    """L1, L2: the practice could leave today, whole, in a format another installation reads: the
    latest export test (``secretum export --format secretum --test``, exchange/moving.py) passed
    within TEST_DAYS days."""
    from secretum.audit.models import AuditEvent, Outcome
    from secretum.exchange.moving import RESOURCE

    action = _(
        "Run the export test: 'secretum export --format secretum --test --reason TEXT' (the "
        "whole practice exported, imported into a scratch instance and compared)."
    )
    latest = AuditEvent.objects.filter(resource=RESOURCE).order_by("-seq").first()
    if latest is None:
        return not_met(_("No export test has been run."), action)
    found = json.loads(latest.detail or "{}")
    if latest.outcome != Outcome.SUCCESS:
        return not_met(
            _("The latest export test, on %(at)s, failed: %(problem)s")
            % {"at": day(latest.at), "problem": str(found.get("problem", ""))[:200]},
            action,
        )
    if timezone.now() - latest.at > dt.timedelta(days=TEST_DAYS):
        return not_met(
            _("The latest export test passed on %(at)s, more than %(days)d days ago.")
            % {"at": day(latest.at), "days": TEST_DAYS},
            action,
        )
    return met(
        _(
            "Export test passed on %(at)s: %(patients)d patients and %(rows)d rows exported in "
            "Secretum's own format, imported into a "
            "scratch instance and found whole."
        )
        % {"at": day(latest.at), "patients": found.get("patients", 0), "rows": found.get("rows", 0)}
    )
