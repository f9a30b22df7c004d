"""Clinical entry pages. Every read and write goes through clinical.services."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.clinical import codes, prescriptions, rules, services
from secretum.clinical.forms import EntryForm, PrescriberForm
from secretum.patients import services as patients

TITLES = {
    "encounter": gettext_lazy("Consultation note"),
    "problem": gettext_lazy("Problem / diagnosis"),
    "allergy": gettext_lazy("Allergy"),
    "medication": gettext_lazy("Medication / prescription"),
    "observation": gettext_lazy("Observation"),
    "vaccination": gettext_lazy("Vaccination"),
    "lab": gettext_lazy("Lab result"),
}


def _kind(kind: str) -> str:
    if kind not in rules.SPECS:
        raise Http404("No such kind of entry.")
    return kind


@requires(Permission.CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def new_entry(request: HttpRequest, patient: UUID, kind: str) -> HttpResponse:
    actor = Actor.from_request(request)
    form = EntryForm(_kind(kind), request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_entry(actor, patient, kind, form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Entry recorded."))
            return redirect("patients:detail", uid=patient)
    identity = patients.access_patient(actor, patient)
    return render(
        request,
        "clinical/entry_form.html",
        {
            "form": form,
            "patient": identity,
            "patient_uid": identity.uid,
            "title": TITLES[kind],
            "kind": kind,
        },
    )


@requires(Permission.CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def correct(request: HttpRequest, kind: str, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    _kind(kind)
    if request.method == "POST":
        form = EntryForm(kind, request.POST)
        if form.is_valid():
            try:
                _entry, patient_uid = services.correct_entry(actor, kind, uid, form.cleaned_data)
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("Correction recorded; the earlier version is kept."))
                return redirect("patients:detail", uid=patient_uid)
        patient_uid = services.entry_patient(actor, kind, uid)
    else:
        entry, patient_uid = services.access_entry(actor, kind, uid)
        computed = rules.COMPUTED.get(kind, ())
        initial = {k: v for k, v in entry.values.items() if k not in computed}
        form = EntryForm(kind, initial=initial)
    return render(
        request,
        "clinical/entry_form.html",
        {
            "form": form,
            "title": _("Correct: %s") % TITLES[kind],
            "kind": kind,
            "patient_uid": patient_uid,
            "correcting": True,
        },
    )


@requires(Permission.CLINICAL_WRITE)
@require_POST
def retract(request: HttpRequest, kind: str, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    _kind(kind)
    try:
        patient_uid = services.retract_entry(actor, kind, uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        patient_uid = services.entry_patient(actor, kind, uid)
    else:
        messages.success(request, _("Entry marked as entered in error; it stays in the history."))
    return redirect("patients:detail", uid=patient_uid)


@requires(Permission.CLINICAL_READ)
@require_GET
def history(request: HttpRequest, kind: str, uid: UUID) -> HttpResponse:
    versions, patient_uid = services.entry_history(Actor.from_request(request), _kind(kind), uid)
    return render(
        request,
        "clinical/history.html",
        {
            "versions": versions,
            "patient_uid": patient_uid,
            "title": TITLES[kind],
            "kind": kind,
            "fields": [(spec.name, spec.label) for spec in rules.SPECS[kind]],
        },
    )


@requires(Permission.CLINICAL_WRITE)
@require_GET
def icd10_codes(request: HttpRequest) -> HttpResponse:
    """ICD-10 codes for a problem's code field as it is typed (issue 15): the classification's
    own list, no patient data, so nothing to audit."""
    found = codes.suggest(request.GET.get("q", "")[:100])
    return JsonResponse({"codes": [{"code": c.code, "title": c.title} for c in found]})


# --- medications and prescriptions (issue 15) --------------------------------------------------


@requires(Permission.CLINICAL_WRITE)
@require_POST
def stop_medication(request: HttpRequest, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    try:
        patient_uid = prescriptions.stop_medication(actor, uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        patient_uid = services.entry_patient(actor, "medication", uid)
    else:
        messages.success(request, _("Medication stopped today; the earlier version is kept."))
    return redirect("patients:detail", uid=patient_uid)


@requires(Permission.CLINICAL_SIGN)
@require_POST
def renew_medication(request: HttpRequest, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    try:
        _entry, patient_uid = prescriptions.renew_medication(actor, uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        patient_uid = services.entry_patient(actor, "medication", uid)
    else:
        messages.success(request, _("Medication renewed from today."))
    return redirect("patients:detail", uid=patient_uid)


@requires(Permission.CLINICAL_SIGN)
@require_http_methods(["GET", "POST"])
def prescriber(request: HttpRequest) -> HttpResponse:
    """The acting practitioner's own RIZIV/INAMI number, printed on their prescriptions."""
    actor = Actor.from_request(request)
    form = PrescriberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            prescriptions.set_prescriber_number(actor, form.cleaned_data["riziv"])
        except ValidationError as exc:
            form.add_error("riziv", exc)
        else:
            messages.success(request, _("Your RIZIV/INAMI number is saved."))
            return redirect("clinical:prescriber")
    return render(
        request,
        "clinical/prescriber.html",
        {"form": form, "current": prescriptions.prescriber_number(actor.user)},
    )
