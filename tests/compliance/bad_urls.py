"""A URL configuration with the two mistakes G1 and H2 look for: a view that declares no
permission, and a route that takes a plain integer identifier."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from secretum.access.decorators import requires
from secretum.access.policy import Permission


def undeclared(request: HttpRequest) -> HttpResponse:
    return HttpResponse("nothing")


@requires(Permission.SESSION_OWN)
def by_number(request: HttpRequest, pk: int) -> HttpResponse:
    return HttpResponse("nothing")


urlpatterns = [
    path("undeclared/", undeclared),
    path("record/<int:pk>/", by_number),
]
