"""Back-in-stock alerts for customers, and the daily low-stock digest for staff.

Back in stock (docs/catalog.md, "Stock alerts"):

- `subscribe_to_stock_alert`: a visitor leaves an address for a sold-out product (a signed-in
  customer, one click). One open subscription per product and address. A guest's address (or an
  account's unverified one) gets a confirmation link first; nothing else is sent to it before
  the link is used. A verified account's address is confirmed at once.
- Inventory publishes `stock.back_in_stock` (outbox) when an applied change takes a product from
  0 units to more; `notify_back_in_stock` consumes it: every confirmed open subscription of the
  product is ended (`notified_at`) and gets one e-mail, written as a log row and an outbox
  message in the same transaction, so a redelivered message or two racing consumers never mark
  (or e-mail) a subscriber twice. A subscription is notified once and ends there: a later
  sell-out and restock tells nobody who has not subscribed again.
- `send_stock_alert_email` sends one e-mail through the shared claim (shop.email_claims); one for
  a subscription unsubscribed meanwhile is dropped, never sent.
- Confirm and unsubscribe links are signed (django.core.signing, salted per purpose, like the
  guest order links and the e-mail verification links); they work without logging in.

Low stock: `send_low_stock_digest` e-mails the members of the Fulfilment group the products at or
below their threshold (inventory's), once per day (a row per day, claimed), nothing when none is low.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import selectors as accounts_selectors
from accounts.emails import same_email
from catalog import selectors
from catalog.models import LowStockDigest, Product, StockAlert, StockAlertEmail, StockAlertEmailKind
from inventory import selectors as inventory_selectors
from shop import email_claims, outbox
from shop.email_addresses import normalize_email
from shop.exceptions import DomainError
from shop.templating import render_text

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

STOCK_ALERT_EMAIL = "stock_alert.email"  # outbox topic: send one stock alert e-mail (catalog.send_stock_alert_email)
NOTIFY_BATCH = 500  # subscriptions ended and e-mailed per transaction
CONFIRM_SALT = "catalog.stock-alert.confirm"
UNSUBSCRIBE_SALT = "catalog.stock-alert.unsubscribe"
UNSUBSCRIBE_LINK_MAX_AGE = 60 * 60 * 24 * 365  # a year: a product may stay sold out for months
FULFILMENT_GROUP = "Fulfilment"  # accounts.staff.STAFF_GROUPS: who gets the low-stock digest
DIGEST_MAX_PRODUCTS = 500  # listed in one digest, fewest units first; the admin's stock list has the rest


class StockAlertRefused(DomainError):
    code = "invalid"
    default_message = "The subscription is not valid."


class ProductInStock(DomainError):
    code = "product_in_stock"
    status_code = 409
    default_message = "This product is in stock: order it now, no alert is needed."


class InvalidStockAlertLink(DomainError):
    code = "invalid_stock_alert_link"
    default_message = "This link is not valid or has expired. Subscribe again on the product's page."


@dataclass(frozen=True)
class Subscription:
    """The outcome of a subscribe: the subscription, whether it is new, and whether it waits for
    its address to be confirmed."""

    alert: StockAlert
    created: bool

    @property
    def confirmed(self) -> bool:
        return self.alert.confirmed_at is not None


def subscribe_to_stock_alert(*, product_id: int, email: str = "", user: User | None = None) -> Subscription:
    """Subscribe `email` (or, when blank, the signed-in user's address) to the product's return.

    Durable transaction. Subscribing an address with an open subscription changes nothing (the
    same subscription is returned, created=False), except that a verified account confirms it.
    Raises ProductNotFound (unknown or inactive), ProductInStock (409), StockAlertRefused (field
    "email": none given to a guest).
    """
    signed_in = user is not None and user.is_authenticated
    email = normalize_email(email) or (normalize_email(user.email) if signed_in else "")
    if not email:
        raise StockAlertRefused("Give the e-mail address to tell.", fields={"email": ["This field is required."]})
    if not Product.objects.filter(pk=product_id, is_active=True).exists():
        raise selectors.ProductNotFound()
    if inventory_selectors.get_level(product_id=product_id) > 0:
        raise ProductInStock()
    verified = signed_in and user.email_verified_at is not None and same_email(user.email, email)
    with transaction.atomic(durable=True):
        alert, created = _open_alert(product_id=product_id, email=email, user=user if signed_in else None)
        if verified and alert.confirmed_at is None:
            alert.confirmed_at = timezone.now()
            alert.save(update_fields=["confirmed_at"])
        elif created and not verified:
            outbox.publish_all(_emails_due([alert.pk], StockAlertEmailKind.CONFIRM))
        if alert.confirmed_at is not None:
            _catch_up_after_commit(product_id)
    return Subscription(alert=alert, created=created)


def confirm_stock_alert(*, token: str) -> StockAlert:
    """Confirm a subscription's address from the e-mailed link. Durable transaction; idempotent (a
    confirmed one stays as it is). If the product came back meanwhile, its alert goes out now.
    Raises InvalidStockAlertLink (forged, expired, or the subscription ended)."""
    alert_id = _read_token(token, salt=CONFIRM_SALT, max_age=settings.CATALOG_STOCK_ALERT_CONFIRM_MAX_AGE)
    with transaction.atomic(durable=True):
        alert = StockAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None or alert.unsubscribed_at is not None:
            raise InvalidStockAlertLink()
        if alert.confirmed_at is None:
            alert.confirmed_at = timezone.now()
            alert.save(update_fields=["confirmed_at"])
            _catch_up_after_commit(alert.product_id)
    return alert


def unsubscribe_from_stock_alert(*, token: str) -> StockAlert:
    """End a subscription from the link in its e-mails (no login needed). Idempotent; an e-mail
    still queued for it is dropped. Raises InvalidStockAlertLink (forged or expired)."""
    alert_id = _read_token(token, salt=UNSUBSCRIBE_SALT, max_age=UNSUBSCRIBE_LINK_MAX_AGE)
    StockAlert.objects.filter(pk=alert_id, unsubscribed_at=None).update(unsubscribed_at=timezone.now())
    alert = StockAlert.objects.select_related("product").filter(pk=alert_id).first()
    if alert is None:
        raise InvalidStockAlertLink()
    return alert


def check_stock_alert_link(*, token: str, unsubscribe: bool) -> StockAlert:
    """The subscription a link names, without using it (the page with the button). Raises
    InvalidStockAlertLink."""
    if unsubscribe:
        alert_id = _read_token(token, salt=UNSUBSCRIBE_SALT, max_age=UNSUBSCRIBE_LINK_MAX_AGE)
    else:
        alert_id = _read_token(token, salt=CONFIRM_SALT, max_age=settings.CATALOG_STOCK_ALERT_CONFIRM_MAX_AGE)
    alert = StockAlert.objects.select_related("product").filter(pk=alert_id).first()
    if alert is None:
        raise InvalidStockAlertLink()
    return alert


def notify_back_in_stock(*, product_id: int) -> int:
    """End every confirmed open subscription of the product and queue its one e-mail; returns how
    many. Nothing while the product has no units (sold out again before this ran: they wait for
    the next return).

    One transaction per NOTIFY_BATCH subscriptions: the rows are taken FOR UPDATE SKIP LOCKED and
    ended, their e-mail log rows and outbox messages written in the same commit. A duplicate
    message (or a concurrent consumer) finds them ended, or locked and skipped: each subscriber is
    e-mailed once.
    """
    if inventory_selectors.get_level(product_id=product_id) <= 0:
        return 0
    notified = 0
    while True:
        with transaction.atomic():
            waiting = (
                StockAlert.objects.filter(
                    product_id=product_id, confirmed_at__isnull=False, notified_at=None, unsubscribed_at=None
                )
                .order_by("pk")
                .select_for_update(skip_locked=True)
            )
            ids = list(waiting.values_list("pk", flat=True)[:NOTIFY_BATCH])
            if not ids:
                return notified
            StockAlert.objects.filter(pk__in=ids).update(notified_at=timezone.now())
            outbox.publish_all(_emails_due(ids, StockAlertEmailKind.BACK_IN_STOCK))
        notified += len(ids)
        logger.info("back in stock: product %s, %d subscribers e-mailed", product_id, len(ids))


def send_stock_alert_email(*, alert_id: int, kind: str) -> bool:
    """Send one stock alert e-mail if nobody has (claimed in its log row). True when sent now;
    one whose subscription was unsubscribed meanwhile is marked done and not sent."""
    log = StockAlertEmail.objects.filter(alert_id=alert_id, kind=kind)
    return email_claims.send_claimed(log, lambda: _alert_message(alert_id=alert_id, kind=kind))


def send_low_stock_digest(*, day: datetime.date | None = None) -> bool:
    """E-mail the Fulfilment group's members the products at or below their low-stock threshold,
    once per `day` (today by default): the day's row is claimed before sending, so a second run
    sends nothing. Nothing is sent, and no row written, when no product is low or nobody is in
    the group. True when sent now."""
    day = day or timezone.localdate()
    products = selectors.list_low_stock_products(limit=DIGEST_MAX_PRODUCTS + 1)
    more = len(products) > DIGEST_MAX_PRODUCTS
    products = products[:DIGEST_MAX_PRODUCTS]
    recipients = accounts_selectors.list_group_emails(group=FULFILMENT_GROUP)
    if not products or not recipients:
        return False
    LowStockDigest.objects.get_or_create(day=day, defaults={"claimed_at": email_claims.NEVER_CLAIMED})
    log = LowStockDigest.objects.filter(day=day)
    context = {"day": day, "products": products, "more": more, "shop_name": settings.SHOP_NAME,
               "admin_url": f"{settings.SHOP_BASE_URL}{reverse('admin:inventory_stockitem_changelist')}"}  # fmt: skip
    sent = email_claims.send_claimed(log, lambda: _message("catalog/email/low_stock_digest", context, to=recipients))
    if sent:
        log.update(products=len(products), recipients=len(recipients))
    return sent


# --- Helpers ----------------------------------------------------------------------------------


def _open_alert(*, product_id: int, email: str, user: User | None) -> tuple[StockAlert, bool]:
    """The open subscription of this address to this product, created if there is none. A
    concurrent duplicate waits on the partial unique index, then finds the first one's row."""
    try:
        with transaction.atomic():
            return StockAlert.objects.create(product_id=product_id, email=email, user=user), True
    except IntegrityError:
        alert = _open_alerts(product_id=product_id, email=email).first()
        if alert is None:
            raise  # not the unique key after all
        return alert, False


