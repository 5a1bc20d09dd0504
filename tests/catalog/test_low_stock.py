"""Issue 18: low-stock alerts for staff. A threshold per product (on its stock row) or the shop's
default decides what is "running out" on the dashboard and in the daily digest e-mailed to the
Fulfilment group: once per day however often the task runs, and nothing when nothing is low."""

from __future__ import annotations

import re
from datetime import date

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command

from catalog.models import LowStockDigest
from catalog.services.stock_alerts import send_low_stock_digest
from catalog.tasks import send_low_stock_digest_task
from inventory import selectors as inventory_selectors
from shop.dashboard import render_dashboard
from tests.accounts.factories import UserFactory
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockItemFactory

pytestmark = pytest.mark.django_db
DAY = date(2030, 6, 12)


def stocked(title: str, available: int, threshold: int | None = None):
    product = ProductFactory(title=title, sku=title.upper().replace(" ", "-"))
    StockItemFactory(product=product, available=available, low_stock_threshold=threshold)
    return product


def member(group: str, email: str, **fields):
    user = UserFactory(email=email, staff=True, **fields)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def shelves(settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 5
    return {
        "kettle": stocked("Kettle", 4),  # at or below the default 5: low
        "mug": stocked("Mug", 5),  # exactly the default: low
        "plate": stocked("Plate", 6),  # above the default: fine
        "pan": stocked("Pan", 15, threshold=20),  # its own threshold is higher: low
        "fork": stocked("Fork", 2, threshold=1),  # its own threshold is lower: fine
        "cup": stocked("Cup", 0),  # sold out: low
    }


@pytest.fixture
def fulfilment(db):
    return [member("Fulfilment", "packer@example.com"), member("Fulfilment", "lead@example.com")]


def listed(text: str) -> list[str]:
    return re.findall(r"^(\S+)  ", text, flags=re.MULTILINE)


def test_a_products_own_threshold_overrides_the_default(shelves):
    low = inventory_selectors.list_low_stock(limit=None)

    assert [(level.product_id, level.available, level.threshold) for level in low] == [
        (shelves["cup"].pk, 0, 5), (shelves["kettle"].pk, 4, 5), (shelves["mug"].pk, 5, 5), (shelves["pan"].pk, 15, 20),
    ]  # fmt: skip


def test_the_default_threshold_is_a_setting(shelves, settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 0

    assert [level.product_id for level in inventory_selectors.list_low_stock()] == [shelves["cup"].pk, shelves["pan"].pk]


def test_the_dashboard_lists_what_runs_out_by_each_products_threshold(shelves):
    html = render_dashboard(UserFactory(superuser=True))

    running_out = re.findall(r'<th scope="row">([^<]+) <small>[^<]+</small></th><td class="dashboard-figure">(\d+)<', html)
    assert running_out == [("Cup", "0"), ("Kettle", "4"), ("Mug", "5"), ("Pan", "15")]
    assert "5 units unless set on its stock" in html


def test_the_digest_lists_the_low_products_to_the_fulfilment_group(shelves, fulfilment):
    # given: people who must not get it
    member("Support", "support@example.com")
    member("Fulfilment", "gone@example.com", is_active=False)

    # when
    sent = send_low_stock_digest(day=DAY)

    # then
    assert sent is True
    (digest,) = mail.outbox
    assert sorted(digest.to) == ["lead@example.com", "packer@example.com"]
    assert digest.subject == "Shop: 4 products running low (2030-06-12)"
    assert listed(digest.body) == ["CUP", "KETTLE", "MUG", "PAN"]
    assert "PAN  Pan: 15 left (threshold 20)" in digest.body
    html = digest.alternatives[0][0]
    assert "<td>Pan <small>(PAN)</small></td><td style=\"text-align: right;\">15</td>" in html
    assert "Plate" not in digest.body and "Fork" not in digest.body
    assert LowStockDigest.objects.values_list("day", "products", "recipients").get() == (DAY, 4, 2)


def test_the_digest_is_sent_once_a_day_however_often_it_runs(shelves, fulfilment):
    assert [send_low_stock_digest(day=DAY) for _ in range(2)] == [True, False]
    assert send_low_stock_digest(day=date(2030, 6, 13)) is True

    assert len(mail.outbox) == 2


def test_no_digest_when_nothing_is_low(fulfilment, settings):
    settings.INVENTORY_LOW_STOCK_THRESHOLD = 5
    stocked("Plate", 6)
    stocked("Fork", 2, threshold=1)

    assert send_low_stock_digest(day=DAY) is False
    assert mail.outbox == [] and LowStockDigest.objects.count() == 0


def test_the_beat_task_and_the_command_send_todays_digest_once(shelves, fulfilment):
    assert django_settings.CELERY_BEAT_SCHEDULE["low-stock-digest"]["task"] == send_low_stock_digest_task.name

    send_low_stock_digest_task.delay()
    call_command("send_low_stock_digest")

    assert len(mail.outbox) == 1
