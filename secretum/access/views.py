"""Pages of the ways into a record (C1): "I take care of this patient", break the glass; the
auditor's review of emergency accesses (C2); the practice's access policy."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from secretum.access import care
from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.forms import GlassForm, PolicyForm, ReviewForm
from secretum.access.policy import Permission
from secretum.access.relationships import policy
from secretum.patients import services as patients


@requires(Permission.CARE_DECLARE)
@require_POST
def declare(request: HttpRequest, patient: UUID) -> HttpResponse:
    care.declare_care(Actor.from_request(request), patient)
    messages.success(request, _("You now take care of this patient; this is recorded."))
    return redirect("patients:detail", uid=patient)


@requires(Permission.GLASS_BREAK)
@require_http_methods(["GET", "POST"])
def glass(request: HttpRequest, patient: UUID) -> HttpResponse:
    form = GlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            until = care.break_the_glass(
                Actor.from_request(request),
                patient,
                form.cleaned_data["category"],
                form.cleaned_data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.warning(
                request,
                _("Emergency access until %(time)s. The auditor has been told.")
                % {"time": timezone.localtime(until).strftime("%H:%M")},
            )
            return redirect("patients:detail", uid=patient)
    # Whose record: the practitioner confirms it before opening it (an audited identity read).
    identity = patients.access_patient(Actor.from_request(request), patient)
    return render(
        request,
        "access/glass.html",
        {"form": form, "patient": identity, "patient_uid": patient, "hours": policy().glass_hours},
    )


@requires(Permission.ACCESS_REVIEW)
@require_http_methods(["GET"])
def reviews(request: HttpRequest) -> HttpResponse:
    rows = care.glass_breaks(Actor.from_request(request))
    return render(
        request,
        "access/reviews.html",
        {
            # One form per access, with ids of its own (two forms never share an id).
            "pending": [
                (r, ReviewForm(auto_id=f"id_%s_{r.uid}")) for r in rows if r.reviewed_at is None
            ],
            "reviewed": [r for r in rows if r.reviewed_at is not None],
            "overdue_days": care.REVIEW_OVERDUE_DAYS,
        },
    )


@requires(Permission.ACCESS_REVIEW)
@require_POST
def review(request: HttpRequest, grant: UUID) -> HttpResponse:
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            care.review_glass_break(
                Actor.from_request(request),
                grant,
                form.cleaned_data["justified"],
                form.cleaned_data["comment"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Review recorded."))
    else:
        messages.error(request, " ".join(str(e) for errs in form.errors.values() for e in errs))
    return redirect("access:reviews")


@requires(Permission.SETTINGS_MANAGE)
@require_http_methods(["GET", "POST"])
def policy_page(request: HttpRequest) -> HttpResponse:
    form = PolicyForm(request.POST or None, initial=PolicyForm.initial_from(policy()))
    if request.method == "POST" and form.is_valid():  # the form holds the model's bounds
        care.set_policy(Actor.from_request(request), **form.cleaned_data)
        messages.success(request, _("Access policy saved; it applies from the next request."))
        return redirect("access:policy")
    return render(request, "access/policy.html", {"form": form})
