# Issue 20, item 4: the payment window runs from when the payment failed, never from the last change.

from django.db import migrations, models
from django.db.models import Max


def backfill(apps, schema_editor):
    """Orders waiting for payment: the window runs from when they entered payment_failed."""
    Order = apps.get_model("orders", "Order")
    for order in Order.objects.filter(state="payment_failed").annotate(
        failed_at=Max("events__created_at", filter=models.Q(events__to_state="payment_failed"))
    ):
        Order.objects.filter(pk=order.pk).update(payment_failed_at=order.failed_at or order.updated_at)


class Migration(migrations.Migration):
    dependencies = [
        ("orders", "0005_refund_restock"),
    ]

    operations = [
        migrations.AddField(
            model_name="order",
            name="payment_failed_at",
            field=models.DateTimeField(
                blank=True,
                help_text="When the payment failed: the payment window runs from here; another card never moves it.",
                null=True,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
