"""The patient's copy (GDPR art. 15/20; L1, E7, M3): from the chart, a practitioner in care
downloads the record as FHIR R4, encrypted with age, the choice of every file that leaves
(``exchange.delivery``: a passphrase, an age key, or in clear with a reason, as the command line
offers). The passphrase is made for this copy, shown on the page that answers the POST and
nowhere else: never stored, never in the audit log. The file comes with that page (a data: link
of a few kilobytes), so no copy waits on the server and nothing links the file to a second
request."""

from __future__ import annotations

import base64
import io
from uuid import UUID

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.crypto.sealing import Mode
from secretum.exchange import services
from secretum.exchange.delivery import DeliveryForm
from secretum.patients import services as patients


@requires(Permission.CLINICAL_EXPORT)
@require_http_methods(["GET", "POST"])
def patient_copy(request: HttpRequest, patient: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    form = DeliveryForm(request.POST if request.method == "POST" else None)
    context: dict[str, object] = {"form": form}
    if request.method == "POST" and form.is_valid():
        out = io.BytesIO()  # one patient's bundle: kilobytes, bounded by the chart's limit
        mode, key = form.cleaned_data["delivery"], form.cleaned_data["delivery_key"]
        plain = form.cleaned_data["delivery_reason"] if mode == Mode.PLAIN else None
        name = f"patient-{timezone.localdate():%Y%m%d}-{str(patient)[:8]}.fhir.json"
        name += "" if plain is not None else ".age"
        try:
            done = services.export_patient(
                actor, patient, out, recipient=key if mode == Mode.RECIPIENT else "",
                plain_reason=plain, detail={"file": name, "for": "patient's copy"},
            )  # fmt: skip
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            data = base64.b64encode(out.getvalue()).decode()
            context.update(
                done=done, filename=name, href=f"data:application/octet-stream;base64,{data}"
            )
    if "done" not in context:
        context["patient"] = patients.access_patient(actor, patient)
    context["patient_uid"] = str(patient)
    response = render(request, "exchange/patient_copy.html", context)
    response["Cache-Control"] = "no-store"  # the passphrase: on this screen only
    return response
