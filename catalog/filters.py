"""Listing parameters (category page, products API) parsed once for both doors.

`parse_listing_params` returns the clean values and the errors per parameter; the API answers
400 naming them, the storefront drops the bad ones and shows a sane page.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db.models import JSONField

SORTS = {
    "popularity": ("-popularity", "-id"),
    "price_asc": ("price", "id"),
    "price_desc": ("-price", "-id"),
    "newest": ("-created_at", "-id"),
}
SORT_LABELS = {"popularity": "Most popular", "price_asc": "Price: low to high", "price_desc": "Price: high to low",
               "newest": "Newest"}  # fmt: skip
DEFAULT_PAGE_SIZE = 24
MAX_PAGE_SIZE = 100
MAX_PRICE = Decimal("10000000")
ATTRIBUTE_PREFIX = "attr_"
# An attribute name is a plain key: letters and digits, single "_" or "-" between them, at most
# 30 characters. Never a Django lookup: "__" (colour__regex) cannot occur, and a name that is
# itself a lookup of the JSON column (regex, contains, exact ...) is refused too, since a key
# lookup on SQLite would read it as one (a 500 there, a user-written regular expression elsewhere).
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*$")
_ATTRIBUTE_NAME_MAX = 30
_JSON_LOOKUPS = frozenset(name.lower() for name in JSONField.get_lookups())
ATTRIBUTE_NAME_RULE = "Attribute names are letters, digits, and single _ or - between them (at most 30)."


def valid_attribute_name(name: str) -> bool:
    """True for a plain attribute key (see _ATTRIBUTE_NAME), never a lookup."""
    return (
        len(name) <= _ATTRIBUTE_NAME_MAX
        and name.isascii()
        and bool(_ATTRIBUTE_NAME.match(name))
        and name.lower() not in _JSON_LOOKUPS
    )
KNOWN = {"category", "brand", "price_min", "price_max", "in_stock", "sort", "page", "page_size", "q"}


@dataclass(frozen=True)
class ListingQuery:
    category_ids: tuple[int, ...] | None = None
    brands: tuple[str, ...] = ()
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    in_stock: bool = False
    attributes: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    sort: str = "popularity"
    page: int = 1
    page_size: int = DEFAULT_PAGE_SIZE

    def digest(self) -> str:
        return hashlib.sha256(repr(self).encode()).hexdigest()[:32]


def _price(raw: str, name: str, errors: dict) -> Decimal | None:
    if raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        errors[name] = ["Enter a number, for example 19.99."]
        return None
    if not value.is_finite() or value < 0 or value > MAX_PRICE:
        errors[name] = [f"Enter an amount between 0 and {MAX_PRICE}."]
        return None
    return value.quantize(Decimal("0.01"))


def positive_int(raw: str, name: str, errors: dict, *, maximum: int) -> int | None:
    """`raw` as a whole number from 1 to `maximum`, else None with the reason under errors[name]."""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= maximum:
        errors[name] = [f"Enter a whole number from 1 to {maximum}."]
        return None
    return int(raw)


def parse_listing_params(params, *, strict_unknown: bool = False) -> tuple[dict, dict[str, list[str]]]:
    """Clean values for ListingQuery (without category_ids) and {parameter: [reason]} errors."""
    values: dict = {}
    errors: dict[str, list[str]] = {}
    for key in list(params):
        if "\x00" in key or any("\x00" in value for value in params.getlist(key)):
            errors[key.replace("\x00", "")] = ["Contains a character that is not allowed (NUL)."]
    if errors:  # a database cannot even compare such text: refuse before anything reads it
        return values, errors
    brands = tuple(sorted({b.strip()[:140] for b in params.getlist("brand") if b.strip()}))[:20]
    if brands:
        values["brands"] = brands
    for name in ("price_min", "price_max"):
        price = _price(params.get(name, "").strip(), name, errors)
        if price is not None:
            values[name] = price
    low, high = values.get("price_min"), values.get("price_max")
    if low is not None and high is not None and low > high:
        errors["price_max"] = ["The highest price must not be below the lowest."]
        values.pop("price_max")
    in_stock = params.get("in_stock", "").strip().lower()
    if in_stock in {"1", "true", "on", "yes"}:
        values["in_stock"] = True
    elif in_stock not in {"", "0", "false", "off", "no"}:
        errors["in_stock"] = ["Use true or false."]
    sort = params.get("sort", "").strip()
    if sort and sort not in SORTS:
        errors["sort"] = [f"Choose one of: {', '.join(SORTS)}."]
    elif sort:
        values["sort"] = sort
    if "page" in params:
        page = positive_int(params.get("page", "").strip(), "page", errors, maximum=100000)
        if page is not None:
            values["page"] = page
    if "page_size" in params:
        size = positive_int(params.get("page_size", "").strip(), "page_size", errors, maximum=MAX_PAGE_SIZE)
        if size is not None:
            values["page_size"] = size
    attributes = []
    for key in sorted(params):
        if key.startswith(ATTRIBUTE_PREFIX):
            name = key[len(ATTRIBUTE_PREFIX) :]
            if not valid_attribute_name(name):
                errors[key] = [ATTRIBUTE_NAME_RULE]
                continue
            chosen = tuple(sorted({v.strip()[:100] for v in params.getlist(key) if v.strip()}))[:20]
            if chosen:
                attributes.append((name, chosen))
        elif strict_unknown and key not in KNOWN:
            errors[key] = ["Unknown parameter."]
    if attributes:
        values["attributes"] = tuple(attributes[:10])
    return values, errors
