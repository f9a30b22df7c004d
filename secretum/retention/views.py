"""Retention and destruction pages (J2): the manager's list of records due for destruction and
the approval (after re-authentication, ``sudo``), the certificates and their files for a third
party, and the practitioner's form of a patient's erasure request. Every read and write goes
through ``retention.services``."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.accounts.web import sudo
from secretum.crypto.sealing import Delivery, Sealed
from secretum.exchange.delivery import hand_out
from secretum.retention import services
from secretum.retention.forms import DestroyForm, ErasureRequestForm


@requires(Permission.RETENTION_READ)
@require_GET
def due(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    found = services.due_records(actor)
    return render(
        request,
        "retention/due.html",
        {
            "due": found,
            "form": DestroyForm(),
            "can_destroy": actor.may(Permission.RECORDS_DESTROY),
            "bases": services.BASIS_LABELS,
        },
    )


@requires(Permission.RECORDS_DESTROY)
@require_POST
@sudo
def destroy(request: HttpRequest, uid: UUID) -> HttpResponse:
    if not DestroyForm(request.POST).is_valid():
        messages.error(request, _("Tick the box to approve the destruction."))
        return redirect("retention:due")
    try:
        certificate = services.destroy_record(Actor.from_request(request), uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("retention:due")
    messages.success(request, _("The record is destroyed; its certificate is signed."))
    return redirect("retention:certificate", uid=certificate.uid)


@requires(Permission.ERASURE_REQUEST)
@require_http_methods(["GET", "POST"])
def erasure(request: HttpRequest, uid: UUID) -> HttpResponse:
    form = ErasureRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.record_erasure_request(
                Actor.from_request(request), uid, form.cleaned_data["basis"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                _("The erasure request is recorded. A practice manager decides."),
            )
            return redirect("patients:detail", uid=uid)
    status = 400 if form.is_bound else 200
    return render(request, "retention/erasure.html", {"form": form, "uid": uid}, status=status)


@requires(Permission.RETENTION_READ)
@require_GET
def certificate_list(request: HttpRequest) -> HttpResponse:
    found = services.certificates_list(Actor.from_request(request))
    return render(request, "retention/certificates.html", {"certificates": found})


@requires(Permission.RETENTION_READ)
@require_GET
def certificate(request: HttpRequest, uid: UUID) -> HttpResponse:
    found, verification, readable = services.access_certificate(Actor.from_request(request), uid)
    return render(
        request,
        "retention/certificate.html",
        {"certificate": found, "verification": verification, "readable": readable},
    )


def _file(body: str, name: str) -> HttpResponse:
    response = HttpResponse(body.encode(), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@requires(Permission.RETENTION_READ)
@require_http_methods(["GET", "POST"])
def certificate_text(request: HttpRequest, uid: UUID) -> HttpResponse:
    """The certificate's text, encrypted by default (E7, M3: it names staff and the destroyed
    record's reference): GET asks how it leaves, POST hands it out, its read event naming how.
    Its signature (below) holds nothing personal: it leaves in clear."""

    def make(delivery: Delivery) -> Sealed:
        found, _verification, _readable = services.access_certificate(
            Actor.from_request(request), uid, delivery=delivery
        )
        return delivery.seal(
            found.text.encode(), f"destruction-{found.uid}.txt", "text/plain; charset=utf-8"
        )

    return hand_out(
        request, make, title=_("Download the certificate"),
        about=_("The certificate names people: it leaves encrypted unless you say why not."),
        back=reverse("retention:certificate", args=[uid]),
    )  # fmt: skip


@requires(Permission.RETENTION_READ)
@require_GET
def certificate_sig(request: HttpRequest, uid: UUID) -> HttpResponse:
    found, _verification, _readable = services.access_certificate(Actor.from_request(request), uid)
    return _file(found.signature, f"destruction-{found.uid}.txt.sig")
