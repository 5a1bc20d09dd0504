"""POST /api/v1/stock-updates: seller systems set stock levels by SKU, applied once, in the background."""

from datetime import timedelta
from functools import partial

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.api.stock_updates import _enqueue
from inventory.models import StockItem, StockMovement
from tests.cache_helpers import clear_cache
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockItemFactory

URL = "/api/v1/stock-updates"

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.inventory.urls")]


def send(client, body, django_capture_on_commit_callbacks, **kwargs):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(URL, body, format="json", **kwargs)
    return response, callbacks


def stock_of(product) -> int:
    return StockItem.objects.get(product=product).available


def test_a_batch_is_accepted_with_a_status_per_update_and_applied(seller_api, django_capture_on_commit_callbacks):
    # given
    kettle = StockItemFactory(product=ProductFactory(sku="KETTLE-1"), available=10).product
    mug = ProductFactory(sku="MUG-2")
    body = {
        "updates": [
            {"update_id": "u1", "sku": "KETTLE-1", "quantity": 4},
            {"update_id": "u2", "sku": "NOPE-404", "quantity": 7},
            {"update_id": "u3", "sku": "MUG-2", "quantity": 12},
        ]
    }

    # when
    response, callbacks = send(seller_api, body, django_capture_on_commit_callbacks)

    # then
    assert response.status_code == 202
    assert response.json() == {
        "accepted": 2,
        "results": [
            {"update_id": "u1", "sku": "KETTLE-1", "status": "queued"},
            {"update_id": "u2", "sku": "NOPE-404", "status": "unknown_sku"},
            {"update_id": "u3", "sku": "MUG-2", "status": "queued"},
        ],
    }
    # one task for the whole batch (the mug, from 0 to 12, also has its back-in-stock outbox message sent)
    assert [callback.func for callback in callbacks if isinstance(callback, partial)] == [_enqueue]
    assert (stock_of(kettle), stock_of(mug)) == (4, 12)
    prefix = seller_api.api_key.prefix
    assert sorted(StockMovement.objects.values_list("kind", "cause", "quantity", "level_after")) == [
        ("feed", f"feed:apikey:{prefix}:u1", -6, 4),
        ("feed", f"feed:apikey:{prefix}:u3", 12, 12),
    ]


def test_a_batch_of_unknown_skus_only_queues_nothing(seller_api, django_capture_on_commit_callbacks):
    body = {"updates": [{"update_id": "u1", "sku": "NOPE-404", "quantity": 7}]}

    response, callbacks = send(seller_api, body, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 0,
        "results": [{"update_id": "u1", "sku": "NOPE-404", "status": "unknown_sku"}],
    }
    assert callbacks == []
    assert not StockMovement.objects.exists()


def test_a_resent_batch_applies_once(seller_api, django_capture_on_commit_callbacks):
    # given: the batch was applied, then stock moved on
    item = StockItemFactory(product=ProductFactory(sku="KETTLE-1"), available=10)
    body = {"updates": [{"update_id": "u1", "sku": "KETTLE-1", "quantity": 4}]}
    send(seller_api, body, django_capture_on_commit_callbacks)
    StockItem.objects.filter(pk=item.pk).update(available=9)

    # when: the seller sends the same batch again (say, after a timeout)
    response, _ = send(seller_api, body, django_capture_on_commit_callbacks)

    # then
    assert response.status_code == 202
    assert response.json()["results"] == [{"update_id": "u1", "sku": "KETTLE-1", "status": "queued"}]
    assert stock_of(item.product) == 9
    assert StockMovement.objects.count() == 1


def test_two_sellers_may_use_the_same_update_id(seller_api, other_seller_api, django_capture_on_commit_callbacks):
    item = StockItemFactory(product=ProductFactory(sku="KETTLE-1"), available=10)

    send(
        seller_api,
        {"updates": [{"update_id": "u1", "sku": "KETTLE-1", "quantity": 4}]},
        django_capture_on_commit_callbacks,
    )
    send(
        other_seller_api,
        {"updates": [{"update_id": "u1", "sku": "KETTLE-1", "quantity": 6}]},
        django_capture_on_commit_callbacks,
    )

    assert stock_of(item.product) == 6
    assert StockMovement.objects.count() == 2


