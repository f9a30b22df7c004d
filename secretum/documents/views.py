"""Document pages (D4, E2). Every read and write goes through documents.services."""

from __future__ import annotations

from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.crypto.sealing import Delivery, Sealed
from secretum.documents import services, tray, types
from secretum.documents.forms import DocumentForm, FileScanForm
from secretum.documents.uploads import MemoryOnlyUploadHandler
from secretum.exchange.delivery import hand_out
from secretum.patients import services as patients

# The served file is a document of its own, never part of Secretum's pages: no script, no form,
# no plugin of its own origin (sandbox), nothing fetched but itself (D4).
DOCUMENT_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"


def _too_large() -> str:
    return _("The file is larger than %(size)s.") % {
        "size": filesizeformat(settings.SECRETUM_DOCUMENT_MAX_BYTES)
    }


@requires(Permission.CLINICAL_WRITE)
@csrf_exempt  # checked below, once the upload handlers are set (csrf_protect)
@require_http_methods(["GET", "POST"])
def attach(request: HttpRequest, patient: UUID) -> HttpResponse:
    # D4, E10: the document stays in memory until it is sealed, never in a temporary file.
    handler = MemoryOnlyUploadHandler(request)
    request.upload_handlers = [handler]
    if (
        request.method == "POST"
        and int(request.META.get("CONTENT_LENGTH") or 0)
        > settings.SECRETUM_DOCUMENT_MAX_BYTES + 65536
    ):  # refused before reading the body
        messages.error(request, _too_large())
        return redirect("documents:attach", patient=patient)
    return _attach(request, patient, handler)


@csrf_protect
def _attach(request: HttpRequest, patient: UUID, handler: MemoryOnlyUploadHandler) -> HttpResponse:
    actor = Actor.from_request(request)
    posted = request.method == "POST"
    form = DocumentForm(request.POST, request.FILES) if posted else DocumentForm()
    status = 200
    if posted:
        if form.is_valid():
            upload = form.cleaned_data["document"]
            try:
                attached = services.attach_document(
                    actor, patient, name=upload.name, data=upload.read()
                )
            except ValidationError as exc:
                form.add_error("document", exc)
            else:
                if not attached.quarantined:
                    messages.success(request, _("Document attached, scanned and encrypted."))
                    return redirect("patients:detail", uid=patient)
                form.add_error(
                    "document",
                    _(
                        "The antivirus found %(name)s in this file: it was refused and "
                        "quarantined, and the practice's auditor has been alerted."
                    )
                    % {"name": attached.signature},
                )
        elif handler.too_large:
            form.errors["document"] = form.error_class([_too_large()])
        status = 400
    identity = patients.access_patient(actor, patient)
    return render(
        request,
        "documents/attach.html",
        {
            "form": form,
            "patient": identity,
            "max_size": settings.SECRETUM_DOCUMENT_MAX_BYTES,
        },
        status=status,
    )


def _sandboxed(found: services.OpenedDocument) -> HttpResponse:
    """A document in the browser's own viewer, sandboxed, never sniffed. Only a type the viewer
    shows safely comes here (``show`` sends any other to the download's question); a type outside
    them would still be saved, not shown."""
    response = HttpResponse(found.data, content_type=found.content_type)
    attached = found.content_type not in types.ALLOWED
    response["Content-Disposition"] = content_disposition_header(attached, found.filename) or ""
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = DOCUMENT_CSP
    return response


@requires(Permission.CLINICAL_READ)
@require_GET
def show(request: HttpRequest, uid: UUID) -> HttpResponse:
    """The document in the browser's own viewer (PDF, images), sandboxed. One the browser must
    not show (a message kept as received, XML) is a file: it leaves as every download does,
    encrypted by default (E7), so "show" asks how, as the download does."""
    if not services.shown_inline(uid):
        return redirect("documents:download", uid)
    return _sandboxed(services.open_document(Actor.from_request(request), uid))


@requires(Permission.CLINICAL_READ)
@require_http_methods(["GET", "POST"])
def download(request: HttpRequest, uid: UUID) -> HttpResponse:
    """The document as a file, encrypted by default (E7, M3: it is medical): GET asks how it
    leaves, POST hands it out, one export event naming how."""

    def make(delivery: Delivery) -> Sealed:
        found = services.open_document(
            Actor.from_request(request), uid, download=True, delivery=delivery
        )
        return delivery.seal(found.data, found.filename, found.content_type)

    return hand_out(
        request, make, title=_("Download a document"),
        about=_("The document is medical: it leaves encrypted unless you say why not."),
        back=reverse("home"),
    )  # fmt: skip


# The unfiled tray (D4): the intake's scans that named no patient, filed here by a clinician.


@requires(Permission.CLINICAL_READ)
@require_GET
def unfiled(request: HttpRequest) -> HttpResponse:
    waiting, quarantined = tray.unfiled_documents(Actor.from_request(request))
    return render(
        request, "documents/unfiled.html", {"waiting": waiting, "quarantined": quarantined}
    )


@requires(Permission.CLINICAL_READ)
@require_GET
def unfiled_show(request: HttpRequest, uid: UUID) -> HttpResponse:
    """A scan of the tray in the browser's own viewer, sandboxed like a patient's documents."""
    return _sandboxed(tray.open_unfiled(Actor.from_request(request), uid))


@requires(Permission.CLINICAL_WRITE)
@require_http_methods(["GET", "POST"])
def unfiled_file(request: HttpRequest, uid: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    form = FileScanForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            patient = tray.resolve_patient(actor, form.cleaned_data["patient"])
            tray.file_unfiled(actor, uid, patient)
        except ValidationError as exc:
            form.add_error("patient", exc)
        else:
            messages.success(request, _("The scan was filed to this patient's record."))
            return redirect("patients:detail", uid=patient)
    scan = tray.unfiled_document(actor, uid)
    return render(
        request, "documents/unfiled_file.html", {"form": form, "scan": scan},
        status=400 if form.is_bound else 200,
    )  # fmt: skip
