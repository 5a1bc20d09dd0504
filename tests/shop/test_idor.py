"""Customers reach only their own objects: another customer's id is a 404 on every door.

The test walks every URL pattern that takes an object id, straight from the URL resolver. A
pattern must either be listed in OWNED (how to make an object of a given owner) or in PUBLIC
(addresses anyone may see), so a new endpoint without a decision fails this test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from accounts.models import Address
from orders.models import Order
from tests.accounts.factories import AddressFactory, UserFactory
from tests.orders.factories import OrderFactory

# name -> (make an object owned by `owner`, return the URL kwargs; read the object back for comparison)
OWNED: dict[str, tuple[Callable, Callable]] = {
    "api:address-detail": (
        lambda owner: {"address_id": AddressFactory(user=owner).pk},
        lambda kwargs: Address.objects.filter(pk=kwargs["address_id"]).values().first(),
    ),
    "accounts:address_edit": (
        lambda owner: {"address_id": AddressFactory(user=owner).pk},
        lambda kwargs: Address.objects.filter(pk=kwargs["address_id"]).values().first(),
    ),
    "accounts:address_delete": (
        lambda owner: {"address_id": AddressFactory(user=owner).pk},
        lambda kwargs: Address.objects.filter(pk=kwargs["address_id"]).values().first(),
    ),
}
_order = (
    lambda owner: {"number": OrderFactory(customer=owner).number},
    lambda kwargs: Order.objects.filter(number=kwargs["number"]).values().first(),
)
OWNED.update({name: _order for name in ["api:order-detail", "api:order-cancel", "api:order-returns", "orders:detail",
                                        "orders:status", "orders:return",
                                        "orders:cancel", "orders:payment", "orders:payment-complete"]})  # fmt: skip
# Patterns with arguments that name no customer's object.
PUBLIC = {
    "catalog:category", "catalog:product", "accounts:password_reset_confirm", "api:product-recommendations",
    "accounts:verify_email",  # a signed token that verifies only the account it was made for
    "api:product-detail", "api:product-by-slug",  # the public catalog
    "api:cart-line", "cart:line", "cart:remove",  # a product id in the caller's own cart (no cart id in URLs)
    "payments:webhook",  # a gateway's name; events are verified by their signature
    "api:order-refund",  # staff only: customers get 403 (tests/orders/test_api_refunds.py)
    # catalog staff or a catalog:write key only: customers get 403 (tests/catalog/test_catalog_write_api.py)
    "api:catalog-product", "api:catalog-product-deactivate", "api:image-upload-create",
    # ... and an upload is completed only by whoever started it (tests/catalog/test_image_uploads.py)
    "api:image-upload-complete",
    "catalog:direct-upload",  # the embedded default's upload URL: a signed field, as S3's presigned POST
    "api:fulfilment-ship",  # warehouse API keys (orders:fulfil) only: others get 403 (tests/orders/test_fulfilment_api.py)
    "api:fulfilment-deliver",  # the same
    "api:carrier-events",  # a carrier's name; events are verified by their signature
    # a public product's id: anyone may ask to hear when it is back (tests/catalog/test_stock_alerts.py)
    "api:stock-alert-create", "catalog:stock-alert-subscribe",
    # a signed token that confirms or ends only the subscription it was made for
    "catalog:stock-alert-confirm", "catalog:stock-alert-unsubscribe",
}  # fmt: skip
PUBLIC_NAMESPACES = {"admin"}  # staff screens, guarded by Django permissions instead


def patterns_with_arguments(resolver: URLResolver | None = None, namespace: str = "") -> list[str]:
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            if entry.namespace not in PUBLIC_NAMESPACES:
                found += patterns_with_arguments(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name and _has_arguments(entry):
            found.append(f"{namespace}{entry.name}")
    return found


def _has_arguments(entry: URLPattern) -> bool:
    return bool(getattr(entry.pattern, "converters", None) or entry.pattern.regex.groupindex)


def test_every_pattern_with_an_object_id_has_an_ownership_decision():
    undecided = sorted(set(patterns_with_arguments()) - set(OWNED) - PUBLIC)
    assert undecided == [], f"add these URL names to OWNED (with a factory) or PUBLIC in {__file__}"
    assert set(OWNED) <= set(patterns_with_arguments())  # no stale entries either


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method"), list(itertools.product(sorted(OWNED), ["get", "post", "put", "patch", "delete"]))
)
def test_another_customers_object_is_a_404_and_stays_unchanged(name, method):
    # given: an object of the owner, and an intruder signed in on both doors (session and JWT)
    make, read = OWNED[name]
    kwargs = make(UserFactory())
    intruder = UserFactory()
    before = read(kwargs)
    client = APIClient()
    client.force_login(intruder)
    client.force_authenticate(intruder)
    # when
    response = getattr(client, method)(
        reverse(name, kwargs=kwargs), {"city": "Elsewhere", "full_name": "X"}, format="json"
    )
    # then: 404 for every method the URL accepts (405 for the others), and nothing changed
    assert response.status_code in (404, 405), response.status_code
    assert read(kwargs) == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(OWNED))
def test_the_owner_reaches_the_same_url(name):
    # A negative control: the 404s above come from ownership, not from a broken URL.
    make, _ = OWNED[name]
    owner = UserFactory()
    kwargs = make(owner)
    client = APIClient()
    client.force_login(owner)
    client.force_authenticate(owner)
    method = "post" if name.endswith(("delete", "cancel", "payment", "payment-complete", ":return")) else "get"
    # The owner gets past the ownership check: a page, a redirect, or a refusal about the order's
    # state or the form (a 400 or 409), never the 404 an intruder gets.
    assert getattr(client, method)(reverse(name, kwargs=kwargs)).status_code in (200, 204, 302, 400, 409)
