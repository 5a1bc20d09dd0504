"""Issue 18: back-in-stock alerts. A visitor leaves an address on a sold-out product (page or API);
a guest confirms it by an e-mailed link first; when the product is back each subscriber gets one
e-mail, however often the stock update or its message is delivered; a signed link unsubscribes."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.utils import timezone
from rest_framework.test import APIClient

from catalog.models import StockAlert, StockAlertEmail
from catalog.services import stock_alerts
from inventory import services as inventory
from inventory.services import StockUpdate
from orders import services as order_services
from shop import outbox
from shop.models import OutboxMessage
from tests.accounts.factories import UserFactory
from tests.api_helpers import error_of
from tests.catalog.factories import ProductFactory
from tests.concurrency import run_concurrently
from tests.inventory.factories import StockItemFactory
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db

BACK = "is back in stock"  # in the alert e-mail's subject
CONFIRM = "confirm your alert"  # in the confirmation e-mail's subject


@pytest.fixture
def kettle(db):
    """A sold-out product (its stock row at 0)."""
    return StockItemFactory(product=ProductFactory(title="Steel kettle", slug="steel-kettle"), available=0).product


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a block leaves for after commit (outbox sends, eager tasks), as production does."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def url_for(product) -> str:
    return f"/api/v1/products/{product.pk}/stock-alerts"


def verified_customer(email: str = "ada@example.com"):
    return UserFactory(email=email, email_verified_at=timezone.now())


def signed_in(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def restock(product, run_on_commit, *, quantity: int = 5, cause: str = "delivery:1"):
    with run_on_commit():
        return inventory.restock(product_id=product.pk, quantity=quantity, cause=cause)


def subjects(to: str | None = None) -> list[str]:
    return [m.subject for m in mail.outbox if to is None or m.to == [to]]


def link_in(message, path: str) -> str:
    """The path of the shop link starting with `path` in an e-mail's text."""
    return re.search(rf"https?://[^/\s]+({re.escape(path)}[^\s]+/)", message.body).group(1)


def subscribe_guest(client, product, email: str, run_on_commit):
    with run_on_commit():
        return client.post(url_for(product), {"email": email}, format="json")


def confirmed_guest(client, product, email: str, run_on_commit) -> None:
    """A guest who subscribed and used the confirmation link."""
    subscribe_guest(client, product, email, run_on_commit)
    with run_on_commit():
        client.post(link_in(mail.outbox[-1], "/stock-alerts/confirm/"))


# --- Double opt-in ---------------------------------------------------------------------------


def test_a_guest_gets_a_confirmation_link_and_nothing_else_before_using_it(client, kettle, run_on_commit):
    # when
    response = subscribe_guest(APIClient(), kettle, " Grace@Example.COM ", run_on_commit)
    restock(kettle, run_on_commit)

    # then
    assert (response.status_code, response.json()) == (
        202,
        {"product_id": kettle.pk, "email": "grace@example.com", "status": "pending_confirmation"},
    )
    assert len(mail.outbox) == 1
    assert CONFIRM in mail.outbox[0].subject.lower()
    assert mail.outbox[0].to == ["grace@example.com"]
    assert StockAlert.objects.get().notified_at is None  # an unconfirmed address is not told


def test_the_confirmation_email_comes_first_then_one_alert_when_back(client, kettle, run_on_commit):
    # given
    subscribe_guest(APIClient(), kettle, "grace@example.com", run_on_commit)
    confirm_path = link_in(mail.outbox[0], "/stock-alerts/confirm/")

    # when: the link shows a button (a mail scanner's GET confirms nothing), the POST confirms
    page = client.get(confirm_path)
    assert StockAlert.objects.get().confirmed_at is None
    with run_on_commit():
        done = client.post(confirm_path)
    restock(kettle, run_on_commit)

    # then
    assert page.status_code == 200 and "Confirm grace@example.com" in page.content.decode()
    assert "Alert confirmed" in done.content.decode()
    assert [s.lower() for s in subjects()] == [mail.outbox[0].subject.lower(), f"shop: steel kettle {BACK}"]
    alert_mail = mail.outbox[1]
    assert alert_mail.to == ["grace@example.com"]
    assert "/p/steel-kettle/" in alert_mail.body
    assert link_in(alert_mail, "/stock-alerts/unsubscribe/")
    assert alert_mail.extra_headers["List-Unsubscribe"].startswith("<http")
    assert "Steel kettle is back in stock" in alert_mail.alternatives[0][0]
    assert StockAlert.objects.get().notified_at is not None


