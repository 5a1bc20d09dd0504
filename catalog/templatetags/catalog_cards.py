"""`{% cardfragment card %}...{% endcardfragment %}`: the part of a product card that is the same
for every visitor, rendered once per product version and kept in this process (shop/fragments.py).

The key is the fragment (its node), the card's product id and version (raised by
every change customers see; with its slug, title and prices as a guard against a reused id), and
the shop currency. Nothing personal may go inside: the
add-to-cart form (the visitor's CSRF token) and availability (fresh on every request) stay
outside the fragment. A card without a version is rendered every time.
"""

from __future__ import annotations

from django import template

from shop import fragments

register = template.Library()


class CardFragmentNode(template.Node):
    child_nodelists = ()  # no {% block %} inside: not searched for one on every page (see MemoNode)

    def __init__(self, nodelist: template.NodeList, card: template.base.FilterExpression) -> None:
        self.nodelist, self.card = nodelist, card
        self.place = fragments.new_place()

    def render(self, context: template.Context) -> str:
        card = self.card.resolve(context)
        version = card.get("version") if isinstance(card, dict) else None
        if version is None:
            return self.nodelist.render(context)
        # the version decides; the few fields beside it guard against a product id used again
        # with the same version in another database (tests, a restored backup)
        key = (self.place, card.get("id"), version, card.get("slug"), card.get("title"), card.get("price"),
               card.get("compare_at_price"))  # fmt: skip
        return fragments.rendered_once(key, context, lambda: self.nodelist.render(context), check=False)


@register.tag("cardfragment")
def cardfragment(parser: template.base.Parser, token: template.base.Token) -> CardFragmentNode:
    bits = token.split_contents()
    if len(bits) != 2:
        raise template.TemplateSyntaxError("{% cardfragment card %} takes the card")
    nodelist = parser.parse(("endcardfragment",))
    parser.delete_first_token()
    return CardFragmentNode(nodelist, parser.compile_filter(bits[1]))
