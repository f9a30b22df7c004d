from __future__ import annotations

import datetime as dt
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.patients import services as patients
from secretum.scheduling import services
from secretum.scheduling.forms import AppointmentForm


def _asked_day(text: str) -> dt.date:
    """The day of ``?day=yyyy-mm-dd``, within the agenda's window, or ValidationError (N2)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            _("Give the day as yyyy-mm-dd, such as %(today)s.")
            % {"today": timezone.localdate().isoformat()}
        ) from None
    services.check_agenda_day(day)
    return day


@requires(Permission.APPOINTMENT_READ)
@require_GET
def agenda(request: HttpRequest) -> HttpResponse:
    day, error = timezone.localdate(), ""
    if request.GET.get("day"):
        try:
            day = _asked_day(request.GET["day"])
        except ValidationError as exc:
            error = " ".join(exc.messages)  # today's agenda, and what was wrong (400)
    appointments = services.agenda(Actor.from_request(request), day)
    first, last = services.agenda_window()
    return render(
        request,
        "scheduling/agenda.html",
        {
            "day": day,
            "appointments": appointments,
            "error": error,
            # No link beyond the window: its edges are where date arithmetic stops (N2).
            "previous": day - dt.timedelta(days=1) if day > first else None,
            "next": day + dt.timedelta(days=1) if day < last else None,
        },
        status=400 if error else 200,
    )


@requires(Permission.APPOINTMENT_WRITE)
@require_http_methods(["GET", "POST"])
def book(request: HttpRequest, patient: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    form = AppointmentForm(
        services.practitioners(), request.POST or None, initial={"day": timezone.localdate()}
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.book_appointment(
                actor,
                patient,
                form.cleaned_data["practitioner"],
                form.starts_at(),
                form.cleaned_data["duration"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Appointment booked."))
            return redirect("patients:detail", uid=patient)
    identity = patients.access_patient(actor, patient)
    return render(request, "scheduling/book.html", {"form": form, "patient": identity})


@requires(Permission.APPOINTMENT_WRITE)
@require_POST
def cancel(request: HttpRequest, uid: UUID) -> HttpResponse:
    try:
        services.cancel_appointment(Actor.from_request(request), uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Appointment cancelled."))
    return redirect("scheduling:agenda")
