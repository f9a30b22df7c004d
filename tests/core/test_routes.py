"""``{% url %}`` with each route without arguments reversed once per process (issue 17,
``secretum.core.templatetags.routes``): the address Django's tag makes, whatever the script
prefix, the language or the application, and Django's tag unchanged for everything else."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.template import Context, Engine, Template
from django.template.defaulttags import URLNode
from django.urls import NoReverseMatch, reverse, set_script_prefix
from django.utils import translation

from secretum.core.templatetags import routes

ROUTES = ["home", "accounts:logout", "accounts:ping", "set_language", "patients:search"]


def _django(text: str, **context: Any) -> str:
    """The same text rendered by Django's own tags only."""
    return Engine(builtins=[]).from_string(text).render(Context(context))


@pytest.mark.parametrize("prefix", ["/", "/cabinet/", "/a&b/"])
@pytest.mark.parametrize("language", ["fr", "nl", "en"])
def test_the_address_django_makes(prefix: str, language: str) -> None:
    set_script_prefix(prefix)
    try:
        with translation.override(language):
            for name in ROUTES:
                text = f"{{% url '{name}' %}}"
                for _ in range(2):  # reversed, then given again
                    ours = Template(text).render(Context({}))
                    assert ours == _django(text) == str(reverse(name)).replace("&", "&amp;")
                    assert ours.startswith(prefix.replace("&", "&amp;"))
    finally:
        set_script_prefix("/")


def test_the_builtin_replaces_djangos_tag() -> None:
    """Every template's ``{% url %}`` is this one, without a ``{% load %}``."""
    node = Template("{% url 'home' %}").nodelist[0]
    assert isinstance(node, routes.RouteNode) and isinstance(node, URLNode)


def test_arguments_and_names_are_djangos_tag() -> None:
    """With arguments, or stored ``as`` a name, nothing is kept: Django's tag makes each."""
    uid = "5e0f7a4e-1c38-4a8e-9a44-6b8f3f0e2d11"
    before = dict(routes._KEPT)
    text = "{% url 'patients:detail' uid %}|{% url 'home' as there %}[{{ there }}]"
    assert Template(text).render(Context({"uid": uid})) == _django(text, uid=uid)
    assert f"/patients/{uid}/" in Template(text).render(Context({"uid": uid}))
    assert not [key for key in routes._KEPT if key not in before and key[0] != "home"]


def test_an_unknown_route_fails_as_djangos_and_is_not_kept() -> None:
    for _ in range(2):
        with pytest.raises(NoReverseMatch):
            Template("{% url 'no-such-route' %}").render(Context({}))
    assert not [key for key in routes._KEPT if key[0] == "no-such-route"]
    # As Django's: "as" a name, an unknown route leaves the name empty.
    text = "{% url 'no-such-route' as there %}[{{ there }}]"
    assert Template(text).render(Context({})) == "[]" == _django(text)


def test_the_application_in_use_is_part_of_the_key() -> None:
    """The application namespace of the page (``request.current_app``, else the resolved
    route's) is part of what an address is kept under, as it is part of what Django reverses."""
    for request, app in (
        (SimpleNamespace(current_app="patients"), "patients"),
        (SimpleNamespace(resolver_match=SimpleNamespace(namespace="clinical")), "clinical"),
        (SimpleNamespace(), None),
        (None, None),
    ):
        context = Context({})
        context.request = request  # type: ignore[attr-defined]
        assert Template("{% url 'patients:search' %}").render(context) == _django(
            "{% url 'patients:search' %}"
        )
        assert ("patients:search", (), app, "/", None) in routes._KEPT


def test_the_kept_addresses_are_bounded() -> None:
    kept = dict(routes._KEPT)
    try:
        routes._KEPT.clear()
        routes._KEPT.update(
            {(str(n), (), None, "/", None): "/x/" for n in range(routes._KEPT.most)}
        )
        assert routes.reversed_once("home") == reverse("home")
        assert len(routes._KEPT) == 1
    finally:
        routes._KEPT.clear()
        routes._KEPT.update(kept)
