"""The maintenance log's pages (K1): the log, newest first, with each correction above what it
corrects; the form of an intervention and of its correction; the CSV export for the auditor.
Every read and write goes through maintenance.services.

The maintenance access of outside technicians (K2): the manager's page of windows, open and past,
opening one (its enrolment link shown once) and closing one early, both after re-authentication
(sudo); every read and write goes through maintenance.windows."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.accounts.web import sudo
from secretum.crypto.sealing import Delivery, Sealed
from secretum.exchange.delivery import hand_out
from secretum.maintenance import forms, services, windows


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
        actor = Actor.from_request(request)
        try:
            services.record_intervention(actor, form.intervention())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("The intervention is recorded in the maintenance log."))
            # An outside technician writes the log but does not read it (K2).
            readable = actor.may(Permission.MAINTENANCE_LOG_READ)
            return redirect("maintenance:log" if readable else "home")
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
@require_http_methods(["GET", "POST"])
def export(request: HttpRequest) -> HttpResponse:
    """The log as CSV, encrypted by default (E7, M3: it names people): GET asks how it leaves,
    POST makes it, one export event naming its encryption."""
    count: list[int] = []

    def make(delivery: Delivery) -> Sealed:
        result = services.export_log(Actor.from_request(request), delivery=delivery)
        count.append(result.count)
        return delivery.seal(result.text.encode(), result.filename, "text/csv; charset=utf-8")

    response = hand_out(
        request, make, title=_("Export the maintenance log"),
        about=_("The log names people: it leaves encrypted unless you say why not."),
        back=reverse("maintenance:log"),
    )  # fmt: skip
    if count:
        response["X-Secretum-Entries"] = str(count[0])
    return response


# --- maintenance access of outside technicians (K2) ---------------------------------------------

OPENED = "sx_window_link"  # the window just opened, its link shown once (as accounts' links)


def _windows_page(request: HttpRequest, form: forms.WindowForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "maintenance/windows.html",
        {
            "windows": windows.list_windows(Actor.from_request(request)),
            "form": form,
            "opened": request.session.pop(OPENED, None),
            "max_hours": windows.TECHNICIAN_HOURS,
        },
        status=status,
    )


@requires(Permission.USERS_MANAGE)
@require_GET
def windows_view(request: HttpRequest) -> HttpResponse:
    """K2: the windows, open and past; the form that opens one."""
    return _windows_page(request, forms.WindowForm(people=windows.supervisors()))


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def window_open(request: HttpRequest) -> HttpResponse:
    """K2: open a window, after re-authentication; its enrolment link is shown once."""
    form = forms.WindowForm(request.POST, people=windows.supervisors())
    if form.is_valid():
        try:
            opened = windows.open_window(Actor.from_request(request), form.window())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            request.session[OPENED] = {
                "username": opened.username,
                "technician": form.cleaned_data["technician"],
                "starts_at": f"{timezone.localtime(opened.starts_at):%d/%m/%Y %H:%M}",
                "ends_at": f"{timezone.localtime(opened.ends_at):%d/%m/%Y %H:%M}",
                # The token only in the fragment, which browsers never send (H2).
                "url": request.build_absolute_uri(reverse("accounts:enrol")) + "#" + opened.token,
            }
            return redirect("maintenance:windows")
    return _windows_page(request, form, status=400)


@requires(Permission.USERS_MANAGE)
@require_POST
@sudo
def window_close(request: HttpRequest) -> HttpResponse:
    """K2: close a window before its end, after re-authentication (the window's reference in
    the POST body, never in a URL: H2)."""
    if windows.close_window(Actor.from_request(request), request.POST.get("window", "")):
        messages.success(
            request,
            _("The maintenance access is closed: its account is disabled and its sessions ended."),
        )
    else:
        messages.info(request, _("This maintenance access was closed already."))
    return redirect("maintenance:windows")
