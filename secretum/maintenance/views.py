"""The maintenance log's pages (K1): the log, newest first, with each correction above what it
corrects; the form of an intervention and of its correction; the CSV export for the auditor.
Every read and write goes through maintenance.services."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.maintenance import forms, services


@requires(Permission.MAINTENANCE_LOG_READ)
@require_GET
def log(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    return render(
        request,
        "maintenance/log.html",
        {
            "groups": services.list_entries(actor),
            "can_write": actor.may(Permission.MAINTENANCE_LOG_WRITE),
            "limit": services.LIST_LIMIT,
        },
    )


@requires(Permission.MAINTENANCE_LOG_WRITE)
@require_http_methods(["GET", "POST"])
def new_entry(request: HttpRequest) -> HttpResponse:
    form = forms.InterventionForm(
        request.POST or None,
        initial={"intervened_at": forms.now_local()},
        people=services.practice_users(),
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.record_intervention(Actor.from_request(request), form.intervention())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The intervention is recorded in the maintenance log."))
            return redirect("maintenance:log")
    status = 400 if form.is_bound else 200
    return render(request, "maintenance/form.html", {"form": form}, status=status)


@requires(Permission.MAINTENANCE_LOG_WRITE)
@require_http_methods(["GET", "POST"])
def correct_entry(request: HttpRequest, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    people = services.practice_users()
    if request.method == "POST":
        form = forms.CorrectionForm(request.POST, people=people)
        if form.is_valid():
            try:
                services.correct_intervention(
                    actor, uid, form.intervention(), form.cleaned_data["reason"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request, _("The correction is recorded; the corrected entry is kept.")
                )
                return redirect("maintenance:log")
        entry = services.access_entry(actor, uid)
        return render(request, "maintenance/form.html", {"form": form, "entry": entry}, status=400)
    entry = services.access_entry(actor, uid)
    form = forms.CorrectionForm(initial=forms.InterventionForm.initial_from(entry), people=people)
    return render(request, "maintenance/form.html", {"form": form, "entry": entry})


@requires(Permission.MAINTENANCE_LOG_READ)
@require_GET
def export(request: HttpRequest) -> HttpResponse:
    result = services.export_log(Actor.from_request(request))
    response = HttpResponse(result.text, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
    response["X-Secretum-Entries"] = str(result.count)
    return response
