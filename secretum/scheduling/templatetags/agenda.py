"""The agenda's rows, made in one pass (issue 17): a day of a busy practice lists some seventy
appointments, and the template's loop spent about 0.1 ms on each row (a context pushed and
popped, a dozen lookups, two reversed links, a CSRF field and two translations), most of a
page that the front desk opens all day. The markup is the loop's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import template
from django.template.defaulttags import CsrfTokenNode
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from secretum.core.templatetags.secretum import clock, uid_url

register = template.Library()


@register.simple_tag(takes_context=True)
def agenda_rows(context: template.Context, appointments: Iterable[Any]) -> SafeString:
    csrf = CsrfTokenNode().render(context)
    cancel, cancelled = escape(gettext("cancel")), escape(gettext("cancelled"))
    rows = []
    for a in appointments:
        if a.status == "booked":
            action = uid_url("scheduling:cancel", a.uid)
            last = (
                f'<form method="post" action="{action}" class="inline">{csrf}'
                f'<button class="link" type="submit">{cancel}</button></form>'
            )
        else:
            last = cancelled
        shown = ' class="cancelled"' if a.status == "cancelled" else ""
        rows.append(
            f"<tr{shown}><td>{clock(timezone.localtime(a.starts_at))} ({a.duration_minutes} min)"
            f'</td><td><a href="{uid_url("patients:detail", a.patient_uid)}">'
            f"{escape(a.patient_name)}</a></td><td>{escape(a.practitioner)}</td>\n"
            f"<td>{last}</td></tr>\n"
        )
    return mark_safe("".join(rows))  # noqa: S308  (every value above escaped, links reversed)
