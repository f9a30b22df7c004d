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
    witness_problem = _witness_problem(high)
    if witness_problem:
        return not_met(
            witness_problem,
            _(
                "Put SECRETUM_AUDIT_WITNESS on another disk or another machine's mount, run "
                "'secretum audit verify' and follow docs/audit.md."
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


def _witness_problem(high: int) -> str:
    """D2, no blind window: the witness exists, lives outside the database's file system, has
    seen the log's events (within a checkpoint interval) and matches the log ("" when so)."""
    from secretum.audit import checkpoints, heads
    from secretum.audit.checks import witness_beside_database
    from secretum.audit.models import AuditEvent

    path = checkpoints.witness_path()
    reading = checkpoints.read_witness(public=checkpoints.public_key())
    if not reading.exists:
        return _("The audit witness %(path)s is missing.") % {"path": path}
    beside = witness_beside_database()
    if beside is not None:
        return _(
            "The audit witness %(path)s shares a file system with the database (%(beside)s): "
            "whoever can cut the log can cut its witness too."
        ) % {"path": path, "beside": beside}
    seen = [(h.tree_size, h.root_hash) for h in reading.tree_heads]
    seen += [(c.tree_size, c.root_hash) for c in reading.checkpoints]
    size, root = max(seen, default=(0, ""))
    if size > high:
        return _("The audit witness saw %(n)d events; the log holds %(m)d: it was truncated.") % {
            "n": size,
            "m": high,
        }
    unseen = (
        AuditEvent.objects.filter(seq__gt=size).order_by("seq").values_list("at", flat=True)
    ).first()
    allowed = dt.timedelta(seconds=settings.SECRETUM_AUDIT_CHECKPOINT_INTERVAL)
    if unseen is not None and unseen < timezone.now() - allowed:
        return _("The audit witness has not seen the events since %(at)s: it is stale.") % {
            "at": timezone.localtime(unseen).strftime("%Y-%m-%d %H:%M")
        }
    if size and heads.root_of(size) != root:
        return _(
            "The first %(n)d events of the audit log do not match its witness: the log was "
            "rewritten."
        ) % {"n": size}
    return ""
