"""Issue 18: support staff write notes in an order's history, in admin; staff read them there, and
the customer never sees them (order page, API)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from rest_framework.test import APIClient

from orders.models import OrderEvent, OrderEventKind
from tests.accounts.factories import UserFactory

pytestmark = pytest.mark.django_db
NOTE = "Customer called: leave the parcel with the neighbour at no. 12."


@pytest.fixture
def support(db):
    agent = UserFactory(staff=True, email="agent@example.com")
    agent.groups.add(Group.objects.get(name="Support"))
    return agent


def note_url(order) -> str:
    return reverse("admin:orders_order_note", args=[order.pk])


def change_url(order) -> str:
    return reverse("admin:orders_order_change", args=[order.pk])


def test_support_adds_a_note_that_staff_read_in_the_history(client, support, shipped):
    client.force_login(support)
    assert "Add a note" in client.get(change_url(shipped)).content.decode()
    response = client.post(note_url(shipped), {"text": f"  {NOTE}  "})
    assert (response.status_code, response.url) == (302, change_url(shipped))
    note = OrderEvent.objects.get(order=shipped, kind=OrderEventKind.STAFF_NOTE)
    assert (note.actor, note.message) == (support, NOTE)
    history = client.get(change_url(shipped)).content.decode()
    assert f"Note by agent@example.com (staff only): {NOTE}" in history.replace("&#x27;", "'")


def test_the_customer_never_sees_a_note(client, support, customer, shipped):
    client.force_login(support)
    client.post(note_url(shipped), {"text": NOTE})
    client.force_login(customer)
    page = client.get(reverse("orders:detail", args=[shipped.number])).content.decode()
    api = APIClient()
    api.force_authenticate(customer)
    body = api.get(f"/api/v1/orders/{shipped.number}").content.decode()
    assert "neighbour" not in page and "neighbour" not in body


@pytest.mark.parametrize("text", ["   ", "x" * 1001], ids=["empty", "too-long"])
def test_an_empty_or_too_long_note_is_refused_and_nothing_is_written(client, support, shipped, text):
    client.force_login(support)
    response = client.post(note_url(shipped), {"text": text})
    assert response.status_code == 400
    assert "errornote" in response.content.decode()
    assert not OrderEvent.objects.filter(kind=OrderEventKind.STAFF_NOTE).exists()


def test_staff_without_the_note_permission_get_no_button_and_403(client, shipped):
    viewer = UserFactory(staff=True)
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="orders", codename="view_order"))
    client.force_login(viewer)
    assert "Add a note" not in client.get(change_url(shipped)).content.decode()
    assert client.post(note_url(shipped), {"text": NOTE}).status_code == 403
    assert not OrderEvent.objects.filter(kind=OrderEventKind.STAFF_NOTE).exists()
