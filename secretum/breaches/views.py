"""The breach register's pages (D3): the procedure that every user reads, the report that any
user makes, the register, an entry with the manager's steps, and the drafts of the notification
and of the letter. Every read and write goes through breaches.services."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.breaches import forms, services
from secretum.breaches.entries import BreachView


@requires(Permission.SESSION_OWN)
@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    """The data-breach procedure, readable by every user."""
    return render(
        request,
        "breaches/help.html",
        {"can_report": Actor.from_request(request).may(Permission.BREACH_REPORT)},
    )


@requires(Permission.BREACH_REPORT)
@require_http_methods(["GET", "POST"])
def breach_report(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    form = forms.BreachReportForm(request.POST or None, initial={"aware_at": forms.now_local()})
    if request.method == "POST" and form.is_valid():
        try:
            uid = services.report_breach(
                actor,
                aware_at=form.cleaned_data["aware_at"],
                what_happened=form.cleaned_data["what_happened"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _(
                    "Thank you: the suspected breach is recorded and the practice manager is told. "
                    "Keep any evidence; do not try to fix it alone."
                ),
            )
            if actor.may(Permission.BREACH_READ):
                return redirect("breaches:breach", uid=uid)
            return redirect("breaches:help")
    return render(request, "breaches/report.html", {"form": form})


@requires(Permission.BREACH_READ)
@require_GET
def breaches(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    return render(
        request,
        "breaches/list.html",
        {"breaches": services.list_breaches(actor), "can_report": True},
    )


BREACH_ACTIONS = {
    "assess": forms.BreachAssessmentForm,
    "notified": forms.BreachNotifiedForm,
    "informed": forms.BreachInformedForm,
    "close": forms.BreachCloseForm,
    "note": forms.BreachNoteForm,
}


def _breach_forms(found: BreachView) -> dict[str, Any]:
    n = found.narrative
    return {
        "assess": forms.BreachAssessmentForm(
            initial={
                "nature": n.get("nature", ""),
                "people_categories": list(found.people_categories),
                "people_count": found.people_count,
                "record_categories": list(found.record_categories),
                "records_count": found.records_count,
                "consequences": n.get("consequences", ""),
                "measures_taken": n.get("measures_taken", ""),
                "measures_proposed": n.get("measures_proposed", ""),
                "contact": n.get("contact", ""),
                "risk": found.risk,
            }
        ),
        "notified": forms.BreachNotifiedForm(initial={"notified_at": forms.now_local()}),
        "informed": forms.BreachInformedForm(initial={"informed_at": forms.now_local()}),
        "close": forms.BreachCloseForm(),
        "note": forms.BreachNoteForm(),
    }


def _breach_page(
    request: HttpRequest, uid: UUID, bound: tuple[str, Any] | None = None
) -> HttpResponse:
    actor = Actor.from_request(request)
    found = services.access_breach(actor, uid)
    context: dict[str, Any] = {"breach": found}
    if actor.may(Permission.BREACH_MANAGE) and found.status != "closed":
        given = _breach_forms(found)
        if bound is not None:
            given[bound[0]] = bound[1]
        context["forms"] = given
    return render(
        request, "breaches/breach.html", context, status=400 if bound is not None else 200
    )


@requires(Permission.BREACH_READ)
@require_GET
def breach(request: HttpRequest, uid: UUID) -> HttpResponse:
    return _breach_page(request, uid)


@requires(Permission.BREACH_MANAGE)
@require_POST
def breach_update(request: HttpRequest, uid: UUID, step: str) -> HttpResponse:
    if step not in BREACH_ACTIONS:
        return redirect("breaches:breach", uid=uid)
    form = BREACH_ACTIONS[step](request.POST)
    if form.is_valid():
        actor, data = Actor.from_request(request), form.cleaned_data
        try:
            if step == "assess":
                services.assess_breach(actor, uid, data)
            elif step == "notified":
                services.record_notification(
                    actor,
                    uid,
                    notified_at=data["notified_at"],
                    reference=data["reference"],
                    delay_reason=data["delay_reason"],
                )
            elif step == "informed":
                services.record_people_informed(
                    actor, uid, informed_at=data["informed_at"], how=data["how"]
                )
            elif step == "close":
                services.close_breach(actor, uid, reason=data["reason"])
            else:
                services.add_breach_note(actor, uid, note=data["note"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Saved; the change is kept in the entry's history."))
            return redirect("breaches:breach", uid=uid)
    return _breach_page(request, uid, (step, form))


@requires(Permission.BREACH_READ)
@require_GET
def breach_drafts(request: HttpRequest, uid: UUID) -> HttpResponse:
    found = services.breach_drafts(Actor.from_request(request), uid)
    return render(request, "breaches/drafts.html", {"drafts": found})
