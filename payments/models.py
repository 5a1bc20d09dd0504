"""Payments: one row per authorization attempt, refunds, webhook events seen, and the test gateway's book.

Only card brand and last four digits are stored; the card itself stays at the gateway (the
payment method is the gateway's token). Amounts are integer minor units of `currency`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class PaymentState(models.TextChoices):
    PENDING = "pending", "Pending"
    REQUIRES_ACTION = "requires_action", "Needs the customer"
    AUTHORIZED = "authorized", "Authorized"
    DECLINED = "declined", "Declined"
    CAPTURED = "captured", "Captured"
    VOIDED = "voided", "Voided"


# How far along a payment is: a webhook or a late result never moves a payment backwards.
STATE_RANK = {
    PaymentState.PENDING: 0,
    PaymentState.REQUIRES_ACTION: 1,
    PaymentState.DECLINED: 1,
    PaymentState.AUTHORIZED: 2,
    PaymentState.CAPTURED: 3,
    PaymentState.VOIDED: 3,
}
FINAL_AUTHORIZATION_STATES = {PaymentState.AUTHORIZED, PaymentState.DECLINED, PaymentState.REQUIRES_ACTION,
                              PaymentState.CAPTURED, PaymentState.VOIDED}  # fmt: skip


class Payment(models.Model):
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="payments")
    attempt = models.PositiveIntegerField(
        help_text="1 for the first authorization, 2 after the customer replaced it ..."
    )
    reference = models.CharField(max_length=40, unique=True, help_text="Ours, sent as the gateway's idempotency key.")
    gateway = models.CharField(max_length=20)
    gateway_reference = models.CharField(max_length=100, blank=True, db_index=True,
                                         help_text="Stored before the authorization is confirmed.")  # fmt: skip
    payment_method = models.CharField(max_length=100)
    amount = models.PositiveBigIntegerField(help_text="Minor units.")
    currency = models.CharField(max_length=3)
    state = models.CharField(max_length=20, choices=PaymentState.choices, default=PaymentState.PENDING)
    captured_amount = models.PositiveBigIntegerField(default=0)
    refunded_amount = models.PositiveBigIntegerField(default=0, help_text="Refunded or being refunded (reserved).")
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    decline_code = models.CharField(max_length=60, blank=True)
    message = models.CharField(max_length=300, blank=True)
    client_secret = models.CharField(max_length=200, blank=True, help_text="For the browser to finish 3-D Secure.")
    superseded = models.BooleanField(
        default=False,
        help_text="Lost a race to another attempt of the order that holds its authorization: voided (or never "
        "sent), never the order's payment.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order_id", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["order", "attempt"], name="payment_attempt_once"),
            models.CheckConstraint(
                condition=Q(captured_amount__lte=F("amount")), name="payment_captured_within_amount"
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__lte=F("captured_amount")), name="payment_refunded_within_captured"
            ),
        ]
        permissions = [("refund_payment", "Can refund payments")]

    def __str__(self) -> str:
        return f"{self.reference} {self.state}"


class RefundState(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(models.Model):
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    reference = models.CharField(max_length=60, unique=True)
    amount = models.PositiveBigIntegerField()
    state = models.CharField(max_length=10, choices=RefundState.choices, default=RefundState.PENDING)
    gateway_reference = models.CharField(max_length=100, blank=True)
    reason = models.CharField(max_length=300, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=1), name="refund_amount_positive")]

    def __str__(self) -> str:
        return f"{self.reference} {self.amount} {self.state}"


class WebhookEvent(models.Model):
    """A gateway event we received; unique per gateway and event id, so each is processed once."""

    gateway = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    gateway_reference = models.CharField(max_length=100, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["gateway", "event_id"], name="webhook_event_once")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.event_id}"


class TestGatewayIntent(models.Model):
    """The built-in test gateway's own book (it stands in for a remote service: the embedded
    default, the demo and the tests). Never used with a real gateway."""

    __test__ = False  # not a pytest test class

    reference = models.CharField(max_length=40, unique=True, help_text="The caller's idempotency key.")
    gateway_reference = models.CharField(max_length=40, unique=True)
    payment_method = models.CharField(max_length=100)
    amount = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20)
    confirm_attempts = models.PositiveIntegerField(default=0)
    captured = models.PositiveBigIntegerField(default=0)
    refunded = models.PositiveBigIntegerField(default=0)
    refund_references = models.JSONField(default=list, blank=True, help_text="The callers' refund keys seen.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.gateway_reference} {self.status}"
