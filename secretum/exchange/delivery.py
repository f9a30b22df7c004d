"""The one way a file leaves Secretum's pages (E7, M3, issue 14): the user chooses how, the file
comes with the answer, and no copy waits on the server.

A view that hands out a file shows ``DeliveryForm`` (the partial ``exchange/delivery_fields.html``
inside its own form, or the page ``exchange/deliver.html``), takes ``form.chosen()`` to the
service that makes the file (so that service's one audit event names the encryption, the
recipient's key or the plain copy's reason, ``Delivery.audit_detail``), then answers with
``deliver``. Under a passphrase, the answer is a page that shows the passphrase once and carries
the file as a ``data:`` link, ``Cache-Control: no-store``: replaying the request makes another
file under another passphrase (and another event), and nothing on the server links the file to
a second request. For a recipient's key or in clear, the answer is the file itself.

A download page is ``hand_out(request, make, title=..., about=..., back=...)``: ``make`` takes the
delivery chosen to the service and returns ``delivery.seal(data, filename, content_type)``; a PDF
made with ``lib.pdf.Document``
gets the PDF's own encryption by ``delivery.protect_pdf(document)`` before its output, else it
leaves under a passphrase as an age file.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext_lazy as _

from secretum.crypto.sealing import (
    REASON_MAX,
    Delivery,
    Mode,
    Sealed,
    checked_reason,
    recipient_of,
)

CHOICES = [
    (Mode.PASSPHRASE.value, _("Encrypted under a passphrase shown once (recommended)")),
    (Mode.RECIPIENT.value, _("Encrypted for the recipient's age public key")),
    (Mode.PLAIN.value, _("In clear, for a reason recorded in the audit log")),
]


class DeliveryForm(forms.Form):
    """How the file leaves (E7, M3): by default under a passphrase shown once."""

    delivery = forms.ChoiceField(
        label=_("How the file leaves Secretum"),
        choices=CHOICES,
        initial=Mode.PASSPHRASE.value,
        widget=forms.RadioSelect,
        required=False,  # none said: the default, a passphrase
    )
    delivery_key = forms.CharField(
        label=_("The recipient's age public key"),
        help_text=_("Only for a file encrypted for a key: it starts with “age1”."),
        max_length=100,
        required=False,
    )
    delivery_reason = forms.CharField(
        label=_("Why in clear"),
        help_text=_("Only for a file in clear: 10 to 200 characters, kept in the audit log."),
        max_length=REASON_MAX + 50,  # spaces are squeezed before the bounds are checked
        required=False,
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        data["delivery"] = data.get("delivery") or Mode.PASSPHRASE.value
        mode, key, reason = (
            data.get("delivery"), data.get("delivery_key", ""), data.get("delivery_reason", "")
        )  # fmt: skip
        if mode == Mode.RECIPIENT and not key:
            self.add_error("delivery_key", _("Give the recipient's age public key."))
        elif mode == Mode.RECIPIENT:
            self._check("delivery_key", recipient_of, key)
        elif mode == Mode.PLAIN:
            self._check("delivery_reason", checked_reason, reason)
        return data

    def _check(self, field: str, check: Callable[[str], object], value: str) -> None:
        try:
            check(value)
        except forms.ValidationError as exc:
            self.add_error(field, exc)

    def chosen(self) -> Delivery:
        """The delivery chosen; under a passphrase, a new one each time it is called."""
        mode = self.cleaned_data["delivery"]
        if mode == Mode.RECIPIENT:
            return Delivery.choose(recipient=self.cleaned_data["delivery_key"])
        if mode == Mode.PLAIN:
            return Delivery.choose(plain_reason=self.cleaned_data["delivery_reason"])
        return Delivery.choose()


def deliver(request: HttpRequest, delivery: Delivery, sealed: Sealed, *, back: str) -> HttpResponse:
    """The answer that carries the file: the passphrase page, or the file itself."""
    if delivery.mode is Mode.PASSPHRASE:
        data = base64.b64encode(sealed.data).decode()
        response = render(
            request,
            "exchange/delivered.html",
            {
                "filename": sealed.filename,
                "href": f"data:{sealed.content_type};base64,{data}",
                "passphrase": delivery.passphrase,
                "pdf": not sealed.filename.endswith(".age"),
                "back": back,
            },
        )
    else:
        response = HttpResponse(sealed.data, content_type=sealed.content_type)
        # A name as the user wrote it (a document's title): quoted or encoded (RFC 6266), never
        # a header of its own; the browser keeps the type it is told (nosniff).
        response["Content-Disposition"] = content_disposition_header(True, sealed.filename) or ""
        response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store"  # the passphrase, the file: on this answer only
    return response


def choice_page(
    request: HttpRequest,
    form: DeliveryForm,
    *,
    title: str,
    about: str,
    back: str,
) -> HttpResponse:
    """The page that asks how a file leaves, before it is made (400 when what was posted is
    refused: its errors are on the page)."""
    return render(
        request,
        "exchange/deliver.html",
        {"form": form, "title": title, "about": about, "back": back},
        status=400 if form.is_bound else 200,
    )


def hand_out(
    request: HttpRequest,
    make: Callable[[Delivery], Sealed],
    *,
    title: str,
    about: str,
    back: str,
) -> HttpResponse:
    """A download page whole: a GET, or a POST whose choice is refused, asks how the file
    leaves (``choice_page``); a valid POST makes the file with the delivery chosen (``make``:
    the service's call, whose one audit event names how, then ``delivery.seal``) and answers
    with it (``deliver``)."""
    form = DeliveryForm(request.POST if request.method == "POST" else None)
    if not form.is_valid():
        return choice_page(request, form, title=title, about=about, back=back)
    delivery = form.chosen()
    return deliver(request, delivery, make(delivery), back=back)
