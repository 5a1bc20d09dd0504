"""Small template helpers of the storefront pages: page numbers, savings and fixed URLs."""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from functools import lru_cache

from django import template
from django.urls import get_script_prefix, get_urlconf, reverse

from shop import fragments

register = template.Library()

PAGES_AROUND = 2  # page numbers shown on each side of the current one


@register.simple_tag
def fixed_url(name: str) -> str:
    """`{% url name %}` for a URL without arguments (the header's and footer's links), reversed
    once per process, script prefix and URLconf instead of on every page: every storefront page
    carries about ten of them, 20-30 microseconds each (bench/pages.py, docs/read-path.md)."""
    return _reversed(name, get_script_prefix(), get_urlconf())


@lru_cache(maxsize=256)
def _reversed(name: str, prefix: str, urlconf: str | None) -> str:
    return reverse(name, urlconf=urlconf)  # reverse() itself adds the current script prefix


@register.filter
def page_window(page_number, num_pages) -> list[int | None]:
    """The page numbers a pagination shows: the first, the last, and two on each side of the
    current page; None marks a gap ("…"). page_window(6, 12) -> [1, None, 4, 5, 6, 7, 8, None, 12]."""
    try:
        current, last = int(page_number), int(num_pages)
    except (TypeError, ValueError):
        return []
    shown = {1, last, *range(current - PAGES_AROUND, current + PAGES_AROUND + 1)}
    pages: list[int | None] = []
    for number in sorted(n for n in shown if 1 <= n <= last):
        if pages and number - pages[-1] == 2:
            pages.append(number - 1)  # a gap of one page is shown as that page, not as "…"
        elif pages and number - pages[-1] > 2:
            pages.append(None)
        pages.append(number)
    return pages


@register.filter
def saving_percent(price, was_price) -> int | None:
    """Whole percent saved against the was-price, rounded down (never promises more); None if no saving."""
    try:
        price, was_price = Decimal(str(price)), Decimal(str(was_price))
    except (InvalidOperation, ValueError):
        return None
    if was_price <= 0 or price >= was_price:
        return None
    return int(((was_price - price) * 100 / was_price).to_integral_value(rounding=ROUND_FLOOR)) or None


class MemoNode(template.Node):
    """`{% memo value... %}...{% endmemo %}`: the part rendered once per distinct values and kept
    (shop/fragments.py). Name every value the part shows (none: the same on every page of the
    process); the visitor's CSRF token is put in on every request, anything else personal stays
    outside. A part holds no `{% block %}`: its nodes are hidden from the template's search for
    blocks, which `{% extends %}` runs through the whole base template on every page."""

    child_nodelists = ()

    def __init__(self, nodelist: template.NodeList, values: list[template.base.FilterExpression]) -> None:
        self.nodelist, self.values = nodelist, values
        self.place = fragments.new_place()

    def render(self, context: template.Context) -> str:
        # a missing value resolves as the template shows it (""), apart from None ("None")
        key = (self.place, *(fragments.frozen(v.resolve(context)) for v in self.values))
        return fragments.rendered_once(key, context, lambda: self.nodelist.render(context))


@register.tag("memo")
def memo(parser: template.base.Parser, token: template.base.Token) -> MemoNode:
    bits = token.split_contents()
    nodelist = parser.parse(("endmemo",))
    parser.delete_first_token()
    return MemoNode(nodelist, [parser.compile_filter(bit) for bit in bits[1:]])
