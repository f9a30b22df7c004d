"""Live evidence of the audit log (D1, D2), for the measures register.

Reads only: the public verification functions of this app, on the most recent events (the full
``secretum audit verify`` reads the whole log and belongs to the command line).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.checks import ERROR
from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.compliance.evidence import Evidence, Proof, evidence, met, not_met

RECENT_EVENTS = 1000  # verified on each look at the register; the CLI verifies them all


@evidence("D1", proof=Proof.LIVE)
def audit_log_on() -> Evidence:
    from secretum.audit.models import AuditEvent

    if settings.SECRETUM_BENCHMARK_BASELINE:
        return not_met(
            _("The audit log is OFF (benchmark baseline)."),
            _("Unset SECRETUM_BENCHMARK_BASELINE: it exists for benchmarks only."),
        )
    latest = AuditEvent.objects.order_by("-seq").values_list("seq", "at").first()
    if latest is None:
        return not_met(_("The audit log holds no event yet."), _("Run 'secretum audit verify'."))
    return met(
        _(
            "Audit log on: %(n)d events, the latest at %(at)s; users are told on the login page, "
            "on every page and in the charter."
        )
        % {"n": latest[0], "at": timezone.localtime(latest[1]).strftime("%Y-%m-%d %H:%M")}
    )


@evidence("D2", proof=Proof.LIVE)
def audit_log_protected() -> Evidence:
    from secretum.audit import checkpoints, entries
    from secretum.audit.checks import audit_checks
    from secretum.audit.models import AuditCheckpoint, AuditEvent
    from secretum.audit.scan import scan_rows

    problems = audit_checks()
    errors = [p.msg for p in problems if p.level >= ERROR]
    notes = [p.msg for p in problems if p.level < ERROR]
    if errors:
        return not_met(
            _("The audit log's protection is incomplete."),
            _("Run 'secretum check' and 'secretum audit verify' on the server."),
            *errors,
        )
    high = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() or 0
    low = max(0, high - RECENT_EVENTS)
    for _leaf, problem, seq in scan_rows(low, high, entries.mac_key()):
        if problem:
            return not_met(
                _("Audit event %(seq)d %(problem)s.") % {"seq": seq, "problem": problem},
                _("Run 'secretum audit verify' and follow docs/audit.md."),
            )
    latest = AuditCheckpoint.objects.order_by("-tree_size").first()
    if latest is not None and not checkpoints.from_row(latest).valid_under(
        checkpoints.public_key()
    ):
        return not_met(
            _("The latest checkpoint of the audit log has no valid signature."),
            _("Run 'secretum audit verify' and follow docs/audit.md."),
        )
    covered = latest.tree_size if latest is not None else 0
    first_uncovered = (
        AuditEvent.objects.filter(seq__gt=covered).order_by("seq").values_list("at", flat=True)
    ).first()
    allowed = dt.timedelta(seconds=3 * settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL)
    if first_uncovered is not None and first_uncovered < timezone.now() - allowed:
        return not_met(
            _(
                "Events since %(at)s are not covered by a signed checkpoint: the signer is not "
                "running."
            )
            % {"at": timezone.localtime(first_uncovered).strftime("%Y-%m-%d %H:%M")},
            _(
                "Run the server with 'secretum serve' (it signs every 5 minutes), or "
                "'secretum audit checkpoint'."
            ),
        )
    said = _(
        "The %(n)d most recent events match their hashes and authentication codes; triggers "
        "refuse changes; signed checkpoints every %(m)d min and a witness outside the database."
    ) % {"n": high - low, "m": max(1, settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL // 60)}
    if latest is not None:
        notes.insert(
            0,
            _("Latest signed checkpoint: %(n)d events, %(at)s.")
            % {
                "n": latest.tree_size,
                "at": timezone.localtime(latest.signed_at).strftime("%Y-%m-%d %H:%M"),
            },
        )
    return met(said, *notes)
