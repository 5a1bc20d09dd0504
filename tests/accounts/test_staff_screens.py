"""Each staff group can use every part of the screens it is meant to use (issue 20, item 19).

A group's screens are the admin pages of the models it may view or change (accounts.staff). For
each, a member opens the list, an object's page and (with the add permission) the add page, and
every part of them must work: each inline declared on the page is shown (not silently dropped
for want of a permission), and each autocomplete widget on the page answers (not 403).
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.staff import STAFF_GROUPS
from catalog.models import ProductImage
from orders.models import OrderEvent, OrderEventKind
from orders.services import place_order
from shop.models import DeadLetter
from tests.accounts.factories import AddressFactory, UserFactory
from tests.cart.factories import stocked_product
from tests.catalog.factories import BrandFactory
from tests.orders.conftest import checkout_input, fill_cart


def _screens(group: str) -> list[type]:
    """Models of the admin site the group may view or change (its screens)."""
    codes = set(STAFF_GROUPS[group])

    def is_screen(model: type) -> bool:
        label, name = model._meta.app_label, model._meta.model_name
        return bool({f"{label}.view_{name}", f"{label}.change_{name}"} & codes)

    return sorted((m for m in admin.site._registry if is_screen(m)), key=lambda model: model._meta.label)


CASES = [(group, model._meta.label) for group in sorted(STAFF_GROUPS) for model in _screens(group)]


@pytest.fixture
def one_of_everything(db, customer, django_capture_on_commit_callbacks):
    """An object on every screen: a product with a brand and a picture, an order with its lines,
    events and payment, a customer with an address, stock, a dead letter."""
    shoe = stocked_product(title="Trail shoe", price=Decimal("50.00"), available=10)
    shoe.brand = BrandFactory()
    shoe.save(update_fields=["brand"])
    ProductImage.objects.create(product=shoe, original="products/shoe.jpg", alt_text="A shoe")
    AddressFactory(user=customer)
    fill_cart(user=customer, lines={shoe: 1})
    with django_capture_on_commit_callbacks(execute=True):
        order = place_order(checkout=checkout_input(), customer=customer).value
    OrderEvent.objects.create(order=order, kind=OrderEventKind.NOTE, message="Called the customer")
    DeadLetter.objects.create(task_name="orders.send_order_email", error="SMTP down")


def _member_of(group: str, client):
    user = UserFactory(staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    return user


def _autocomplete_fields(model_admin, inline_admins) -> list[tuple[type, str]]:
    return [(model_admin.model, name) for name in model_admin.autocomplete_fields] + [
        (inline.model, name) for inline in inline_admins for name in inline.autocomplete_fields
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(("group", "label"), CASES)
def test_each_group_can_use_every_part_of_its_screens(client, one_of_everything, group, label):
    # given: a member of the group, and the model's admin
    user = _member_of(group, client)
    model = next(m for m in _screens(group) if m._meta.label == label)
    model_admin = admin.site._registry[model]
    info = (model._meta.app_label, model._meta.model_name)
    inlines = [inline(model, admin.site) for inline in model_admin.inlines]
    # when / then: the list opens
    assert client.get(reverse("admin:{}_{}_changelist".format(*info))).status_code == 200
    # an object's page opens with every inline of the screen on it
    obj = model._default_manager.order_by("pk").first()
    if obj is not None:
        page = client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
        assert page.status_code == 200
        shown = [formset.opts.__class__ for formset in page.context["inline_admin_formsets"]]
        assert shown == list(model_admin.inlines), f"{group} misses inlines on {label}"
    # the add page too, when the group may add
    if user.has_perm(f"{info[0]}.add_{info[1]}"):
        page = client.get(reverse("admin:{}_{}_add".format(*info)))
        assert page.status_code == 200
        assert [f.opts.__class__ for f in page.context["inline_admin_formsets"]] == list(model_admin.inlines)
    # every autocomplete widget on it answers
    for source, field_name in _autocomplete_fields(model_admin, inlines):
        response = client.get(
            reverse("admin:autocomplete"),
            {"app_label": source._meta.app_label, "model_name": source._meta.model_name, "field_name": field_name},
        )
        assert response.status_code == 200, f"{group}: autocomplete {source._meta.label}.{field_name}"


def test_every_group_has_screens():
    assert {group for group, _ in CASES} == set(STAFF_GROUPS)
