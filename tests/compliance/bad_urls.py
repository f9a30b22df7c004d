"""A URL configuration with the mistakes G1 and H2 look for: a view that declares no
permission, and routes that take a plain identifier (a converter, or a regular expression)."""

from django.http import HttpRequest, HttpResponse
from django.urls import path, re_path

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
    re_path(r"^legacy/(?P<pk>[0-9]+)/$", by_number),
]