def test_a_guest_who_confirms_after_the_product_came_back_is_told_at_once(client, kettle, run_on_commit):
    subscribe_guest(APIClient(), kettle, "grace@example.com", run_on_commit)
    restock(kettle, run_on_commit)
    assert len(mail.outbox) == 1  # the confirmation only

    with run_on_commit():
        client.post(link_in(mail.outbox[0], "/stock-alerts/confirm/"))

    assert subjects("grace@example.com")[-1] == f"Shop: Steel kettle {BACK}"
    assert len(mail.outbox) == 2


def test_a_signed_in_customer_with_a_verified_address_subscribes_with_one_click(kettle, run_on_commit):
    # when
    with run_on_commit():
        response = signed_in(verified_customer()).post(url_for(kettle))
    assert mail.outbox == []  # no confirmation needed
    restock(kettle, run_on_commit)

    # then
    assert (response.status_code, response.json()["status"]) == (201, "active")
    assert subjects() == [f"Shop: Steel kettle {BACK}"]
    assert mail.outbox[0].to == ["ada@example.com"]


def test_a_signed_in_customer_with_an_unverified_address_confirms_it_first(kettle, run_on_commit):
    with run_on_commit():
        response = signed_in(UserFactory(email="bob@example.com")).post(url_for(kettle))
    restock(kettle, run_on_commit)

    assert (response.status_code, response.json()["status"]) == (201, "pending_confirmation")
    assert len(mail.outbox) == 1 and CONFIRM in mail.outbox[0].subject.lower()


def test_subscribing_twice_is_one_subscription(kettle, run_on_commit):
    # given
    guest, customer = APIClient(), signed_in(verified_customer())

    # when
    first, second = (subscribe_guest(guest, kettle, "grace@example.com", run_on_commit) for _ in range(2))
    with run_on_commit():
        mine = [customer.post(url_for(kettle)).status_code for _ in range(2)]

    # then
    assert (first.status_code, second.status_code) == (202, 202)  # a guest learns nothing about the address
    assert mine == [201, 200]
    assert StockAlert.objects.count() == 2
    assert len(mail.outbox) == 1  # one confirmation for the guest's one subscription


# --- Exactly one e-mail per subscriber ------------------------------------------------------------


def test_each_subscriber_gets_one_email_when_the_back_in_stock_message_is_delivered_twice(kettle, run_on_commit):
    # given: three confirmed subscribers
    for name in ("ada", "bob", "eve"):
        with run_on_commit():
            signed_in(verified_customer(f"{name}@example.com")).post(url_for(kettle))
    restock(kettle, run_on_commit)
    message = OutboxMessage.objects.get(topic=inventory.BACK_IN_STOCK)

    # when: the relay sends the same message again (the broker took it, the process died before marking it)
    OutboxMessage.objects.filter(pk=message.pk).update(dispatched_at=None)
    with run_on_commit():
        assert outbox.dispatch(message_ids=[message.pk]) == 1

    # then
    assert sorted(m.to[0] for m in mail.outbox) == ["ada@example.com", "bob@example.com", "eve@example.com"]
    assert StockAlertEmail.objects.filter(sent_at__isnull=False).count() == 3


def test_a_seller_feed_delivered_twice_emails_each_subscriber_once(kettle, run_on_commit):
    with run_on_commit():
        signed_in(verified_customer()).post(url_for(kettle))
    update = StockUpdate(update_id="u-1", product_id=kettle.pk, quantity=12)

    for _ in range(2):
        with run_on_commit():
            inventory.apply_stock_updates(source="apikey:acme", updates=[update])

    assert subjects() == [f"Shop: Steel kettle {BACK}"]
    assert OutboxMessage.objects.filter(topic=inventory.BACK_IN_STOCK).count() == 1


def test_an_email_task_run_twice_sends_once(kettle, run_on_commit):
    with run_on_commit():
        signed_in(verified_customer()).post(url_for(kettle))
    restock(kettle, run_on_commit)
    alert = StockAlert.objects.get()

    assert stock_alerts.send_stock_alert_email(alert_id=alert.pk, kind="back_in_stock") is False
    assert len(mail.outbox) == 1


def test_a_cancelled_orders_release_from_zero_emails_the_subscribers(run_on_commit):
    # given: the last 2 kettles are allocated to an order, and a customer waits for more
    kettle = StockItemFactory(product=ProductFactory(title="Steel kettle"), available=2).product
    order = placed_order({kettle: 2})
    with run_on_commit():
        order_services.allocate_until_decided(order_id=order.pk)
        signed_in(verified_customer()).post(url_for(kettle))
    assert subjects("ada@example.com") == [] and StockAlert.objects.get().confirmed_at is not None

    # when
    with run_on_commit():
        order_services.cancel_order(order_id=order.pk, reason="changed my mind")

    # then
    assert subjects("ada@example.com") == [f"Shop: Steel kettle {BACK}"]


# --- Unsubscribing and the end of a subscription -------------------------------------------------


