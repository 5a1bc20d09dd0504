"""Staff adjust stock in admin through the service: on the ledger with reason and actor, never below zero."""

import uuid

import pytest
from django.urls import reverse

from inventory.models import MovementKind, StockItem, StockMovement
from tests.inventory.factories import StockItemFactory, StockMovementFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:inventory_stockitem_changelist")
ADD_URL = reverse("admin:inventory_stockitem_add")


def change_url(item: StockItem) -> str:
    return reverse("admin:inventory_stockitem_change", args=[item.pk])


def adjustment(delta: int, reason: str = "Damaged in storage", token: str | None = None) -> dict:
    """The form as the confirmation page posts it again (_confirmed=yes)."""
    return {"adjust_by": str(delta), "reason": reason, "adjustment_token": token or str(uuid.uuid4()), "_confirmed": "yes"}


def test_adjustment_in_admin_writes_the_ledger_with_the_reason_and_the_actor(client, stock_clerk, stock_item):
    client.force_login(stock_clerk)

    response = client.post(change_url(stock_item), adjustment(-3))

    assert response.status_code == 302
    stock_item.refresh_from_db()
    assert stock_item.available == 7
    assert list(StockMovement.objects.values_list("kind", "quantity", "level_after", "reason", "actor_id")) == [
        (MovementKind.ADJUSTMENT, -3, 7, "Damaged in storage", stock_clerk.pk)
    ]
    assert StockMovement.objects.get().cause.startswith("admin:")


def test_the_same_adjustment_form_submitted_twice_applies_once(client, stock_clerk, stock_item):
    client.force_login(stock_clerk)
    form = adjustment(-3)

    client.post(change_url(stock_item), form)
    client.post(change_url(stock_item), form)

    stock_item.refresh_from_db()
    assert stock_item.available == 7
    assert StockMovement.objects.count() == 1


@pytest.mark.parametrize(
    ("form", "field", "error"),
    [
        (adjustment(-11), "adjust_by", "Only 10 units are in stock; stock cannot go below zero."),
        (adjustment(0), "adjust_by", "Enter a change other than zero."),
        (adjustment(-1, reason=""), "reason", "This field is required."),
    ],
)
def test_an_adjustment_that_is_refused_shows_the_error_and_writes_nothing(
    client, stock_clerk, stock_item, form, field, error
):
    client.force_login(stock_clerk)

    response = client.post(change_url(stock_item), form)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[field] == [error]
    stock_item.refresh_from_db()
    assert stock_item.available == 10
    assert not StockMovement.objects.exists()


def test_a_race_past_the_form_check_is_refused_by_the_service(client, stock_clerk, stock_item, monkeypatch):
    # given: the form saw 10 units, but a sale took 9 before the service ran
    from inventory.admin import StockItemAdjustForm

    real_clean = StockItemAdjustForm.clean

    def clean_then_sell(form):
        cleaned = real_clean(form)
        StockItem.objects.filter(pk=stock_item.pk).update(available=1)
        return cleaned

    monkeypatch.setattr(StockItemAdjustForm, "clean", clean_then_sell)
    client.force_login(stock_clerk)

    # when
    response = client.post(change_url(stock_item), adjustment(-5), follow=True)

    # then
    assert [str(m) for m in response.context["messages"]] == [
        f"Product {stock_item.product_id} has fewer than 5 units in stock; stock cannot go below zero."
    ]
    stock_item.refresh_from_db()
    assert stock_item.available == 1
    assert not StockMovement.objects.exists()


def test_the_change_form_does_not_edit_available_directly(client, stock_clerk, stock_item):
    client.force_login(stock_clerk)

    client.post(change_url(stock_item), {**adjustment(1), "available": "999"})

    stock_item.refresh_from_db()
    assert stock_item.available == 11


def test_staff_without_adjust_stock_cannot_adjust(client, stock_viewer, stock_item):
    client.force_login(stock_viewer)

    page = client.get(change_url(stock_item))
    response = client.post(change_url(stock_item), adjustment(-3))

    assert page.status_code == 200
    assert "adjust_by" not in page.content.decode()  # read-only page
    assert response.status_code == 403
    stock_item.refresh_from_db()
    assert stock_item.available == 10
    assert not StockMovement.objects.exists()


def test_staff_without_adjust_stock_cannot_add_stock_rows(client, stock_viewer, product):
    client.force_login(stock_viewer)

    response = client.post(ADD_URL, {"product": str(product.pk), **adjustment(5)})

    assert response.status_code == 403
    assert not StockItem.objects.exists()


def test_a_product_never_stocked_gets_its_row_through_an_adjustment(client, stock_clerk, product):
    client.force_login(stock_clerk)

    response = client.post(ADD_URL, {"product": str(product.pk), **adjustment(5, reason="First delivery")})

    assert response.status_code == 302
    assert StockItem.objects.get(product=product).available == 5
    assert list(StockMovement.objects.values_list("kind", "quantity", "reason", "actor_id")) == [
        (MovementKind.ADJUSTMENT, 5, "First delivery", stock_clerk.pk)
    ]


