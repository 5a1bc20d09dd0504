# Issue 20, item 2: at most one live authorization per order; an attempt that lost the race is superseded.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_test_gateway_refund_references"),
    ]

    operations = [
        migrations.AddField(
            model_name="payment",
            name="superseded",
            field=models.BooleanField(
                default=False,
                help_text="Lost a race to another attempt of the order that holds its authorization: voided (or never sent), never the order's payment.",
            ),
        ),
    ]
