"""Every read of payments other code needs."""

from __future__ import annotations

from django.db.models import Sum

from payments.models import Payment, PaymentState, Refund, RefundState


def refundable(*, order_id: int) -> int:
    """Minor units of the order's captured payment not refunded yet (0 when nothing was captured)."""
    payment = Payment.objects.filter(order_id=order_id, state=PaymentState.CAPTURED).first()
    return payment.captured_amount - payment.refunded_amount if payment else 0


def latest_payment(*, order_id: int) -> Payment | None:
    """The order's latest authorization attempt (the order page shows it; brand and last four only)."""
    return Payment.objects.filter(order_id=order_id, superseded=False).order_by("-attempt").first()


def payments_of(*, order_id: int) -> list[Payment]:
    return list(Payment.objects.filter(order_id=order_id).prefetch_related("refunds").order_by("attempt"))


def find_refund(*, reference: str) -> Refund | None:
    """The refund made under this reference (its payment joined), or None."""
    return Refund.objects.select_related("payment").filter(reference=reference).first()


def refunded_so_far(*, order_id: int) -> tuple[int, int]:
    """(captured, refunded) minor units of the order: what was captured, and what refunds that
    succeeded gave back (a refund still pending, its answer lost, is not counted yet)."""
    captured = Payment.objects.filter(order_id=order_id, state=PaymentState.CAPTURED).values_list(
        "captured_amount", flat=True
    ).first()
    refunded = Refund.objects.filter(payment__order_id=order_id, state=RefundState.SUCCEEDED).aggregate(
        total=Sum("amount")
    )["total"]
    return captured or 0, refunded or 0


def refunds_of(*, order_id: int) -> list[Refund]:
    """The order's refunds that succeeded, oldest first: what was refunded, when and why."""
    return list(
        Refund.objects.filter(payment__order_id=order_id, state=RefundState.SUCCEEDED)
        .select_related("payment")
        .order_by("created_at", "id")
    )