def _open_alerts(*, product_id: int, email: str):
    return StockAlert.objects.select_for_update().filter(
        product_id=product_id, email=email, notified_at=None, unsubscribed_at=None
    )


def _emails_due(alert_ids: list[int], kind: str) -> list[outbox.Message]:
    """Log the e-mails as due (once per subscription and kind) and the outbox messages that send them."""
    StockAlertEmail.objects.bulk_create(
        [StockAlertEmail(alert_id=pk, kind=kind, claimed_at=email_claims.NEVER_CLAIMED) for pk in alert_ids],
        ignore_conflicts=True,
    )
    return [outbox.Message(STOCK_ALERT_EMAIL, str(pk), {"alert_id": pk, "kind": kind}) for pk in alert_ids]


def _catch_up_after_commit(product_id: int) -> None:
    """A subscription confirmed while the product is in stock again (it came back between the
    page and the click, or before the link was used) is notified now: the back-in-stock message
    may have been consumed before this commit."""
    transaction.on_commit(lambda: notify_back_in_stock(product_id=product_id), robust=True)


def _token(alert: StockAlert, *, salt: str) -> str:
    return signing.dumps(alert.pk, salt=salt)


def _read_token(token: str, *, salt: str, max_age: int) -> int:
    try:
        alert_id = signing.loads(token, salt=salt, max_age=max_age)
    except signing.BadSignature as exc:  # SignatureExpired is one too
        raise InvalidStockAlertLink() from exc
    if not isinstance(alert_id, int):
        raise InvalidStockAlertLink()
    return alert_id


