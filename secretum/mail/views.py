"""The directory of correspondents and the confirm-and-send page (M1, M3, M4). Every read and
write goes through mail.services. The passphrase of a message is on the page that answers the
sending POST and nowhere else (``Cache-Control: no-store``)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.mail import keys, services
from secretum.mail.forms import ChooseForm, CodeForm, ConfirmForm, CorrespondentForm
from secretum.mail.transport import TransportRefused


@requires(Permission.CORRESPONDENTS_MANAGE)
@require_http_methods(["GET", "POST"])
def correspondents(request: HttpRequest) -> HttpResponse:
    actor = Actor.from_request(request)
    form = CorrespondentForm(request.POST if request.method == "POST" else None)
    if form.is_bound and form.is_valid():
        try:
            row = services.add_correspondent(actor, **form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("Correspondent added: verify their address now."))
            return redirect("mail:verify", uid=row.uid)
    return render(
        request,
        "mail/correspondents.html",
        {"form": form, "rows": services.directory(actor)},
        status=400 if form.is_bound else 200,
    )


@requires(Permission.CORRESPONDENTS_MANAGE)
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest, uid: UUID) -> HttpResponse:
    """M1: send a one-time code to the address, then type back the code the correspondent got."""
    actor = Actor.from_request(request)
    action = request.POST.get("action") if request.method == "POST" else None
    form = CodeForm(request.POST if action == "confirm" else None)
    error = ""
    try:
        if action == "send":
            services.send_verification(actor, uid)
            messages.success(request, _("A code was sent to this address."))
            return redirect("mail:verify", uid=uid)
        if form.is_bound and form.is_valid():
            services.confirm_verification(actor, uid, form.cleaned_data["code"])
            messages.success(request, _("The address is verified."))
            return redirect("mail:correspondents")
    except ValidationError as exc:
        error = " ".join(exc.messages)
    except TransportRefused as exc:
        error = str(exc)
    row = services.correspondent(actor, uid)
    cert = keys.load_certificate(row.certificate) if row.certificate else None
    return render(
        request,
        "mail/verify.html",
        {
            "form": form, "row": row, "cert": cert, "error": error,
            "fingerprint": keys.fingerprint(cert) if cert else "",
        },
        status=400 if action else 200,
    )  # fmt: skip


@requires(Permission.MAIL_SEND)
@require_http_methods(["GET", "POST"])
def send_document(request: HttpRequest, uid: UUID) -> HttpResponse:
    """A patient's document (D4), sent by mail."""
    return _sending(request, "document", uid)


@requires(Permission.MAIL_SEND)
@require_http_methods(["GET", "POST"])
def send_letter(request: HttpRequest, uid: UUID) -> HttpResponse:
    """A finalised letter or certificate (issue 15; a certificate as the employer's copy)."""
    return _sending(request, "letter", uid)


def _sending(request: HttpRequest, source: str, uid: UUID) -> HttpResponse:
    """Choose the correspondent, see and confirm recipient, address, patient, file and how it is
    encrypted (M1), send (M3, M4)."""
    actor = Actor.from_request(request)
    step = request.POST.get("step", "")
    context: dict[str, object] = {"uid": uid, "again": f"mail:send_{source}"}
    if step == "send":
        confirm = ConfirmForm(request.POST)
        if confirm.is_valid():
            chosen = confirm.cleaned_data["correspondent"]
            try:
                sent = services.send(actor, source, uid, chosen)
            except (ValidationError, TransportRefused) as exc:
                context["error"] = (
                    " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                )
            else:
                response = render(request, "mail/sent.html", {"sent": sent})
                response["Cache-Control"] = "no-store"  # the passphrase: on this screen only
                return response
        return _review(request, actor, source, uid, request.POST.get("correspondent", ""), confirm,
                       context, status=400)  # fmt: skip
    choices = services.directory(actor, sending=True)
    choose = ChooseForm(request.POST if step == "review" else None, choices=choices)
    if step == "review" and choose.is_valid():
        chosen = choose.cleaned_data["correspondent"]
        confirm = ConfirmForm(initial={"correspondent": chosen})
        return _review(request, actor, source, uid, chosen, confirm, context)
    context.update(form=choose, choices=choices)
    return render(request, "mail/choose.html", context, status=400 if choose.is_bound else 200)


def _review(
    request: HttpRequest,
    actor: Actor,
    source: str,
    uid: UUID,
    chosen: str,
    form: ConfirmForm,
    context: dict[str, object],
    *,
    status: int = 200,
) -> HttpResponse:
    try:
        context["review"] = services.review_sending(actor, source, uid, chosen)
    except ValidationError as exc:
        context.update(
            error=" ".join(exc.messages),
            form=ChooseForm(choices=services.directory(actor, sending=True)),
        )
        return render(request, "mail/choose.html", context, status=400)
    context["form"] = form
    return render(request, "mail/confirm.html", context, status=status)
