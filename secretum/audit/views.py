"""The auditor's pages (D2): the log, its export, the patient access report, the alerts.

Every read goes through audit.services, and is itself an audited event.
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.audit import services
from secretum.audit.forms import EventFilterForm, ReportForm
from secretum.crypto.sealing import PDF_TYPE as PDF
from secretum.crypto.sealing import Delivery, Sealed
from secretum.exchange.delivery import DeliveryForm, deliver, hand_out
from secretum.lib.practice import practice_name


@requires(Permission.AUDIT_READ)
@require_http_methods(["GET", "POST"])
def log(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    form = EventFilterForm(request.POST if request.method == "POST" else {})
    page = None
    if form.is_valid():
        page = services.search_events(
            actor, form.event_filter(), page=form.cleaned_data.get("page") or 1
        )
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "page": page,
            "can_export": actor.may(Permission.AUDIT_EXPORT),
            "delivery_form": DeliveryForm(),
            "action_labels": services.ACTION_LABELS,
        },
    )


@requires(Permission.AUDIT_EXPORT)
@require_POST
def export(request: HttpRequest) -> HttpResponse:
    """The filtered log as a file, encrypted by default (E7, M3: it names patients and users).
    The file is made whole before it leaves, the one export event naming its encryption."""
    form = EventFilterForm(request.POST)
    delivery_form = DeliveryForm(request.POST)
    fmt = request.POST.get("format", "")
    if not (form.is_valid() and delivery_form.is_valid()) or fmt not in ("ndjson", "csv"):
        context = {"form": form, "page": None, "can_export": True, "delivery_form": delivery_form}
        return render(request, "audit/log.html", context, status=400)
    delivery = delivery_form.chosen()
    result = services.export_events(
        Actor.from_request(request), form.event_filter(), fmt, delivery=delivery
    )
    pieces = (line.encode() for line in result.lines)
    response = deliver(
        request,
        delivery,
        delivery.seal(pieces, result.filename, result.content_type),
        back=reverse("audit:log"),
    )
    response["X-Secretum-Events"] = str(result.count)
    return response


@requires(Permission.AUDIT_READ)
@require_http_methods(["GET", "POST"])
def report_search(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            report = services.patient_access_report(
                Actor.from_request(request), form.cleaned_data["patient"]
            )
        except Http404:
            form.add_error("patient", _("No patient has this national number or reference."))
        else:
            return render(request, "audit/report.html", {"report": report})
    return render(request, "audit/report_search.html", {"form": form})


@requires(Permission.AUDIT_READ)
@require_GET
def report(request: HttpRequest, patient: UUID) -> HttpResponse:
    found = services.patient_access_report(Actor.from_request(request), str(patient))
    return render(request, "audit/report.html", {"report": found})


@requires(Permission.AUDIT_READ)
@require_http_methods(["GET", "POST"])
def report_pdf(request: HttpRequest, patient: UUID) -> HttpResponse:
    """The report as a PDF, encrypted by default (E7, M3): GET asks how it leaves, POST makes
    it, one print event naming its encryption."""

    def make(delivery: Delivery) -> Sealed:
        # Imported here: fpdf costs every `secretum` command that loads the URLs (system checks
        # do) 0.4 s of CPU, for a page an auditor prints now and then.
        from secretum.audit import pdf

        found = services.patient_access_report(
            Actor.from_request(request), str(patient), printed=True, delivery=delivery
        )
        data = pdf.report_pdf(found, practice_name(), delivery)
        return delivery.seal(data, "access-report.pdf", PDF)

    return hand_out(
        request, make, title=_("Access report as PDF"),
        about=_("The report names the patient: it leaves encrypted unless you say why not."),
        back=reverse("audit:report", args=[patient]),
    )  # fmt: skip


@requires(Permission.AUDIT_READ)
@require_GET
def alerts(request: HttpRequest) -> HttpResponse:
    found = services.access_alerts(Actor.from_request(request))
    return render(
        request,
        "audit/alerts.html",
        {
            "alerts": found,
            "threshold": settings.SECRETUM_AUDIT_ALERT_PATIENTS,
            "minutes": settings.SECRETUM_AUDIT_ALERT_MINUTES,
        },
    )
