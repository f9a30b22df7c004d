from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from secretum.access.guard import ArchivedRecord, NoCareRelationship, ReadOnlyCopy


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = _("Your role does not give access to this page or this data.")
    if isinstance(exception, NoCareRelationship):  # C1: the patient's page offers the ways in
        message = _(
            "You have no care relationship with this patient: their medical record stays "
            "closed to you. The patient's page offers the ways in."
        )
    if isinstance(exception, ArchivedRecord):  # J1
        message = _(
            "This patient's record is archived: a practitioner opens it with a reason from the "
            "patient's page; nothing can be added to it until it is restored to active."
        )
    if isinstance(exception, ReadOnlyCopy):  # I5: a continuity copy changes nothing
        message = _(
            "This is a read-only copy of a backup, served while the practice's server cannot be "
            "reached: nothing can be changed here. Write it down and enter it on the server once "
            "it is back."
        )
    return render(request, "core/error.html", {"status": 403, "message": message}, status=403)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {
            "status": 404,
            "message": _("This page does not exist, or the record it named is no longer here."),
        },
        status=404,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "core/error.html",
        {
            "status": 500,
            "message": _(
                "Something went wrong on the server; nothing was saved. The error is logged."
            ),
        },
        status=500,
    )