def test_the_stock_list_shows_products_and_filters_by_status(client, stock_clerk, django_assert_max_num_queries):
    # given
    StockItemFactory(product__title="Kettle", available=0)
    StockItemFactory(product__title="Mug", available=3)
    StockItemFactory(product__title="Teapot", available=30)
    client.force_login(stock_clerk)

    # when
    with django_assert_max_num_queries(10):
        everything = client.get(CHANGELIST_URL)
    low = client.get(CHANGELIST_URL, {"stock": "low_stock"})

    # then
    assert everything.status_code == 200
    assert [item.product.title for item in everything.context["cl"].result_list] == ["Kettle", "Mug", "Teapot"]
    assert [item.product.title for item in low.context["cl"].result_list] == ["Mug"]


def test_the_stock_list_searches_by_sku_and_title(client, stock_clerk):
    StockItemFactory(product__sku="KETTLE-1", product__title="Steel kettle")
    StockItemFactory(product__sku="MUG-2", product__title="Blue mug")
    client.force_login(stock_clerk)

    by_sku = client.get(CHANGELIST_URL, {"q": "KETTLE"})
    by_title = client.get(CHANGELIST_URL, {"q": "mug"})

    assert [item.product.sku for item in by_sku.context["cl"].result_list] == ["KETTLE-1"]
    assert [item.product.sku for item in by_title.context["cl"].result_list] == ["MUG-2"]


def test_the_ledger_is_read_only_in_admin(client, stock_clerk, superuser_client):
    movement = StockMovementFactory()
    client.force_login(stock_clerk)
    change = reverse("admin:inventory_stockmovement_change", args=[movement.pk])

    listing = client.get(reverse("admin:inventory_stockmovement_changelist"), {"kind": "restock"})
    edit = superuser_client.post(change, {"quantity": "99", "level_after": "99"})

    assert listing.status_code == 200
    assert [m.pk for m in listing.context["cl"].result_list] == [movement.pk]
    assert superuser_client.get(reverse("admin:inventory_stockmovement_add")).status_code == 403
    assert superuser_client.get(reverse("admin:inventory_stockmovement_delete", args=[movement.pk])).status_code == 403
    assert edit.status_code == 403
    movement.refresh_from_db()
    assert movement.quantity == 10


def test_the_stock_page_links_to_the_products_ledger(client, stock_clerk, stock_item):
    StockMovementFactory(product=stock_item.product, reason="Opening count")
    client.force_login(stock_clerk)

    page = client.get(change_url(stock_item)).content.decode()
    ledger = client.get(
        reverse("admin:inventory_stockmovement_changelist"), {"product__id__exact": stock_item.product_id}
    )

    assert "Opening count" in page
    assert f"?product__id__exact={stock_item.product_id}" in page
    assert ledger.status_code == 200
    assert len(ledger.context["cl"].result_list) == 1


def test_an_adjustment_first_shows_what_it_will_do_and_changes_nothing(client, stock_clerk, stock_item):
    """Issue 19, item 9: a stock change asks first, as Django's delete does."""
    client.force_login(stock_clerk)
    before = stock_item.available
    form = {k: v for k, v in adjustment(-3, reason="Stock count").items() if k != "_confirmed"}

    response = client.post(change_url(stock_item), form)

    html = response.content.decode()
    assert response.status_code == 200
    assert f"goes from {before} to {before - 3} units (-3)" in html and "“Stock count”" in html
    assert 'name="_confirmed" value="yes"' in html and f'name="adjustment_token" value="{form["adjustment_token"]}"' in html
    stock_item.refresh_from_db()
    assert stock_item.available == before and not StockMovement.objects.filter(reason="Stock count").exists()
    # the page's own post applies it
    client.post(change_url(stock_item), {**form, "_confirmed": "yes"})
    stock_item.refresh_from_db()
    assert stock_item.available == before - 3


def test_staff_set_a_products_low_stock_threshold_in_the_list_without_touching_stock(client, stock_clerk, stock_item):
    client.force_login(stock_clerk)
    form = {"form-TOTAL_FORMS": "1", "form-INITIAL_FORMS": "1", "form-0-id": str(stock_item.pk), "_save": "Save"}

    response = client.post(CHANGELIST_URL, {**form, "form-0-low_stock_threshold": "12"})
    stock_item.refresh_from_db()
    assert (response.status_code, stock_item.available, stock_item.low_stock_threshold) == (302, 10, 12)

    cleared = client.post(CHANGELIST_URL, {**form, "form-0-low_stock_threshold": ""})

    stock_item.refresh_from_db()
    assert (cleared.status_code, stock_item.available, stock_item.low_stock_threshold) == (302, 10, None)
    assert StockMovement.objects.count() == 0


def test_the_threshold_column_is_read_only_without_the_adjust_permission(client, stock_viewer, stock_item):
    client.force_login(stock_viewer)

    html = client.get(CHANGELIST_URL).content.decode()

    assert 'name="form-0-low_stock_threshold"' not in html
