"""Orders: the snapshot of what a customer bought, its lines, its history and its e-mails.

An order copies everything it needs when it is placed (titles, SKUs, prices, totals, the address,
the customer's e-mail), so history never reads the catalog's or the account's current data.
It refers to the account with PROTECT: deleting (anonymising) an account never takes an order
with it. The state changes only through orders.services (orders/states.py holds the machine).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.urls import reverse

from accounts.models import country_name
from orders.states import OrderState

NUMBER_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # Crockford-like base32: no 0/O, 1/I
NOTE_MAX_LENGTH = 1000  # a support agent's note in the order's history
NUMBER_LENGTH = 10  # 32**10 = 10**15 numbers: unguessable, and short enough to read out on the phone


def new_order_number() -> str:
    """A random order number (SO-XXXXX-XXXXX); unique by the column's index, retried on collision."""
    body = "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(NUMBER_LENGTH))
    return f"SO-{body[:5]}-{body[5:]}"


class Order(models.Model):
    number = models.CharField(max_length=20, unique=True)
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="orders"
    )
    guest_key = models.CharField(
        max_length=64, blank=True, db_index=True, help_text="SHA-256 of the guest token that placed it (guests)."
    )
    email = models.EmailField(help_text="The customer's e-mail address when the order was placed.")
    state = models.CharField(max_length=20, choices=OrderState.choices, default=OrderState.PLACED, db_index=True)
    # The delivery address, copied from the form or the saved address.
    full_name = models.CharField(max_length=150, blank=True)
    line1 = models.CharField("address line 1", max_length=200, blank=True)
    line2 = models.CharField("address line 2", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    # Totals in the shop currency, snapshotted.
    currency = models.CharField(max_length=3, default="EUR")
    delivery_option = models.CharField(max_length=20, blank=True)
    delivery_label = models.CharField(max_length=100, blank=True)
    subtotal = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipping = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    total = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=4, default=0)
    prices_include_tax = models.BooleanField(default=True)
    payment_method = models.CharField(
        max_length=100,
        blank=True,
        help_text="The gateway's token for the customer's payment method (never a card number).",
    )
    payment_attempts = models.PositiveIntegerField(default=1, help_text="Authorization attempts asked for so far.")
    payment_failed_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the payment failed: the payment window runs from here; another card never moves it.",
    )  # fmt: skip
    rejection_reason = models.CharField(max_length=300, blank=True)
    allocation_failed_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When allocating this order failed on its own (a dead letter): later runs and the sweep "
                  "skip it until staff retry it.",
    )  # fmt: skip
    capture_started_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When shipping began capturing the payment; the order cannot be cancelled from then on.",
    )  # fmt: skip
    # After the order: the parcel (carrier and tracking from the warehouse) and the money given back.
    carrier = models.CharField(max_length=50, blank=True)
    tracking_number = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    refunded_amount = models.DecimalField(
        max_digits=12, decimal_places=2, default=0,
        help_text="Refunded so far (refunds that succeeded), copied from payments at every refund.",
    )  # fmt: skip
    # Observability: where it was placed and the request's id, which its tasks' log lines carry.
    channel = models.CharField(max_length=20, blank=True, help_text="storefront or api")
    request_id = models.CharField(max_length=64, blank=True, help_text="X-Request-ID of the checkout request.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    state_changed_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When the order entered its state (empty: placed, at created_at). The stage lag metrics "
                  "count from it; the stuck-order sweep moves updated_at, never this.",
    )  # fmt: skip

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("cancel_order", "Can cancel orders"),
            ("refund_order", "Can refund orders"),
            ("mark_shipped", "Can mark orders shipped"),
            ("mark_delivered", "Can mark orders delivered"),
            ("add_order_note", "Can add notes to orders"),
            ("view_revenue", "Can see revenue figures"),
            ("resend_order_email", "Can resend order e-mails"),
        ]
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="order_customer_recent_idx"),
            # the fulfilment API's list: one state, oldest first, by cursor
            models.Index(fields=["state", "created_at", "id"], name="order_state_oldest_idx"),
            # a carrier's delivery webhook finds the order by its tracking number
            models.Index(fields=["tracking_number"], condition=~Q(tracking_number=""), name="order_tracking_idx"),
            # a verified address finds its guest orders (email__iexact compares UPPER(email))
            models.Index(Upper("email"), condition=Q(customer__isnull=True), name="order_guest_email_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(subtotal__gte=0, shipping__gte=0, tax__gte=0, total__gte=0),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0, refunded_amount__lte=models.F("total")),
                name="order_refunded_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("orders:detail", args=[self.number])

    @property
    def in_state_since(self):
        return self.state_changed_at or self.created_at

    def address_lines(self) -> list[str]:
        lines = [self.full_name, self.line1, self.line2, f"{self.postal_code} {self.city}".strip(), self.country_name]
        return [line for line in lines if line]

    @property
    def country_name(self) -> str:
        """"Germany" for "DE": pages and e-mails name the country, the row keeps the code."""
        return country_name(self.country)

    @property
    def state_label(self) -> str:
        return OrderState(self.state).label


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=64)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    subtotal = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "product"], name="order_line_product_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="order_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.title}"


