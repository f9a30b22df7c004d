"""``{% fixed "name" a b … %}…{% endfixed %}``: a part of a page rendered once per process for
each language and each value of what it names, then given again as it was (issue 17).

For the parts every page repeats and whose text follows from a few values only: the navigation
(the links a role may follow, ``core.context.navigation``, decided at each request), the
privacy screen, the idle lock's warning. Only what is named decides: a fragment may not read the
user, the request, a token or a patient (the rendering is kept, the context is not); the
values named are resolved at each request, so a role changed at the last request gives another
key, never the old links. Reversing a dozen routes and translating a few dozen sentences on
every page cost about 0.4 ms of a 10 ms page.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import get_script_prefix, get_urlconf
from django.utils.safestring import SafeString
from django.utils.translation import get_language

register = template.Library()

# (name, language, script prefix, URLconf, values…) → the rendered text. A few roles and flags,
# three languages: a handful of keys; the bound only keeps a mistake from growing it for ever.
_KEPT: dict[tuple[Any, ...], SafeString] = {}
_MOST = 512


class FixedNode(template.Node):
    def __init__(
        self, name: str, values: list[template.base.FilterExpression], nodelist: Any
    ) -> None:
        self.name = name
        self.values = values
        self.nodelist = nodelist

    def render(self, context: template.Context) -> SafeString:
        key = (
            self.name,
            get_language(),
            get_script_prefix(),
            get_urlconf(),
            *(value.resolve(context) for value in self.values),
        )
        kept = _KEPT.get(key)
        if kept is None:
            if len(_KEPT) >= _MOST:
                _KEPT.clear()
            kept = _KEPT[key] = SafeString(self.nodelist.render(context))
        return kept


@register.tag
def fixed(parser: template.base.Parser, token: template.base.Token) -> FixedNode:
    bits = token.split_contents()
    if len(bits) < 2 or bits[1][0] not in "\"'" or bits[1][-1] != bits[1][0]:
        raise template.TemplateSyntaxError('{% fixed "name" value … %}: a quoted name first')
    nodelist = parser.parse(("endfixed",))
    parser.delete_first_token()
    return FixedNode(bits[1][1:-1], [parser.compile_filter(bit) for bit in bits[2:]], nodelist)
