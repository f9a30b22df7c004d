"""``{% fixed "name" a b … %}…{% endfixed %}``: a part of a page rendered once per process for
each language and each value of what it names, then given again as it was (issue 17).

For the parts every page repeats and whose text follows from a few values only: the navigation
(the links a role may follow, ``core.context.navigation``, decided at each request), the
privacy screen, the idle lock's warning. Only what is named decides: a fragment may not read the
user, the request, a token or a patient (the rendering is kept, the context is not); the
values named are resolved at each request, so a role changed at the last request gives another
key, never the old links. Reversing a dozen routes and translating a few dozen sentences on
every page cost about 0.4 ms of a 10 ms page.

``{% fixed "name" a b uid=patient.uid %}``: the same for links to one record (a chart's actions),
rendered once with a stand-in uid in ``uid``, then given with the page's own uid in its place;
the uid is checked to be one. The fragment's text may follow from the uid only through ``uid``.

A fragment holds no ``{% block %}`` (refused when the template is read): what a page puts in a
block would be kept for every other page. Its nodes are not walked when a page that extends the
template looks for its blocks (``child_nodelists``): the navigation and the screens are most of
``base.html``'s nodes, walked at every page before (1.3 % of a chart opening).
"""

from __future__ import annotations

import uuid
from typing import Any

from django import template
from django.template.loader_tags import BlockNode
from django.urls import get_script_prefix, get_urlconf
from django.utils.safestring import SafeString
from django.utils.translation import get_language

from secretum.lib.kept import Kept

register = template.Library()

# (name, language, script prefix, URLconf, values…) → the rendered text. A few roles and flags,
# three languages: a handful of keys; the bound only keeps a mistake from growing it for ever.
_KEPT = Kept(most=512)
# Stands for the record's uid in a fragment's kept text (any UUID: only its place matters).
_UID_SLOT = str(uuid.UUID(int=0))


class FixedNode(template.Node):
    child_nodelists = ()  # no block inside (``fixed``): nothing for an extending page to find

    def __init__(
        self,
        name: str,
        values: list[template.base.FilterExpression],
        nodelist: Any,
        uid: template.base.FilterExpression | None = None,
    ) -> None:
        self.name = name
        self.values = values
        self.nodelist = nodelist
        self.uid = uid

    def render(self, context: template.Context) -> SafeString:
        key = (
            self.name,
            get_language(),
            get_script_prefix(),
            get_urlconf(),
            *(value.resolve(context) for value in self.values),
        )
        # Checked before anything is given: a value that is no uid never reaches the page.
        uid = None if self.uid is None else str(uuid.UUID(str(self.uid.resolve(context))))
        kept = _KEPT.made(key, self._rendered, context)
        return kept if uid is None else SafeString(kept.replace(_UID_SLOT, uid))

    def _rendered(self, context: template.Context) -> SafeString:
        slot = {} if self.uid is None else {"uid": _UID_SLOT}
        with context.push(**slot):
            return SafeString(self.nodelist.render(context))


def _walk(nodelist: Any) -> Any:
    """Every node of ``nodelist``, fragments within it included."""
    for node in nodelist:
        yield node
        for name in (
            *node.child_nodelists,
            *(("nodelist",) if isinstance(node, FixedNode) else ()),
        ):
            yield from _walk(getattr(node, name, None) or ())


@register.tag
def fixed(parser: template.base.Parser, token: template.base.Token) -> FixedNode:
    bits = token.split_contents()
    if len(bits) < 2 or bits[1][0] not in "\"'" or bits[1][-1] != bits[1][0]:
        raise template.TemplateSyntaxError('{% fixed "name" value … %}: a quoted name first')
    uid = None
    if bits[-1].startswith("uid="):
        uid = parser.compile_filter(bits.pop()[len("uid=") :])
    nodelist = parser.parse(("endfixed",))
    parser.delete_first_token()
    if any(isinstance(node, BlockNode) for node in _walk(nodelist)):
        raise template.TemplateSyntaxError(
            f"{{% fixed {bits[1]} %}} holds a {{% block %}}: its text would be kept for every page"
        )
    values = [parser.compile_filter(bit) for bit in bits[2:]]
    return FixedNode(bits[1][1:-1], values, nodelist, uid)
