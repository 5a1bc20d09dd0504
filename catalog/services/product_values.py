"""The rules for product values that come from outside (the write API, the CSV import): one place.

`clean_product_values()` turns what a client sent (JSON values, or the text of a CSV cell) into
model values and names every bad field with its reason, all at once, so a client fixes a request
in one round. Category and brand are given by slug and resolved through `Lookups`, loaded once
per request or per import batch (two queries, whatever the batch size).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.utils.text import slugify

from catalog.models import Brand, Category, Product, normalize_attributes

# What a client may set, in the order the CSV format lists them.
WRITABLE_FIELDS = (
    "sku", "slug", "title", "description", "price", "compare_at_price", "category", "brand", "attributes", "is_active",
)  # fmt: skip
REQUIRED_ON_CREATE = ("sku", "title", "price", "category")
MAX_PRICE = Decimal("9999999999.99")  # Product.price: 12 digits, 2 of them decimals
CENT = Decimal("0.01")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _max_length(name: str) -> int:
    return Product._meta.get_field(name).max_length


@dataclass(frozen=True)
class Lookups:
    """Category and brand ids by slug, for the slugs a request or a batch names."""

    category_ids: dict[str, int]
    brand_ids: dict[str, int]

    @classmethod
    def load(cls, raws: Iterable[Mapping[str, object]], *, known: Lookups | None = None) -> Lookups:
        """The ids of the slugs these values name. With `known` (what an import's earlier batches
        looked up), only the slugs missing from it are read (no query once every one was met),
        and the result holds both."""
        raws = list(raws)
        known = known or cls(category_ids={}, brand_ids={})
        categories = {c for r in raws if isinstance(c := r.get("category"), str) and c and storable_text(c)}
        brands = {b for r in raws if isinstance(b := r.get("brand"), str) and b and storable_text(b)}
        return cls(
            category_ids={**known.category_ids, **dict(
                Category.objects.filter(slug__in=categories - known.category_ids.keys()).values_list("slug", "pk"))},
            brand_ids={**known.brand_ids, **dict(
                Brand.objects.filter(slug__in=brands - known.brand_ids.keys()).values_list("slug", "pk"))},
        )  # fmt: skip


def clean_product_values(
    raw: Mapping[str, object], *, lookups: Lookups, current: Product | None = None
) -> tuple[dict[str, object], dict[str, list[str]]]:
    """(model values, {field: [reasons]}) for the fields in `raw`.

    With the `current` product (an update) only the fields given are cleaned, and the was price is
    checked against the price the product will have; without (a create) the required fields must
    be there. Text from a CSV cell and JSON values are both accepted (a price "12.50" or 12.5). The
    model values use `category_id` and `brand_id`; a new product without a slug gets one made from
    its title and SKU. Reads nothing: categories and brands come from `lookups`.
    """
    values: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for name in raw:
        if name not in WRITABLE_FIELDS:
            errors[name] = ["Unknown field."]
    partial = current is not None
    if not partial:
        for name in REQUIRED_ON_CREATE:
            if _blank(raw.get(name)):
                errors[name] = ["This field is required."]
    for name in WRITABLE_FIELDS:
        if name not in raw or name in errors:
            continue
        try:
            values.update(_CLEANERS[name](raw[name], lookups))
        except ValidationError as exc:
            errors[name] = exc.messages
    if not {"price", "compare_at_price"} & set(errors):
        price = values.get("price", getattr(current, "price", None))
        was_price = values.get("compare_at_price", getattr(current, "compare_at_price", None))
        if price is not None and was_price is not None and was_price < price:
            errors["compare_at_price" if "compare_at_price" in raw else "price"] = [
                "The was price must be at least the price."
            ]
    if not partial and not errors and not values.get("slug"):
        values["slug"] = default_slug(title=str(values["title"]), sku=str(values["sku"]))
    return values, errors


def changed_values(product: Product, cleaned: Mapping[str, object]) -> dict[str, object]:
    """The cleaned values that differ from what the product holds."""
    return {name: value for name, value in cleaned.items() if getattr(product, name) != value}


def default_slug(*, title: str, sku: str) -> str:
    """A product's slug when none is given: its title and SKU (the SKU keeps it unique)."""
    limit = _max_length("slug")
    sku_part = slugify(sku)[: limit // 2] or "product"
    title_part = slugify(title)[: limit - len(sku_part) - 1].strip("-")
    return f"{title_part}-{sku_part}" if title_part else sku_part


def storable_text(value: str) -> bool:
    """False for text PostgreSQL cannot store: a NUL character, or a lone surrogate (JSON allows both)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_NOT_STORABLE = "Contains a character that is not allowed (NUL or an unpaired surrogate)."


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(name: str, *, required: bool):
    limit = _max_length(name)

    def clean(value: object, lookups: Lookups) -> dict[str, object]:
        if value is None and not required:
            value = ""
        if not isinstance(value, str):
            raise ValidationError("Enter text.")
        if not storable_text(value):
            raise ValidationError(_NOT_STORABLE)
        value = value.strip()
        if required and not value:
            raise ValidationError("This field is required.")
        if limit is not None and len(value) > limit:
            raise ValidationError(f"Use at most {limit} characters (this has {len(value)}).")
        return {name: value}

    return clean


def _slug(value: object, lookups: Lookups) -> dict[str, object]:
    if _blank(value):
        return {}  # made from the title and SKU on create; left alone on update
    cleaned = _text("slug", required=True)(value, lookups)
    validate_slug(cleaned["slug"])
    return cleaned


def _money(name: str, *, required: bool):
    def clean(value: object, lookups: Lookups) -> dict[str, object]:
        if _blank(value):
            if required:
                raise ValidationError("This field is required.")
            return {name: None}
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise ValidationError("Enter a number such as 12.50.")
        try:
            amount = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValidationError("Enter a number such as 12.50.") from None
        if not amount.is_finite():
            raise ValidationError("Enter a number such as 12.50.")
        if amount < 0:
            raise ValidationError("Must not be below 0.")
        if amount > MAX_PRICE:  # before quantize(), which a huge exponent would make fail
            raise ValidationError(f"Must not be above {MAX_PRICE}.")
        if amount != amount.quantize(CENT):
            raise ValidationError("Use at most 2 decimal places.")
        return {name: amount.quantize(CENT)}

    return clean


def _category(value: object, lookups: Lookups) -> dict[str, object]:
    if _blank(value) or not isinstance(value, str):
        raise ValidationError("Give the category's slug.")
    if value not in lookups.category_ids:
        raise ValidationError(f"No category has the slug {value!r}.")
    return {"category_id": lookups.category_ids[value]}


def _brand(value: object, lookups: Lookups) -> dict[str, object]:
    if _blank(value):
        return {"brand_id": None}
    if not isinstance(value, str):
        raise ValidationError("Give the brand's slug.")
    if value not in lookups.brand_ids:
        raise ValidationError(f"No brand has the slug {value!r}.")
    return {"brand_id": lookups.brand_ids[value]}


def _attributes(value: object, lookups: Lookups) -> dict[str, object]:
    if _blank(value):
        return {"attributes": {}}
    if isinstance(value, str):  # a CSV cell holds the object as JSON text
        try:
            value = json.loads(value)
        except ValueError:
            raise ValidationError('Enter a JSON object such as {"colour": "Red"}.') from None
    try:
        attributes = normalize_attributes(value)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict["attributes"]) from None
    if not all(storable_text(text) for pair in attributes.items() for text in pair):
        raise ValidationError(_NOT_STORABLE)
    return {"attributes": attributes}


def _is_active(value: object, lookups: Lookups) -> dict[str, object]:
    if isinstance(value, str) and not value.strip():
        return {}  # an empty CSV cell: left as it is (a new product is active)
    if isinstance(value, bool):
        return {"is_active": value}
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return {"is_active": value.strip().lower() in _TRUE}
    raise ValidationError("Enter true or false.")


_CLEANERS = {
    "sku": _text("sku", required=True),
    "slug": _slug,
    "title": _text("title", required=True),
    "description": _text("description", required=False),
    "price": _money("price", required=True),
    "compare_at_price": _money("compare_at_price", required=False),
    "category": _category,
    "brand": _brand,
    "attributes": _attributes,
    "is_active": _is_active,
}