def assert_refused_and_nothing_queued(client, django_capture_on_commit_callbacks) -> None:
    """One update of KETTLE-1 sent with this client's key is a 403; no task, no stock row."""
    ProductFactory(sku="KETTLE-1")
    response, callbacks = send(
        client,
        {"updates": [{"update_id": "u1", "sku": "KETTLE-1", "quantity": 4}]},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert callbacks == []
    assert not StockItem.objects.exists()


def test_a_key_without_the_stock_scope_is_refused(warehouse_api, django_capture_on_commit_callbacks):
    assert_refused_and_nothing_queued(warehouse_api, django_capture_on_commit_callbacks)


@pytest.mark.parametrize("authorization", [None, "Api-Key AbCdEfGh.not-a-real-key", "Bearer some.jwt.token"])
def test_a_missing_or_unknown_key_is_refused_with_403(authorization, django_capture_on_commit_callbacks):
    ProductFactory(sku="KETTLE-1")
    client = APIClient()
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response, callbacks = send(
        client,
        {"updates": [{"update_id": "u1", "sku": "KETTLE-1", "quantity": 4}]},
        django_capture_on_commit_callbacks,
        **headers,
    )

    # No authentication classes on this view, so DRF answers 403 (not 401) without a usable key.
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert callbacks == []


def _line(n: int, **overrides) -> dict:
    return {"update_id": f"u{n}", "sku": "KETTLE-1", "quantity": 1, **overrides}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"updates": []}, {"updates": ["This list may not be empty."]}),
        ({}, {"updates": ["This field is required."]}),
        (
            {"updates": [_line(n) for n in range(501)]},
            {"updates": ["Ensure this field has no more than 500 elements."]},
        ),
        (
            {"updates": [_line(1, quantity=-1)]},
            {"updates.0.quantity": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            {"updates": [_line(1, quantity=1_000_001)]},
            {"updates.0.quantity": ["Ensure this value is less than or equal to 1000000."]},
        ),
        ({"updates": [_line(1, quantity="many")]}, {"updates.0.quantity": ["A valid integer is required."]}),
        ({"updates": [_line(1, update_id="")]}, {"updates.0.update_id": ["This field may not be blank."]}),
        (
            {"updates": [_line(1, update_id="x" * 101)]},
            {"updates.0.update_id": ["Ensure this field has no more than 100 characters."]},
        ),
        ({"updates": [_line(1), {"update_id": "u2", "quantity": 3}]}, {"updates.1.sku": ["This field is required."]}),
        (
            {"updates": [_line(1), _line(2), _line(1), _line(2), _line(3)]},
            {"updates": ["Each update_id may appear once per batch; repeated: u1, u2."]},
        ),
    ],
    ids=[
        "empty",
        "no-updates",
        "501-updates",
        "negative-quantity",
        "huge-quantity",
        "text-quantity",
        "blank-update-id",
        "long-update-id",
        "missing-sku",
        "duplicate-update-ids",
    ],
)
def test_an_invalid_batch_is_refused_naming_the_field_and_changes_nothing(
    seller_api, django_capture_on_commit_callbacks, body, fields
):
    StockItemFactory(product=ProductFactory(sku="KETTLE-1"), available=10)

    response, callbacks = send(seller_api, body, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["fields"] == fields
    assert callbacks == []
    assert not StockMovement.objects.exists()


def test_a_batch_of_exactly_500_updates_is_accepted(seller_api, django_capture_on_commit_callbacks):
    ProductFactory(sku="KETTLE-1")

    response, _ = send(seller_api, {"updates": [_line(n) for n in range(500)]}, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    assert response.json()["accepted"] == 500
    assert StockMovement.objects.count() == 500


def test_a_body_that_is_not_json_is_refused(seller_api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = seller_api.post(URL, data="updates=1", content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"
    assert callbacks == []


def test_a_form_encoded_body_is_refused_as_unsupported(seller_api):
    response = seller_api.post(URL, data={"updates": "1"})

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_the_feed_is_throttled_per_key(seller_api, other_seller_api, settings, django_capture_on_commit_callbacks):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "stock_feed": "2/minute"}
    clear_cache()
    ProductFactory(sku="KETTLE-1")
    body = {"updates": [_line(1)]}

    statuses = [send(seller_api, body, django_capture_on_commit_callbacks)[0].status_code for _ in range(3)]
    other = send(other_seller_api, body, django_capture_on_commit_callbacks)[0]

    assert statuses == [202, 202, 429]
    assert other.status_code == 202  # another seller's key has its own budget


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_answers_503_so_the_seller_sends_the_batch_again(seller_api, monkeypatch):
    from kombu.exceptions import OperationalError

    from inventory.tasks import apply_stock_updates_task

    def broker_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(apply_stock_updates_task, "delay", broker_down)
    ProductFactory(sku="KETTLE-1")

    response = seller_api.post(URL, {"updates": [_line(1)]}, format="json")

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stock_feed_unavailable"
    assert not StockMovement.objects.exists()


@pytest.mark.parametrize("state", ["expired", "revoked"])
def test_an_expired_or_revoked_key_is_refused(seller_api, state, django_capture_on_commit_callbacks):
    # given: a key that held the scope, now expired a minute ago (or revoked)
    if state == "expired":
        seller_api.api_key.expiry_date = timezone.now() - timedelta(minutes=1)
    else:
        seller_api.api_key.revoked = True
    seller_api.api_key.save()
    # then
    assert_refused_and_nothing_queued(seller_api, django_capture_on_commit_callbacks)