def test_no_email_after_unsubscribing_by_the_signed_link_without_logging_in(client, kettle, run_on_commit):
    # given: a confirmed guest
    confirmed_guest(APIClient(), kettle, "grace@example.com", run_on_commit)
    unsubscribe_path = link_in(mail.outbox[0], "/stock-alerts/unsubscribe/")

    # when
    asked = client.get(unsubscribe_path)
    stopped = client.post(unsubscribe_path)
    restock(kettle, run_on_commit)

    # then
    assert "Stop the alert?" in asked.content.decode()
    assert "Alert stopped" in stopped.content.decode()
    assert len(mail.outbox) == 1  # the confirmation only
    assert StockAlert.objects.get().unsubscribed_at is not None


def test_an_alert_queued_before_unsubscribing_is_never_sent(kettle, run_on_commit):
    # given: the alert is due (its subscription ended, its message waiting for a worker)
    with run_on_commit():
        signed_in(verified_customer()).post(url_for(kettle))
    inventory.restock(product_id=kettle.pk, quantity=5, cause="delivery:1")  # after-commit work not run
    assert stock_alerts.notify_back_in_stock(product_id=kettle.pk) == 1
    alert = StockAlert.objects.get()

    # when
    stock_alerts.unsubscribe_from_stock_alert(token=link_in_token(alert))

    # then
    assert stock_alerts.send_stock_alert_email(alert_id=alert.pk, kind="back_in_stock") is False
    assert mail.outbox == []


def link_in_token(alert) -> str:
    return stock_alerts.unsubscribe_url(alert).rstrip("/").rsplit("/", 1)[1]


def test_a_forged_link_is_a_400_page_and_changes_nothing(client, kettle, run_on_commit):
    with run_on_commit():
        signed_in(verified_customer()).post(url_for(kettle))
    token = link_in_token(StockAlert.objects.get())

    for path in (f"/stock-alerts/unsubscribe/{token}x/", f"/stock-alerts/confirm/{token}/"):  # altered; wrong purpose
        response = client.post(path)
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert StockAlert.objects.get().unsubscribed_at is None


def test_a_subscriber_is_told_once_and_a_later_sell_out_and_restock_tells_nobody(kettle, run_on_commit):
    # given: told once
    with run_on_commit():
        signed_in(verified_customer()).post(url_for(kettle))
    restock(kettle, run_on_commit)

    # when: sold out again, then back again
    with run_on_commit():
        inventory.adjust(product_id=kettle.pk, delta=-5, reason="stock count", actor=None, cause="count:1")
    restock(kettle, run_on_commit, cause="delivery:2")

    # then: the subscription ended with the first e-mail; the message of the second return finds nobody
    assert subjects() == [f"Shop: Steel kettle {BACK}"]
    assert OutboxMessage.objects.filter(topic=inventory.BACK_IN_STOCK).count() == 2


def test_subscribing_again_after_an_alert_is_a_new_subscription(kettle, run_on_commit):
    customer = signed_in(verified_customer())
    with run_on_commit():
        customer.post(url_for(kettle))
    restock(kettle, run_on_commit)
    with run_on_commit():
        inventory.adjust(product_id=kettle.pk, delta=-5, reason="stock count", actor=None, cause="count:1")
        assert customer.post(url_for(kettle)).status_code == 201
    restock(kettle, run_on_commit, cause="delivery:2")

    assert subjects() == [f"Shop: Steel kettle {BACK}"] * 2
    assert StockAlert.objects.filter(notified_at__isnull=False).count() == 2


# --- The API's refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [({}, "This field is required."), ({"email": "not-an-address"}, "Enter a valid email address.")],
    ids=["missing", "malformed"],
)
def test_a_guest_without_a_valid_address_is_a_400_naming_email(kettle, body, reason):
    response = APIClient().post(url_for(kettle), body, format="json")

    assert response.status_code == 400
    assert error_of(response)["fields"] == {"email": [reason]}
    assert StockAlert.objects.count() == 0 and mail.outbox == []


def test_an_unknown_or_inactive_product_is_a_404(kettle):
    hidden = StockItemFactory(product=ProductFactory(is_active=False), available=0).product

    for product_id in (hidden.pk, 999_999):
        response = APIClient().post(f"/api/v1/products/{product_id}/stock-alerts", {"email": "a@x.com"}, format="json")
        assert (response.status_code, error_of(response)["code"]) == (404, "product_not_found")
    assert StockAlert.objects.count() == 0


def test_a_product_in_stock_is_a_409(kettle, run_on_commit):
    restock(kettle, run_on_commit)

    response = APIClient().post(url_for(kettle), {"email": "a@example.com"}, format="json")

    assert (response.status_code, error_of(response)["code"]) == (409, "product_in_stock")
    assert StockAlert.objects.count() == 0


