"""Letter and certificate pages (issue 15). Every read and write goes through letters.services;
none wraps them in a transaction of its own (a failure's event must not roll back with it)."""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from secretum.access.actor import Actor
from secretum.access.decorators import requires
from secretum.access.policy import Permission
from secretum.letters import kinds, pdf, services
from secretum.letters.forms import LetterForm, NewLetterForm


@requires(Permission.CLINICAL_READ)
@require_GET
def patient_letters(request: HttpRequest, patient: UUID) -> HttpResponse:
    actor = Actor.from_request(request)
    identity, letters = services.patient_letters(actor, patient)
    language = kinds.language_of(getattr(request.user, "preferred_language", "") or get_language())
    return render(
        request,
        "letters/list.html",
        {
            "patient": identity,
            "letters": letters,
            "form": NewLetterForm(initial={"language": language}),
            "can_write": actor.may(Permission.CLINICAL_WRITE),
            "can_sign": actor.may(Permission.CLINICAL_SIGN),
            "can_send": actor.may(Permission.MAIL_SEND),
        },
    )


@requires(Permission.CLINICAL_WRITE)
@require_POST
def new_letter(request: HttpRequest, patient: UUID) -> HttpResponse:
    form = NewLetterForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a kind of letter and its language."))
        return redirect("letters:list", patient=patient)
    made = services.create_letter(
        Actor.from_request(request),
        patient,
        form.cleaned_data["kind"],
        form.cleaned_data["language"],
    )
    return redirect("letters:letter", uid=made.info.uid)


@requires(Permission.CLINICAL_READ)
@require_http_methods(["GET", "POST"])
def letter(request: HttpRequest, uid: UUID) -> HttpResponse:
    """A letter: its draft's form, or the finalised letter as it is kept."""
    actor = Actor.from_request(request)
    form, status, problem = None, 200, None
    if request.method == "POST":
        # The service checks each field's bounds (N2) and that the letter is still a draft.
        try:
            services.update_letter(actor, uid, request.POST.dict())
        except ValidationError as exc:
            if exc.code == "finalised":  # kept as it is: said on the letter's page
                messages.error(request, " ".join(exc.messages))
                return redirect("letters:letter", uid=uid)
            problem, status = exc, 400
        else:
            messages.success(request, _("Draft saved."))
            return redirect("letters:letter", uid=uid)
    found = services.access_letter(actor, uid)
    if problem is not None:  # a draft's fields out of bounds, or its record altered
        form = LetterForm(found.info.kind, request.POST)
        if form.is_valid():  # else the form says what is out of bounds itself
            form.add_error(None, problem)
    if form is None and found.info.status == "draft":
        form = LetterForm(found.info.kind, initial=found.content)
    labels = {spec.name: spec.label for spec in kinds.FIELDS[found.info.kind]}
    return render(
        request,
        "letters/letter.html",
        {
            "letter": found,
            "form": form,
            "shown": [(labels[k], found.content.get(k, "")) for k in labels],
            "sick_leave": found.info.kind == kinds.SICK_LEAVE,
            "can_write": actor.may(Permission.CLINICAL_WRITE),
            "can_sign": actor.may(Permission.CLINICAL_SIGN),
            "can_send": actor.may(Permission.MAIL_SEND),
        },
        status=status,
    )


@requires(Permission.CLINICAL_SIGN)
@require_POST
def finalise(request: HttpRequest, uid: UUID) -> HttpResponse:
    try:
        services.finalise_letter(Actor.from_request(request), uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Letter finalised: it is kept as it is and can be printed."))
    return redirect("letters:letter", uid=uid)


@requires(Permission.CLINICAL_WRITE)
@require_POST
def correct(request: HttpRequest, uid: UUID) -> HttpResponse:
    try:
        made = services.correct_letter(Actor.from_request(request), uid)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("letters:letter", uid=uid)
    messages.success(request, _("A new version to correct; the finalised letter is kept."))
    return redirect("letters:letter", uid=made.info.uid)


@requires(Permission.CLINICAL_READ)
@require_POST
def print_letter(request: HttpRequest, uid: UUID) -> HttpResponse:
    copy = request.POST.get("copy") or pdf.EMPLOYER
    try:
        printed = services.print_letter(Actor.from_request(request), uid, copy)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("letters:letter", uid=uid)
    response = HttpResponse(printed.data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{printed.filename}"'
    return response
