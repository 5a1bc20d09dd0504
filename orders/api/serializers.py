from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import AddressInputSerializer
from orders.models import Order, OrderEvent, OrderLine, ReturnLine, ReturnReason, ReturnRequest, ReturnState
from orders.states import OrderState
from shop.email_addresses import EmailAddressSerializerField


class CheckoutAddressSerializer(AddressInputSerializer):
    is_default = None  # an order's address is a copy: nothing to make default


class CheckoutInputSerializer(serializers.Serializer):
    address = CheckoutAddressSerializer(required=False, help_text="A delivery address; or send address_id.")
    address_id = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="One of the signed-in customer's saved addresses."
    )
    email = EmailAddressSerializerField(
        required=False, help_text="Guests: where the confirmation goes. Customers: optional."
    )
    delivery_option = serializers.CharField(max_length=20, help_text="A code from GET /api/v1/checkout/options.")
    payment_method = serializers.CharField(max_length=100, help_text="The gateway's token; never a card number.")
    expected_total = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False,
        help_text="The total the customer reviewed; a different current total is refused with 409 price_changed.",
    )  # fmt: skip

    def validate(self, attrs: dict) -> dict:
        if ("address" in attrs) == ("address_id" in attrs):
            raise serializers.ValidationError({"address": ["Send either address or address_id."]})
        return attrs


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["product_id", "title", "sku", "unit_price", "quantity", "subtotal"]
        read_only_fields = fields


class OrderEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["kind", "from_state", "to_state", "message", "created_at"]
        read_only_fields = fields


class OrderAddressSerializer(serializers.Serializer):
    full_name = serializers.CharField()
    line1 = serializers.CharField()
    line2 = serializers.CharField()
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    phone = serializers.CharField()


class OrderSummarySerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=OrderState.choices, read_only=True)
    state_label = serializers.CharField(read_only=True)
    item_count = serializers.SerializerMethodField()

    class Meta:
        model = Order
        fields = ["number", "state", "state_label", "created_at", "currency", "total", "item_count"]
        read_only_fields = fields

    def get_item_count(self, order: Order) -> int:
        return sum(line.quantity for line in order.lines.all())  # prefetched by the selector


class ReturnLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = ReturnLine
        fields = ["product_id", "title", "unit_price", "quantity"]
        read_only_fields = fields


class ReturnSerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(choices=ReturnState.choices, read_only=True)
    state_label = serializers.CharField(read_only=True)
    reason = serializers.ChoiceField(choices=ReturnReason.choices, read_only=True)
    lines = ReturnLineSerializer(many=True, read_only=True)

    class Meta:
        model = ReturnRequest
        fields = ["number", "state", "state_label", "reason", "comment", "refusal_reason", "refund_amount",
                  "created_at", "decided_at", "received_at", "lines"]  # fmt: skip
        read_only_fields = fields


class OrderSerializer(OrderSummarySerializer):
    address = OrderAddressSerializer(source="*", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)
    history = serializers.SerializerMethodField()
    returns = serializers.SerializerMethodField()

    class Meta(OrderSummarySerializer.Meta):
        fields = [
            *OrderSummarySerializer.Meta.fields,
            "email", "address", "delivery_option", "delivery_label", "subtotal", "shipping", "tax", "tax_rate",
            "prices_include_tax", "rejection_reason", "carrier", "tracking_number", "shipped_at", "delivered_at",
            "refunded_amount", "lines", "history", "returns",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(OrderEventSerializer(many=True))
    def get_history(self, order: Order) -> list:
        events = [event for event in order.events.all() if event.to_state]  # state changes only
        return OrderEventSerializer(events, many=True).data


    @extend_schema_field(ReturnSerializer(many=True))
    def get_returns(self, order: Order) -> list:
        if order.delivered_at is None:  # only a delivered order can have returns: no query for the others
            return []
        return ReturnSerializer(order.returns.prefetch_related("lines").order_by("-created_at", "-id"), many=True).data


class RestockLineSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    quantity = serializers.IntegerField(min_value=1, max_value=10_000)


class RefundInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=Decimal("0.01"), required=False,
        help_text="How much to give back; omit to refund everything not refunded yet.",
    )  # fmt: skip
    restock = RestockLineSerializer(many=True, required=False, default=list,
                                    help_text="Units that came back and go back to stock.")  # fmt: skip
    reason = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class ReturnInputSerializer(serializers.Serializer):
    lines = RestockLineSerializer(many=True, allow_empty=False, help_text="The units to return, per product.")
    reason = serializers.ChoiceField(choices=ReturnReason.choices)
    comment = serializers.CharField(max_length=1000, required=False, allow_blank=True, default="")


def units_of(lines: list[dict]) -> dict[int, int]:
    """{product_id: quantity} from validated lines of RestockLineSerializer (a product named twice adds up)."""
    units: dict[int, int] = {}
    for line in lines:
        units[line["product_id"]] = units.get(line["product_id"], 0) + line["quantity"]
    return units


class RefundOutputSerializer(serializers.Serializer):
    reference = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    state = serializers.CharField()
    order_state = serializers.ChoiceField(choices=OrderState.choices)


class DeliveryOptionSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)


class PaymentMethodSerializer(serializers.Serializer):
    token = serializers.CharField()
    label = serializers.CharField()


class CheckoutOptionsSerializer(serializers.Serializer):
    currency = serializers.CharField()
    delivery_options = DeliveryOptionSerializer(many=True)
    test_cards = PaymentMethodSerializer(many=True)
