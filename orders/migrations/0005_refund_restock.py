# Issue 20, item 1: units a refund puts back are reserved per order under its lock.

import django.db.models.deletion
from django.db import migrations, models


def reserve_units_already_returned(apps, schema_editor):
    """Earlier refunds' restocks (ledger causes "refund:<number>:<reference>") become reservations."""
    StockMovement = apps.get_model("inventory", "StockMovement")  # read only: the ledger stays inventory's
    Order = apps.get_model("orders", "Order")
    RefundRestock = apps.get_model("orders", "RefundRestock")
    movements = StockMovement.objects.filter(kind="restock", cause__startswith="refund:")
    orders = {}
    rows = []
    for cause, product_id, quantity in movements.values_list("cause", "product_id", "quantity").iterator():
        _, number, reference = cause.split(":", 2)
        if number not in orders:
            orders[number] = Order.objects.filter(number=number).values_list("pk", flat=True).first()
        if orders[number] is not None and quantity > 0:
            rows.append(
                RefundRestock(
                    order_id=orders[number], reference=reference[:60], product_id=product_id, quantity=quantity
                )
            )
    RefundRestock.objects.bulk_create(rows, ignore_conflicts=True)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0005_search_at_scale"),
        ("inventory", "0002_stock_ledger"),
        ("orders", "0004_order_payment_attempts_alter_emaillog_kind"),
    ]

    operations = [
        migrations.CreateModel(
            name="RefundRestock",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "reference",
                    models.CharField(help_text="The refund's reference (its idempotency key).", max_length=60),
                ),
                ("quantity", models.PositiveIntegerField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "order",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="restocks", to="orders.order"
                    ),
                ),
                (
                    "product",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="catalog.product"
                    ),
                ),
            ],
            options={
                "ordering": ["id"],
                "constraints": [
                    models.UniqueConstraint(fields=("order", "reference", "product"), name="refund_restock_once"),
                    models.CheckConstraint(
                        condition=models.Q(("quantity__gte", 1)), name="refund_restock_quantity_positive"
                    ),
                ],
            },
        ),
        migrations.RunPython(reserve_units_already_returned, migrations.RunPython.noop),
    ]
