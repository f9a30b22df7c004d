"""Evidence: small functions that prove a measure, each labelled with how it proves it.

Each app registers the checks of its own measures in its ``evidence.py`` (``secretum/accounts/
evidence.py`` proves B1, B2, B3, E1, A1, A2), which the compliance app imports when Django
starts. Adding a check is one function and one line, and the line says how the check proves its
measure (issue 11: the register says only what it checked)::

    @evidence("E1", proof=Proof.LIVE)
    def idle_lock() -> Evidence:
        ...
        return met(_("Idle lock %(n)d min, enforced on the server.") % {"n": minutes})

    @evidence("N2", proof=Proof.BY_CONSTRUCTION,
              tests=("tests/clinical/test_services.py::test_note_fields_are_bounded",))
    def bounded_fields() -> Evidence: ...

- *live*: the check reads the installation's state (the database, the files, the host, the
  settings) and can fail at run time; ``tests/compliance/test_evidence.py`` shows each failing.
- *by construction*: a property of Secretum's code. The check still looks at the running code,
  but only a change of the code can make it fail; it names the tests that prove the property,
  and the register shows their names.

There is no default: a check registered without ``proof`` is refused (a ``TypeError`` at
import), one by construction without its tests too. A measure has at most one check of each
kind; when it has both (C1, H2) the register shows both, and the measure is met only when both
pass.

A check reads; it never writes, and it takes well under a second. A measure with no registered
check is "not met: not provided by this installation" unless the practice declares it: the
register never pretends.

The compliance app's own checks (P1, C2, C3, L3) are in ``compliance/own_evidence.py``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from secretum.compliance import catalogue

log = logging.getLogger(__name__)


class Verdict(StrEnum):
    MET = "met"
    NOT_MET = "not-met"


class Proof(StrEnum):
    """How a check proves its measure."""

    LIVE = "live"  # reads the installation's state now: can fail at run time
    BY_CONSTRUCTION = "by-construction"  # a property of the code, proven by named tests


PROOF_LABELS = {
    Proof.LIVE: gettext_lazy("live"),
    Proof.BY_CONSTRUCTION: gettext_lazy("by construction"),
}
# A test named by a proof by construction: "tests/<path>.py::test_<name>".
TEST_NAME = re.compile(r"^tests/[\w/]+\.py::test_\w+$")


@dataclass(frozen=True)
class Evidence:
    verdict: Verdict
    summary: str  # one sentence, in the reader's language: "12 of 12 active users have…"
    details: tuple[str, ...] = ()
    action: str = ""  # what to do, when not met
    verified_at: dt.datetime = field(default_factory=timezone.now)
    proof: Proof | None = None  # set by ``run`` from the check's registration
    tests: tuple[str, ...] = ()  # by construction: the tests that prove it
    parts: tuple[Evidence, ...] = ()  # a measure proved by two checks: each of them

    @property
    def met(self) -> bool:
        return self.verdict == Verdict.MET

    @property
    def proofs(self) -> tuple[Evidence, ...]:
        """Each check's own evidence, labelled (one, or two for C1 and H2)."""
        return self.parts or (self,)

    @property
    def proof_label(self) -> str:
        return str(PROOF_LABELS[self.proof]) if self.proof is not None else ""

    @property
    def live(self) -> bool:
        return self.proof == Proof.LIVE


def met(summary: str, *details: str) -> Evidence:
    return Evidence(Verdict.MET, summary, tuple(details))


def not_met(summary: str, action: str = "", *details: str) -> Evidence:
    return Evidence(Verdict.NOT_MET, summary, tuple(details), action)


Check = Callable[[], Evidence]


@dataclass(frozen=True)
class Registration:
    """One check of one or more measures, and how it proves them."""

    check: Check
    proof: Proof
    tests: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.check.__module__}.{self.check.__qualname__}"


_CHECKS: dict[str, dict[Proof, Registration]] = {}


