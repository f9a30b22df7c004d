"""The patient's copy (GDPR art. 15/20; L1, E7, M3): from the chart, a practitioner in care
makes the record's two files in one go: a PDF the patient reads and the FHIR R4 Bundle other
software reads, both sealed by the one delivery chosen (``exchange.delivery``: a passphrase, an
age key, or in clear with a reason, as the command line offers). Under a passphrase, the same
passphrase opens both (the PDF's own AES-256, the Bundle's age file): made for this copy, shown
on the page that answers the POST and nowhere else, never stored, never in the audit log. The
files come with that page (``data:`` links, ``Cache-Control: no-store``), so no copy waits on the
server and nothing links the files to a second request."""

from __future__ import annotations

import base64
from uuid import UUID

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.crypto.sealing import Sealed
from secretum.exchange import services
from secretum.exchange.delivery import DeliveryForm
from secretum.patients import services as patients


class CopyLanguageForm(forms.Form):
    """The PDF's language: the patient's, which the practitioner knows (Secretum does not record
    it), by default the page's. The FHIR file has none: its codes are its words."""

    language = forms.ChoiceField(
        label=_("Language of the PDF"), choices=settings.LANGUAGES, required=False
    )

    def chosen(self) -> str:
        page = (get_language() or settings.LANGUAGE_CODE)[:2]
        return str(self.cleaned_data.get("language") or page)


def _link(sealed: Sealed) -> dict[str, str]:
    """A file carried by the answer itself: its name and its ``data:`` address."""
    data = base64.b64encode(sealed.data).decode()
    return {"filename": sealed.filename, "href": f"data:{sealed.content_type};base64,{data}"}


@requires(Permission.CLINICAL_EXPORT)
@require_http_methods(["GET", "POST"])
def patient_copy(request: HttpRequest, patient: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    posted = request.POST if request.method == "POST" else None
    form = DeliveryForm(posted)
    language = CopyLanguageForm(posted, initial={"language": (get_language() or "")[:2]})
    context: dict[str, object] = {"form": form, "language_form": language}
    if posted is not None and form.is_valid() and language.is_valid():
        copy = services.patient_copy(actor, patient, form.chosen(), language=language.chosen())
        context.update(done=copy, pdf=_link(copy.pdf), fhir=_link(copy.fhir))
    if "done" not in context:
        context["patient"] = patients.access_patient(actor, patient)
    context["patient_uid"] = str(patient)
    response = render(request, "exchange/patient_copy.html", context)
    response["Cache-Control"] = "no-store"  # the passphrase, the files: on this screen only
    return response
