"""``{% url %}`` as Django's, each route without arguments reversed once per process (issue 17).

Every page's frame links to the same few routes (the home page, the factors, the logout, the
language switch, the idle lock's ping, unlock and draft addresses): Django reverses each at every
page, about 45 µs apiece, 2.3 % of a chart opening (a py-spy profile, bench/README.md). A route's
address follows only from its name, the application namespace in use, the script prefix and the
URLconf: with the same four, the address reversed the first time is given again. A route with
arguments, or ``{% url … as name %}``, is Django's tag unchanged. This library is one of the
template engine's builtins (settings.TEMPLATES), loaded after Django's: it replaces ``url`` in
every template without a ``{% load %}``.

``reversed_once`` serves ``{% uid_url %}`` (``secretum`` tags) too: a route's address with a
stand-in uid, made once, each page's uid put in its place there.
"""

from __future__ import annotations

from django import template
from django.template import defaulttags
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

from secretum.lib.kept import Kept

register = template.Library()

# (name, arguments, application, script prefix, URLconf) → the address. The routes' names are a
# few hundred; the bound only keeps a mistake from growing it for ever.
_KEPT = Kept(most=1024)


def reversed_once(name: str, args: tuple[str, ...] = (), current_app: str | None = None) -> str:
    """``reverse(name, args=args)``, kept for the process. ``args``: text that is the same for
    every page (a kind of entry, a stand-in uid), never a value read from a request."""
    key = (name, args, current_app, get_script_prefix(), get_urlconf())
    return _KEPT.made(key, _reversed, name, args, current_app)


def _reversed(name: str, args: tuple[str, ...], current_app: str | None) -> str:
    return reverse(name, args=args, current_app=current_app)


class RouteNode(defaulttags.URLNode):
    def render(self, context: template.Context) -> str:
        if self.args or self.kwargs or self.asvar:
            return str(super().render(context))
        # The application namespace as Django's tag finds it.
        request = getattr(context, "request", None)
        current_app = getattr(request, "current_app", None)
        if current_app is None:
            current_app = getattr(getattr(request, "resolver_match", None), "namespace", None)
        address = reversed_once(self.view_name.resolve(context), current_app=current_app)
        return str(conditional_escape(address)) if context.autoescape else address


@register.tag
def url(parser: template.base.Parser, token: template.base.Token) -> RouteNode:
    node = defaulttags.url(parser, token)
    return RouteNode(node.view_name, node.args, node.kwargs, node.asvar)
