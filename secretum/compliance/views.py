"""The measures register's pages, the yearly access review (C2), the signed report (L3) and
printed patient documents (P1, C3). Every read and write goes through the register's service
modules (register, declarations, documents, access_review, reports, printing)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.compliance import access_review as reviews  # the view of that name is below
from secretum.compliance import declarations, documents, forms, printing
from secretum.compliance import register as measures  # the view "register" is below
from secretum.compliance import reports as signed  # the view "reports" is below
from secretum.compliance.uploads import SealedUploadHandler
from secretum.crypto.sealing import PDF_TYPE, Delivery, Sealed
from secretum.exchange.delivery import hand_out


def _fail(request: HttpRequest, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _attachment(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- the register --------------------------------------------------------------------------


@requires(Permission.COMPLIANCE_READ)
@require_GET
def register(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    found = measures.register(actor)
    return render(
        request,
        "compliance/register.html",
        {
            "register": found,
            "can_manage": actor.may(Permission.COMPLIANCE_MANAGE),
            "profile_form": forms.ProfileForm(initial={"hosting": found.hosting}),
        },
    )


@requires(Permission.COMPLIANCE_MANAGE)
@require_POST
def profile(request: HttpRequest) -> HttpResponse:
    form = forms.ProfileForm(request.POST)
    if form.is_valid():
        measures.set_hosting(Actor.from_request(request), form.cleaned_data["hosting"])
        messages.success(request, _("Hosting saved: the register shows the parts that apply."))
    return redirect("compliance:register")


@requires(Permission.COMPLIANCE_READ)
@require_GET
def report(request: HttpRequest) -> HttpResponse:
    """The register as a printable page (the same content as the signed report)."""
    actor = Actor.from_request(request)
    found = measures.register(actor)
    return render(
        request,
        "compliance/report.html",
        signed.report_context(found, found.generated_at, str(request.user), ""),
    )


def _measure_page(
    request: HttpRequest, measure: str, status: int = 200, **forms_given: Any
) -> HttpResponse:
    actor = Actor.from_request(request)
    detail = measures.measure_detail(actor, measure)
    context: dict[str, Any] = {"detail": detail, "row": detail.row}
    if actor.may(Permission.COMPLIANCE_MANAGE):
        current = detail.history[0] if detail.history else None
        owners = declarations.owner_choices(actor)
        context.update(
            can_manage=True,
            declaration_form=forms_given.get("declaration_form")
            or forms.DeclarationForm(
                owners=owners,
                initial={
                    "choice": current.choice if current else "adopted",
                    "justification": current.justification if current else "",
                    "owner": current.owner_id if current else request.user.pk,
                    "next_review": declarations.default_next_review(),
                },
            ),
            review_form=forms.ReviewForm(
                initial={"next_review": declarations.default_next_review()}
            ),
            document_form=forms_given.get("document_form")
            or forms.DocumentForm(records=detail.row.id == documents.RECORDS_MEASURE),
        )
    return render(request, "compliance/measure.html", context, status=status)


@requires(Permission.COMPLIANCE_READ)
@require_GET
def measure(request: HttpRequest, measure: str) -> HttpResponse:
    return _measure_page(request, measure)


@requires(Permission.COMPLIANCE_MANAGE)
@require_POST
def declare(request: HttpRequest, measure: str) -> HttpResponse:
    actor = Actor.from_request(request)
    form = forms.DeclarationForm(request.POST, owners=declarations.owner_choices(actor))
    if form.is_valid():
        try:
            declarations.declare(
                actor,
                measure,
                choice=form.cleaned_data["choice"],
                justification=form.cleaned_data["justification"],
                owner_id=form.cleaned_data["owner"],
                next_review=form.cleaned_data["next_review"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Declaration saved; the earlier version is kept."))
            return redirect("compliance:measure", measure=measure.lower())
    return _measure_page(request, measure, status=400, declaration_form=form)


@requires(Permission.COMPLIANCE_MANAGE)
@require_POST
def review(request: HttpRequest, measure: str) -> HttpResponse:
    form = forms.ReviewForm(request.POST)
    if form.is_valid():
        try:
            declarations.confirm_review(
                Actor.from_request(request), measure, next_review=form.cleaned_data["next_review"]
            )
        except ValidationError as exc:
            _fail(request, exc)
        else:
            messages.success(request, _("Review recorded."))
    else:
        messages.error(request, _("Give the date of the next review."))
    return redirect("compliance:measure", measure=measure.lower())


@requires(Permission.COMPLIANCE_MANAGE)
@require_POST
def withdraw(request: HttpRequest, measure: str) -> HttpResponse:
    """The practice withdraws its declaration (a new version; the earlier ones are kept)."""
    try:
        declarations.withdraw(Actor.from_request(request), measure)
    except ValidationError as exc:
        _fail(request, exc)
    else:
        messages.success(request, _("Declaration withdrawn; the earlier versions are kept."))
    return redirect("compliance:measure", measure=measure.lower())


@requires(Permission.COMPLIANCE_MANAGE)
@csrf_exempt  # checked below, once the upload handlers are set (csrf_protect)
@require_POST
def attach(request: HttpRequest, measure: str) -> HttpResponse:
    # E10: the document stays in memory until it is sealed, never in a temporary file.
    request.upload_handlers = [SealedUploadHandler(request)]
    if int(request.META.get("CONTENT_LENGTH") or 0) > documents.DOCUMENT_MAX_BYTES + 65536:
        messages.error(request, _("The file is larger than 10 MB."))
        return redirect("compliance:measure", measure=measure.lower())
    return _attach(request, measure)


@csrf_protect
def _attach(request: HttpRequest, measure: str) -> HttpResponse:
    records = measure.upper() == documents.RECORDS_MEASURE
    form = forms.DocumentForm(request.POST, request.FILES, records=records)
    if form.is_valid():
        upload = form.cleaned_data["document"]
        try:
            documents.attach_document(
                Actor.from_request(request),
                measure,
                name=upload.name,
                content_type=upload.content_type or "",
                data=upload.read(),
                # On L3: what the document records (an audit or a visit), by whom, when.
                **{k: v for k, v in form.cleaned_data.items() if k in forms.RECORD_FIELDS},
            )
        except ValidationError as exc:
            form.add_error("document", exc)
        else:
            messages.success(request, _("Document attached, encrypted."))
            return redirect("compliance:measure", measure=measure.lower())
    return _measure_page(request, measure, status=400, document_form=form)


@requires(Permission.COMPLIANCE_READ)
@require_http_methods(["GET", "POST"])
def document(request: HttpRequest, uid: UUID) -> HttpResponse:
    """An evidence document (a contract, an audit report: it may name anyone), encrypted by
    default (E7, M3): GET asks how it leaves, POST hands it out, its read event naming how."""

    def make(delivery: Delivery) -> Sealed:
        found = documents.open_document(Actor.from_request(request), uid, delivery=delivery)
        return delivery.seal(found.data, found.name, found.content_type)

    return hand_out(
        request, make, title=_("Download a document"),
        about=_("The document may name people: it leaves encrypted unless you say why not."),
        back=reverse("compliance:register"),
    )  # fmt: skip


# --- the yearly access review (C2) -----------------------------------------------------------


@requires(Permission.COMPLIANCE_MANAGE)
@require_http_methods(["GET", "POST"])
def access_review(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    form = forms.AccessReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            reviews.record_access_review(actor, form.cleaned_data["note"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Access review recorded."))
            return redirect("compliance:access_review")
    return render(
        request,
        "compliance/access_review.html",
        {"overview": reviews.access_review_overview(actor), "form": form},
    )


# --- signed reports (L3) -------------------------------------------------------------------


@requires(Permission.COMPLIANCE_READ)
@require_http_methods(["GET", "POST"])
def reports(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    if request.method == "POST":
        issued = signed.issue_report(actor)
        messages.success(request, _("Signed report issued."))
        return redirect(f"{request.path}#report-{issued.uid}")
    return render(request, "compliance/reports.html", {"reports": signed.list_reports(actor)})


@requires(Permission.COMPLIANCE_READ)
@require_http_methods(["GET", "POST"])
def report_file(request: HttpRequest, uid: UUID, part: str) -> HttpResponse:
    """A signature leaves as it is; the report itself (it names staff) encrypted by default
    (E7, M3): GET asks how it leaves, POST hands it out, an export event naming how."""
    actor = Actor.from_request(request)
    if part in signed.SIGNATURES or part not in signed.REPORT_PARTS:
        if request.method != "GET":
            return HttpResponseNotAllowed(["GET"])
        found = signed.report_file(actor, uid, part)
        return _attachment(found.data, found.content_type, found.filename)

    def make(delivery: Delivery) -> Sealed:
        found = signed.report_file(actor, uid, part, delivery=delivery)
        return delivery.seal(found.data, found.filename, found.content_type)

    return hand_out(
        request, make, title=_("Download the signed report"),
        about=_("The report names people: it leaves encrypted unless you say why not."),
        back=reverse("compliance:reports"),
    )  # fmt: skip


@requires(Permission.COMPLIANCE_READ)
@require_GET
def public_key(request: HttpRequest) -> HttpResponse:
    pem = signed.report_public_key(Actor.from_request(request))
    return _attachment(pem, "application/x-pem-file", "secretum-report-signing.pub.pem")


# --- printed patient documents (P1, C3) --------------------------------------------------------


@requires(Permission.PATIENT_IDENTITY_READ)
@require_http_methods(["GET", "POST"])
def print_patient(request: HttpRequest, patient: UUID) -> HttpResponse:
    """A summary to print, encrypted by default (E7, M3): GET asks how it leaves, POST makes it,
    its print event naming the encryption (a print stays a print, P1)."""

    def make(delivery: Delivery) -> Sealed:
        printed = printing.print_patient_summary(
            Actor.from_request(request), patient, delivery=delivery
        )
        return delivery.seal(printed.data, printed.filename, PDF_TYPE)

    return hand_out(
        request, make, title=_("Print a summary"),
        about=_("The summary is a PDF to print: it leaves encrypted unless you say why not."),
        back=reverse("patients:detail", args=[patient]),
    )  # fmt: skip


@requires(Permission.CLINICAL_SIGN)
@require_POST
def print_prescription(request: HttpRequest, medication: UUID) -> HttpResponse:
    """A medication printed as a prescription (issue 15); without a RIZIV/INAMI number, the
    prescriber's page with the reason."""
    try:
        printed = printing.print_prescription(
            Actor.from_request(request), medication, with_niss=request.POST.get("niss") == "on"
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("clinical:prescriber")
    response = HttpResponse(printed.data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{printed.filename}"'
    return response
