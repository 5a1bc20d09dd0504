# Issue 18: partial refunds are partial. Orders refunded before this migration were all "refunded",
# whatever the amount: each now carries what its successful refunds gave back, and is
# "partially_refunded" when that is less than was captured. Shipped orders get their shipped_at
# from the history line that shipped them.

from django.db import migrations
from django.db.models import Max, Q, Sum

from shop.money import from_minor_units


def backfill(apps, schema_editor):
    Order = apps.get_model("orders", "Order")
    Payment = apps.get_model("payments", "Payment")
    Refund = apps.get_model("payments", "Refund")
    for order in Order.objects.filter(state="refunded").only("pk", "currency"):
        captured = (
            Payment.objects.filter(order_id=order.pk, state="captured").values_list("captured_amount", flat=True).first()
        ) or 0
        refunded = Refund.objects.filter(payment__order_id=order.pk, state="succeeded").aggregate(t=Sum("amount"))["t"] or 0
        amount = from_minor_units(refunded, order.currency)
        state = "refunded" if refunded >= captured else "partially_refunded"
        Order.objects.filter(pk=order.pk).update(refunded_amount=amount, state=state)
    shipped = ["shipped", "delivered", "partially_refunded", "refunded"]
    for order in Order.objects.filter(state__in=shipped, shipped_at=None).annotate(
        at=Max("events__created_at", filter=Q(events__to_state="shipped"))
    ):
        if order.at is not None:
            Order.objects.filter(pk=order.pk).update(shipped_at=order.at)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0009_after_order"),
        ("payments", "0003_payment_superseded"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