class RefundRestock(models.Model):
    """Units of an ordered product that one refund (by its reference) puts back in stock.

    Reserved under the order's row lock before any money moves, so concurrent refunds can never
    together return more units than were ordered (each unit comes back at most once); a refund
    the gateway refuses gives its reservation back.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="restocks")
    reference = models.CharField(max_length=60, help_text="The refund's reference (its idempotency key).")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["order", "reference", "product"], name="refund_restock_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="refund_restock_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.reference} {self.quantity} x {self.product_id}"


class OrderEventKind(models.TextChoices):
    PLACED = "placed", "Placed"
    STATE_CHANGED = "state_changed", "State changed"
    EMAIL_SENT = "email_sent", "E-mail sent"
    EMAIL_RESENT = "email_resent", "E-mail resend requested"
    NOTE = "note", "Note"
    STAFF_NOTE = "staff_note", "Staff note"  # written by support staff; never shown to the customer
    RETURN = "return", "Return"  # a return asked for, approved, refused, received (the customer sees these)


class OrderEvent(models.Model):
    """The order's history, written by the services: what staff read in admin and tests assert."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=OrderEventKind.choices)
    from_state = models.CharField(max_length=20, choices=OrderState.choices, blank=True)
    to_state = models.CharField(max_length=20, choices=OrderState.choices, blank=True)
    message = models.CharField(max_length=NOTE_MAX_LENGTH, blank=True)  # a staff note's text; else a sentence
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.to_state}".strip()


class EmailKind(models.TextChoices):
    RECEIVED = "received", "Order received"
    ALLOCATED = "allocated", "Order confirmed"  # sent when the payment is authorized (the value predates that)
    REJECTED = "rejected", "Order could not be fulfilled"
    CANCELLED = "cancelled", "Order cancelled"
    PAYMENT_FAILED = "payment_failed", "Payment needs attention"
    SHIPPED = "shipped", "Order shipped"
    DELIVERED = "delivered", "Order delivered"
    REFUNDED = "refunded", "Money refunded"  # one per refund: keyed by the refund's reference
    # One per return (keyed by the return's number); its refund is a "refunded" e-mail of its own.
    RETURN_REQUESTED = "return_requested", "Return requested"
    RETURN_APPROVED = "return_approved", "Return approved"
    RETURN_REFUSED = "return_refused", "Return refused"


class EmailLog(models.Model):
    """One e-mail per order, kind and reference, claimed before it is sent, so a retry never sends twice.

    `reference` is blank for the kinds that happen once per order; a kind that can happen several
    times (a refund) names its own occurrence, so the second refund's e-mail is a row of its own.
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    kind = models.CharField(max_length=20, choices=EmailKind.choices)
    reference = models.CharField(max_length=60, blank=True, default="",
                                 help_text="Which occurrence (a refund's reference); blank for once-per-order kinds.")  # fmt: skip
    claimed_at = models.DateTimeField(help_text="When a worker took it; an old claim may be taken again.")
    sent_at = models.DateTimeField(null=True, blank=True)
    redrives = models.PositiveSmallIntegerField(
        default=0, help_text="How often the stuck-order sweep sent it again; it stops at ORDERS_EMAIL_MAX_REDRIVES.",
    )  # fmt: skip

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["order", "kind", "reference"], name="order_email_once_per_occurrence")
        ]

    def __str__(self) -> str:
        return f"{self.order_id} {self.kind} {self.reference}".strip()


class ReturnState(models.TextChoices):
    REQUESTED = "requested", "Requested"
    APPROVED = "approved", "Approved: send the items back"
    REFUSED = "refused", "Refused"
    RECEIVED = "received", "Received: refund under way"
    REFUNDED = "refunded", "Received and refunded"


class ReturnReason(models.TextChoices):
    DAMAGED = "damaged", "Arrived damaged or faulty"
    WRONG_ITEM = "wrong_item", "Not what I ordered"
    NOT_AS_DESCRIBED = "not_as_described", "Not as described"
    DOES_NOT_FIT = "does_not_fit", "Does not fit"
    NO_LONGER_NEEDED = "no_longer_needed", "No longer needed"
    OTHER = "other", "Another reason"


# Returns whose units are spoken for: a new return cannot ask for them again.
OPEN_RETURN_STATES = (ReturnState.REQUESTED, ReturnState.APPROVED, ReturnState.RECEIVED)


class ReturnRequest(models.Model):
    """A customer asks to send some units of a delivered order back (orders.services.request_return).

    requested -> approved | refused (staff decide); approved -> received (the goods arrived: the
    units are refunded and restocked through refund_order, under the reference `return-<number>`)
    -> refunded. A refund the gateway did not complete leaves it `received`; receiving it again
    finishes it (the refund is idempotent per reference).
    """

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="returns")
    number = models.CharField(max_length=30, unique=True, help_text="The order's number and -R1, -R2, ...")
    state = models.CharField(max_length=20, choices=ReturnState.choices, default=ReturnState.REQUESTED)
    reason = models.CharField(max_length=20, choices=ReturnReason.choices)
    comment = models.CharField(max_length=1000, blank=True, help_text="The customer's own words.")
    refusal_reason = models.CharField(max_length=300, blank=True, help_text="Why staff refused it (e-mailed).")
    refund_reference = models.CharField(max_length=60, blank=True, help_text="Its refund's reference, once received.")
    refund_amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    refund_attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Refunds of it the payment provider refused; each retry is a refund of its own.",
    )  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "return"
        permissions = [
            ("decide_return", "Can approve or refuse returns"),
            ("receive_return", "Can receive returned goods (refunds and restocks them)"),
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="return_state_oldest_idx")]

    def __str__(self) -> str:
        return self.number

    @property
    def state_label(self) -> str:
        return ReturnState(self.state).label

    @property
    def reason_label(self) -> str:
        return ReturnReason(self.reason).label


class ReturnLine(models.Model):
    """Units of one ordered product in a return (at most the units delivered and not returned)."""

    request = models.ForeignKey(ReturnRequest, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    title = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "product"], name="return_line_product_once"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="return_line_quantity_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.title}"
