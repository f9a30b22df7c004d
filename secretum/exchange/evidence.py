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
from collections import Counter

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met

WINDOW_DAYS = 365
PLAIN = "none"


@evidence("E7", proof=Proof.LIVE)
def files_leave_encrypted() -> Evidence:
    from secretum.audit.models import Action, AuditEvent, Outcome

    since = timezone.now() - dt.timedelta(days=WINDOW_DAYS)
    rows = AuditEvent.objects.filter(
        at__gte=since, outcome=Outcome.SUCCESS, action__in=[Action.EXPORT, Action.PRINT],
        detail__contains='"encryption":',
    ).order_by("seq")  # fmt: skip
    kinds: Counter[str] = Counter()
    unexplained: list[str] = []
    for seq, detail in rows.values_list("seq", "detail").iterator():
        said = json.loads(detail)
        how = str(said.get("encryption"))
        kinds[how] += 1
        if how == PLAIN and not said.get("plain_reason"):
            unexplained.append(_("audit event #%(seq)d") % {"seq": seq})
    if unexplained:
        return not_met(
            _("%(n)d file(s) left in clear without a reason in the last year.")
            % {"n": len(unexplained)},
            _("Find the path that hands out files around the delivery rule (crypto/sealing.py)."),
            *unexplained[:10],
        )
    encrypted = sum(n for how, n in kinds.items() if how != PLAIN)
    summary = _(
        "Every file handed out leaves encrypted for its recipient by default; in the last year "
        "%(encrypted)d left encrypted and %(plain)d in clear, each with its reason in the audit "
        "log."
    ) % {"encrypted": encrypted, "plain": kinds[PLAIN]}
    return met(summary, *(f"{how}: {n}" for how, n in sorted(kinds.items())))
