"""`{% cardfragment card %}...{% endcardfragment %}`: the part of a product card that is the same
for every visitor, rendered once per product version and kept in this process.

The key is the fragment (its node), the card's product id and version (raised by
every change customers see; with its slug, title and prices as a guard against a reused id), and
the shop currency. Nothing personal may go inside: the
add-to-cart form (the visitor's CSRF token) and availability (fresh on every request) stay
outside the fragment. A card without a version is rendered every time.
"""

from __future__ import annotations

import itertools
import threading

from django import template

register = template.Library()

MAX_FRAGMENTS = 20_000  # about 1 kB each; the whole memo is dropped when full
_fragments: dict[tuple, str] = {}
_lock = threading.Lock()
_places = itertools.count()  # one number per fragment node compiled in this process, never reused


class CardFragmentNode(template.Node):
    def __init__(self, nodelist: template.NodeList, card: template.base.FilterExpression) -> None:
        self.nodelist, self.card = nodelist, card
        # Which fragment this is: the token's position is known only to the debug lexer, so two
        # fragments of one template would share a key without it.
        self.place = next(_places)

    def render(self, context: template.Context) -> str:
        card = self.card.resolve(context)
        version = card.get("version") if isinstance(card, dict) else None
        if version is None:
            return self.nodelist.render(context)
        # the version decides; the few fields beside it guard against a product id used again
        # with the same version in another database (tests, a restored backup)
        key = (self.place, card.get("id"), version, card.get("slug"), card.get("title"), card.get("price"),
               card.get("compare_at_price"), context.get("SHOP_CURRENCY"))  # fmt: skip
        html = _fragments.get(key)
        if html is None:
            html = self.nodelist.render(context)
            with _lock:
                if len(_fragments) >= MAX_FRAGMENTS:
                    _fragments.clear()
                _fragments[key] = html
        return html


@register.tag("cardfragment")
def cardfragment(parser: template.base.Parser, token: template.base.Token) -> CardFragmentNode:
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% cardfragment card %} takes the card")
    nodelist = parser.parse(("endcardfragment",))
    parser.delete_first_token()
    return CardFragmentNode(nodelist, parser.compile_filter(bits[1]))