def confirm_url(alert: StockAlert) -> str:
    """The absolute confirmation link e-mailed to a guest's address."""
    return f"{settings.SHOP_BASE_URL}{reverse('catalog:stock-alert-confirm', args=[_token(alert, salt=CONFIRM_SALT)])}"


def unsubscribe_url(alert: StockAlert) -> str:
    """The absolute unsubscribe link carried by every stock alert e-mail."""
    path = reverse("catalog:stock-alert-unsubscribe", args=[_token(alert, salt=UNSUBSCRIBE_SALT)])
    return f"{settings.SHOP_BASE_URL}{path}"


def _alert_message(*, alert_id: int, kind: str) -> EmailMultiAlternatives | None:
    alert = StockAlert.objects.select_related("product").filter(pk=alert_id).first()
    if alert is None or alert.unsubscribed_at is not None:
        return None  # unsubscribed since it was queued: never sent
    if kind == StockAlertEmailKind.BACK_IN_STOCK and alert.confirmed_at is None:
        return None  # never for an unconfirmed address (not reached: only confirmed ones are notified)
    product = alert.product
    context = {
        "product": product,
        "product_url": f"{settings.SHOP_BASE_URL}{product.get_absolute_url()}",
        "confirm_url": confirm_url(alert) if kind == StockAlertEmailKind.CONFIRM else "",
        "unsubscribe_url": unsubscribe_url(alert),
        "valid_days": max(1, settings.CATALOG_STOCK_ALERT_CONFIRM_MAX_AGE // 86400),
        "shop_name": settings.SHOP_NAME,
    }
    message = _message(f"catalog/email/stock_alert_{kind}", context, to=[alert.email])
    message.extra_headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
    return message


def _message(template: str, context: dict, *, to: list[str]) -> EmailMultiAlternatives:
    subject = " ".join(render_text(f"{template}_subject.txt", context).split())
    message = EmailMultiAlternatives(subject=subject, body=render_text(f"{template}.txt", context), to=to)
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message
