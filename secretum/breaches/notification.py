"""Drafts of what a breach requires the practice to write (D3), from the register's entry.

- the notification to the supervisory authority (GDPR art. 33(3)): in Belgium the Data
  Protection Authority (Autorité de protection des données / Gegevensbeschermingsautoriteit),
  through its online form; the draft follows the article's points (a) to (d), so it can be
  copied into the form;
- where the risk is high, the letter to the people concerned (art. 34(2)), in clear and plain
  language.

Drafts only: the practice reads, completes and sends them; Secretum records when it did.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _

from secretum.breaches.entries import BreachView

MISSING = "[…]"


def _when(value: object) -> str:
    return timezone.localtime(value).strftime("%d/%m/%Y %H:%M") if value else MISSING  # type: ignore[arg-type]


def _about(count: int | None) -> str:
    return _("about %(n)d") % {"n": count} if count is not None else MISSING


def authority_notification(breach: BreachView, practice: str) -> str:
    n = breach.narrative
    people = ", ".join(breach.people_labels) or MISSING
    records = ", ".join(breach.record_labels) or MISSING
    lines = [
        _("Notification of a personal data breach (GDPR article 33)"),
        _("Controller: %(practice)s") % {"practice": practice},
        _("Became aware of the breach: %(at)s") % {"at": _when(breach.aware_at)},
        "",
        _("(a) Nature of the breach"),
        n.get("nature") or n.get("what_happened") or MISSING,
        _("Categories of people concerned: %(what)s; approximate number: %(n)s.")
        % {"what": people, "n": _about(breach.people_count)},
        _("Categories of personal data records concerned: %(what)s; approximate number: %(n)s.")
        % {"what": records, "n": _about(breach.records_count)},
        "",
        _("(b) Contact point for more information (data protection officer or other)"),
        n.get("contact") or MISSING,
        "",
        _("(c) Likely consequences of the breach"),
        n.get("consequences") or MISSING,
        "",
        _(
            "(d) Measures taken or proposed to address the breach, including to mitigate its "
            "possible adverse effects"
        ),
        n.get("measures_taken") or MISSING,
        n.get("measures_proposed") or "",
    ]
    if breach.overdue or breach.late_notification:
        lines += [
            "",
            _("Reasons for notifying later than 72 hours after becoming aware (article 33(1))"),
            n.get("delay_reason") or MISSING,
        ]
    if breach.letter_needed:
        lines += [
            "",
            _(
                "The risk for the people concerned is high: they are informed without undue delay "
                "(article 34)."
            ),
        ]
    return "\n".join(lines).strip() + "\n"


def patient_letter(breach: BreachView, practice: str) -> str:
    n = breach.narrative
    done = " ".join(x for x in (n.get("measures_taken"), n.get("measures_proposed")) if x)
    lines = [
        practice,
        "",
        _("Dear patient,"),
        "",
        _(
            "We must inform you of an incident that concerns your personal data held by our "
            "practice."
        ),
        "",
        _("What happened: %(what)s")
        % {"what": n.get("nature") or n.get("what_happened") or MISSING},
        _("Data concerned: %(what)s") % {"what": ", ".join(breach.record_labels) or MISSING},
        _("What this may mean for you: %(what)s") % {"what": n.get("consequences") or MISSING},
        _("What we have done and will do: %(what)s") % {"what": done or MISSING},
        "",
        _("Who to contact for any question: %(who)s") % {"who": n.get("contact") or MISSING},
        _("You may also lodge a complaint with the Data Protection Authority."),
        "",
        _("With our apologies,"),
        practice,
    ]
    return "\n".join(lines) + "\n"
