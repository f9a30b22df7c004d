"""Patient pages. Every read and write goes through the services (never the models). An archived
record (J1) shows its own page: opened with a reason, restored to active."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access import care
from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.guard import ArchivedRecord, NoCareRelationship
from secretum.access.policy import Permission
from secretum.access.relationships import policy
from secretum.clinical import services as clinical
from secretum.clinical.labs import latest_results
from secretum.clinical.medications import split_active
from secretum.clinical.trends import trends
from secretum.patients import archive, services
from secretum.patients.forms import ArchiveReasonForm, PatientForm, SearchForm
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
    # One transaction for the page: its audited reads (one, or a refusal and one) commit once.
    with transaction.atomic():
        try:
            _fill_detail(actor, uid, context)
        except ArchivedRecord:  # J1: caught inside, so that the refusal's event is kept
            archived = True
        else:
            archived = False
    if archived:
        return _archived_page(request, uid, ArchiveReasonForm())
    if context.get("chart") and getattr(context["chart"], "archived", False):
        context["restore_form"] = ArchiveReasonForm(auto_id="restore_%s")
    return render(request, "patients/detail.html", context)


def _archived_page(request: HttpRequest, uid: UUID, form: ArchiveReasonForm) -> HttpResponse:
    """J1: the record is archived, and the gate refused it: when it was archived, never whose
    it is; to a practitioner, the form to open it with a reason. 403 for whoever cannot."""
    state = archive.archive_state(uid)
    if state is None or state.archived_at is None:
        raise Http404("No such patient.")
    may_open = Actor.from_request(request).may(Permission.ARCHIVE_OPEN)
    return render(
        request,
        "patients/archived.html",
        {"state": state, "form": form if may_open else None, "hours": policy().glass_hours},
        status=200 if may_open else 403,
    )


@requires(Permission.ARCHIVE_OPEN)
@require_POST
def archive_open(request: HttpRequest, uid: UUID) -> HttpResponse:
    """J1: open an archived record with a reason, for the emergency-access hours."""
    form = ArchiveReasonForm(request.POST)
    if not form.is_valid():
        return _archived_page(request, uid, form)
    try:
        until = care.open_archived(Actor.from_request(request), uid, form.cleaned_data["reason"])
    except ValidationError as exc:  # not archived (any more): the patient's page opens as usual
        messages.error(request, " ".join(exc.messages))
    else:
        messages.warning(
            request,
            _("Archived record open until %(time)s. The auditor has been told.")
            % {"time": timezone.localtime(until).strftime("%H:%M")},
        )
    return redirect("patients:detail", uid=uid)


@requires(Permission.ARCHIVE_OPEN)
@require_POST
def restore(request: HttpRequest, uid: UUID) -> HttpResponse:
    """J1: bring an archived record back to active, with a reason."""
    form = ArchiveReasonForm(request.POST, auto_id="restore_%s")
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
        return redirect("patients:detail", uid=uid)
    try:
        archive.restore_patient(Actor.from_request(request), uid, form.cleaned_data["reason"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request,
            _(
                "Record restored to active: it is in searches and lists again, and you take "
                "care of this patient."
            ),
        )
    return redirect("patients:detail", uid=uid)


def _fill_detail(actor: Actor, uid: UUID, context: dict[str, object]) -> None:
    """The page's one read of the record (issue 17): the chart with its appointments, or, for
    whoever may not open the medical record, the identity with them; one event either way."""
    if actor.may(Permission.CLINICAL_READ):
        try:
            chart = clinical.access_chart(actor, uid, appointments=True)
        except NoCareRelationship:  # C1: the identity, and the ways into the record
            context["patient"], context["appointments"] = scheduling.access_identity(actor, uid)
            context["care_needed"] = True
        else:
            context.update(
                patient=chart.patient,
                chart=chart,
                appointments=chart.appointments,
                problems=clinical.problem_list(chart.entries["problem"]),
                # issue 15: the active medications, and the stopped ones apart
                medications=split_active(chart.entries["medication"], timezone.localdate()),
                labs=latest_results(chart.entries["lab"]),
                trends=trends(chart.entries["observation"], chart.entries["lab"]),
            )
    else:
        context["patient"], context["appointments"] = scheduling.access_identity(actor, uid)


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
