"""Patient pages. Every read and write goes through the services (never the models)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.guard import NoCareRelationship
from secretum.access.policy import Permission
from secretum.clinical import services as clinical
from secretum.clinical.labs import latest_results
from secretum.clinical.trends import trends
from secretum.patients import services
from secretum.patients.forms import PatientForm, SearchForm
from secretum.scheduling import services as scheduling


@requires(Permission.PATIENT_SEARCH)
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    # POST, never GET: a national number must not end up in a URL or a log line (H2).
    form = SearchForm(request.POST or None)
    result = None
    if request.method == "POST" and form.is_valid():
        try:
            result = services.search_patients(Actor.from_request(request), form.cleaned_data["q"])
        except ValidationError as exc:
            form.add_error("q", exc)
    return render(request, "patients/search.html", {"form": form, "result": result})


@requires(Permission.PATIENT_IDENTITY_WRITE)
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    form = PatientForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            patient = services.register_patient(Actor.from_request(request), form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Patient registered."))
            return redirect("patients:detail", uid=patient.uid)
    return render(request, "patients/form.html", {"form": form, "title": _("New patient")})


@requires(Permission.PATIENT_IDENTITY_READ)
@require_GET
def detail(request: HttpRequest, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    context: dict[str, object] = {}
    # One transaction for the page: its two audited reads commit (and wait for the disk) once.
    with transaction.atomic():
        _fill_detail(actor, uid, context)
    return render(request, "patients/detail.html", context)


def _fill_detail(actor: Actor, uid: UUID, context: dict[str, object]) -> None:
    if actor.may(Permission.CLINICAL_READ):
        try:
            chart = clinical.access_chart(actor, uid)
        except NoCareRelationship:  # C1: the identity, and the ways into the record
            context.update(patient=services.access_patient(actor, uid), care_needed=True)
        else:
            context.update(
                patient=chart.patient,
                chart=chart,
                problems=clinical.problem_list(chart.entries["problem"]),
                labs=latest_results(chart.entries["lab"]),
                trends=trends(chart.entries["observation"], chart.entries["lab"]),
            )
    else:
        context["patient"] = services.access_patient(actor, uid)
    context["appointments"] = scheduling.patient_appointments(actor, uid)


@requires(Permission.PATIENT_IDENTITY_WRITE)
@require_http_methods(["GET", "POST"])
def edit(request: HttpRequest, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    if request.method == "POST":
        form = PatientForm(request.POST)
        if form.is_valid():
            try:
                services.update_patient(actor, uid, form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Identity updated."))
                return redirect("patients:detail", uid=uid)
    else:
        form = PatientForm(initial=PatientForm.initial_from(services.access_patient(actor, uid)))
    return render(
        request,
        "patients/form.html",
        {"form": form, "title": _("Edit identity"), "cancel_uid": uid},
    )