def evidence(
    *measure_ids: str, proof: Proof | str, tests: Iterable[str] = ()
) -> Callable[[Check], Check]:
    """Register ``check`` as the evidence of these measures, proved ``proof``-wise.

    ``proof`` has no default: every check says whether it is live or by construction. A check
    by construction names the tests that prove it ("tests/<file>.py::test_<name>"); a live one
    names none (its failing case is in ``tests/compliance/test_evidence.py``)."""
    try:
        kind = Proof(proof)
    except ValueError:
        raise ImproperlyConfigured(
            f"evidence for {', '.join(measure_ids)}: proof must be one of "
            f"{', '.join(p.value for p in Proof)}, not {proof!r}"
        ) from None
    named = tuple(tests)
    if kind == Proof.BY_CONSTRUCTION and not named:
        raise ImproperlyConfigured(
            f"evidence by construction for {', '.join(measure_ids)} names no test that proves it"
        )
    if kind == Proof.LIVE and named:
        raise ImproperlyConfigured(
            f"live evidence for {', '.join(measure_ids)} names tests: a live check reads state"
        )
    for test in named:
        if not TEST_NAME.match(test):
            raise ImproperlyConfigured(f"{test!r} is not 'tests/<file>.py::test_<name>'")

    def register(check: Check) -> Check:
        entry = Registration(check, kind, named)
        for measure_id in measure_ids:
            if measure_id not in catalogue.BY_ID:
                raise ImproperlyConfigured(f"evidence for unknown measure {measure_id!r}")
            known = _CHECKS.get(measure_id, {}).get(kind)
            if known is not None and known.check.__qualname__ != check.__qualname__:
                raise ImproperlyConfigured(
                    f"measure {measure_id} has two {kind} evidence checks: {known.name} and "
                    f"{entry.name}"
                )
            _CHECKS.setdefault(measure_id, {})[kind] = entry
        return check

    return register


def registered() -> dict[str, tuple[Registration, ...]]:
    """Measure ID -> its checks (by construction first, then live)."""
    order = list(Proof)[::-1]
    return {
        m: tuple(sorted(found.values(), key=lambda r: order.index(r.proof)))
        for m, found in _CHECKS.items()
    }


def run(entry: Registration) -> Evidence:
    """Run one check, labelled; a check that breaks says so instead of breaking the register."""
    try:
        found = entry.check()
    except Exception as exc:  # a broken check is a failed proof, never a crash of the page
        log.exception("evidence check %s failed", entry.name)
        found = not_met(
            _("The check could not run (%(error)s).") % {"error": type(exc).__name__},
            _("Run 'secretum check' on the server and look at its log."),
        )
    return dataclasses.replace(found, proof=entry.proof, tests=entry.tests)


def combine(parts: tuple[Evidence, ...]) -> Evidence:
    """One measure's evidence from its checks: met only when every one is; when not, what the
    failing ones say (every part stays in ``parts``, shown with its label)."""
    if len(parts) == 1:
        return parts[0]
    failing = tuple(p for p in parts if not p.met)
    said = failing or parts
    return Evidence(
        Verdict.NOT_MET if failing else Verdict.MET,
        " ".join(p.summary for p in said),
        tuple(d for p in said for d in p.details),
        " ".join(p.action for p in failing if p.action),
        min(p.verified_at for p in parts),
        parts=parts,
    )


def gather(measure_ids: Iterable[str] | None = None) -> dict[str, Evidence]:
    """The evidence of these measures (default: all with a check), each check run once."""
    checks = registered()
    wanted = list(checks if measure_ids is None else measure_ids)
    done: dict[Registration, Evidence] = {}
    out: dict[str, Evidence] = {}
    for measure_id in wanted:
        entries = checks.get(measure_id)
        if not entries:
            continue
        for entry in entries:
            if entry not in done:
                done[entry] = run(entry)
        out[measure_id] = combine(tuple(done[e] for e in entries))
    return out


def day(value: dt.datetime | dt.date) -> str:
    """A date as the evidence texts show it (ISO 8601, unambiguous in every language)."""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date()
    return value.isoformat()