def test_the_endpoint_is_throttled_with_its_own_scope(kettle, settings):
    settings.API_THROTTLE_RATES = {**settings.API_THROTTLE_RATES, "stock_alerts": "2/hour"}
    client = APIClient()

    statuses = [client.post(url_for(kettle), {"email": f"{n}@example.com"}, format="json").status_code for n in range(3)]

    assert statuses == [202, 202, 429]
    assert StockAlert.objects.count() == 2


def test_the_schema_documents_every_status_the_endpoint_answers(client):
    import yaml

    schema = yaml.safe_load(client.get("/api/schema/").content)
    operation = schema["paths"]["/api/v1/products/{product_id}/stock-alerts"]["post"]

    assert set(operation["responses"]) == {"200", "201", "202", "400", "401", "403", "404", "409", "429"}


# --- The product page ------------------------------------------------------------------------------


def test_the_product_page_offers_the_alert_only_when_out_of_stock(client, kettle, run_on_commit):
    sold_out = client.get(kettle.get_absolute_url()).content.decode()
    restock(kettle, run_on_commit)
    in_stock = client.get(kettle.get_absolute_url()).content.decode()

    assert 'action="/p/steel-kettle/stock-alert/"' in sold_out and 'name="email"' in sold_out
    assert "stock-alert" not in in_stock


def test_a_guest_subscribes_on_the_product_page(client, kettle, run_on_commit):
    with run_on_commit():
        response = client.post("/p/steel-kettle/stock-alert/", {"email": "grace@example.com"}, follow=True)

    assert response.redirect_chain == [("/p/steel-kettle/", 302)]
    assert "We sent a link to grace@example.com" in response.content.decode()
    assert StockAlert.objects.get().email == "grace@example.com"
    assert len(mail.outbox) == 1


def test_a_signed_in_customer_subscribes_on_the_product_page_with_one_click(client, kettle, run_on_commit):
    client.force_login(verified_customer())
    page = client.get(kettle.get_absolute_url()).content.decode()
    with run_on_commit():
        response = client.post("/p/steel-kettle/stock-alert/", follow=True)

    assert 'name="email"' not in page and "E-mail me when it is back" in page
    assert "One e-mail to ada@example.com" in page
    assert "We will e-mail ada@example.com once" in response.content.decode()
    assert StockAlert.objects.get().confirmed_at is not None


def test_a_bad_address_on_the_product_page_says_why_and_subscribes_nobody(client, kettle):
    response = client.post("/p/steel-kettle/stock-alert/", {"email": "nope"}, follow=True)

    assert "Enter a valid email address." in response.content.decode()
    assert StockAlert.objects.count() == 0



# --- Races on PostgreSQL ---------------------------------------------------------------------------


def confirmed_subscribers(product, count: int) -> list[str]:
    emails = [f"waiting{n}@example.com" for n in range(count)]
    StockAlert.objects.bulk_create(
        [StockAlert(product=product, email=email, confirmed_at=timezone.now()) for email in emails]
    )
    return emails


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_restocks_racing_email_each_subscriber_once():
    # given
    kettle = StockItemFactory(product=ProductFactory(title="Steel kettle"), available=0).product
    emails = confirmed_subscribers(kettle, 5)

    # when: two deliveries booked at once (their after-commit sends and the e-mail tasks run eagerly)
    run_concurrently(lambda i: inventory.restock(product_id=kettle.pk, quantity=5, cause=f"delivery:{i}"), count=2)

    # then
    assert sorted(m.to[0] for m in mail.outbox) == emails
    assert OutboxMessage.objects.filter(topic=inventory.BACK_IN_STOCK).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_consumed_by_two_workers_at_once_emails_each_subscriber_once():
    # given: the product is back and its message is delivered to two workers
    kettle = StockItemFactory(product=ProductFactory(title="Steel kettle"), available=3).product
    emails = confirmed_subscribers(kettle, 40)

    # when
    counts = run_concurrently(lambda i: stock_alerts.notify_back_in_stock(product_id=kettle.pk), count=2)

    # then: the rows one worker locked, the other skipped; none was ended or e-mailed twice
    assert sum(counts) == 40
    assert sorted(m.to[0] for m in mail.outbox) == sorted(emails)
    assert StockAlertEmail.objects.filter(sent_at__isnull=False).count() == 40


def test_staff_see_who_waits_for_a_product_in_admin(client, kettle, run_on_commit):
    subscribe_guest(APIClient(), kettle, "grace@example.com", run_on_commit)
    client.force_login(UserFactory(superuser=True))

    html = client.get("/admin/catalog/stockalert/").content.decode()

    assert "grace@example.com" in html and "Steel kettle" in html
