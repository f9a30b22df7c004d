"""The auditor's pages (D2): the log, its export, the patient access report, the alerts.

Every read goes through audit.services, and is itself an audited event.
"""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.audit import services
from secretum.audit.forms import EventFilterForm, ReportForm
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
            "action_labels": services.ACTION_LABELS,
        },
    )


@requires(Permission.AUDIT_EXPORT)
@require_POST
def export(request: HttpRequest) -> HttpResponseBase:
    form = EventFilterForm(request.POST)
    fmt = request.POST.get("format", "")
    if not form.is_valid() or fmt not in ("ndjson", "csv"):
        return render(request, "audit/log.html", {"form": form, "page": None}, status=400)
    result = services.export_events(Actor.from_request(request), form.event_filter(), fmt)
    response = StreamingHttpResponse(result.lines, content_type=result.content_type)
    response["Content-Disposition"] = f'attachment; filename="{result.filename}"'
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
@require_GET
def report_pdf(request: HttpRequest, patient: UUID) -> HttpResponse:
    # Imported here: fpdf costs every `secretum` command that loads the URLs (system checks do)
    # 0.4 s of CPU, for a page an auditor prints now and then.
    from secretum.audit import pdf

    found = services.patient_access_report(Actor.from_request(request), str(patient), printed=True)
    response = HttpResponse(pdf.report_pdf(found, practice_name()), content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="access-report.pdf"'
    return response


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
