from __future__ import annotations

from rest_framework import serializers

from cart.models import MAX_QUANTITY
from cart.services import AddOperation, RemoveOperation

MAX_OPERATIONS = 200
MAX_TAGS_PER_BATCH = 1000  # removes name tags; bound the rows one request can write
MAX_ID = 2**63 - 1


class OperationInputSerializer(serializers.Serializer):
    op = serializers.ChoiceField(choices=["add", "remove"])
    tag = serializers.UUIDField(required=False, help_text="add: the client-generated UUID of this add.")
    product_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(required=False, min_value=1, max_value=MAX_QUANTITY)
    tags = serializers.ListField(child=serializers.UUIDField(), required=False, max_length=500,
                                 help_text="remove: the add tags this device observed.")  # fmt: skip

    def validate(self, attrs: dict):
        if attrs["op"] == "add":
            missing = [f for f in ("tag", "product_id", "quantity") if f not in attrs]
            if missing:
                raise serializers.ValidationError({f: ["Required for an add."] for f in missing})
            return AddOperation(tag=attrs["tag"], product_id=attrs["product_id"], quantity=attrs["quantity"])
        if not attrs.get("tags"):
            raise serializers.ValidationError({"tags": ["A remove names at least one observed tag."]})
        return RemoveOperation(tags=tuple(attrs["tags"]))


class OperationsInputSerializer(serializers.Serializer):
    base_epoch = serializers.IntegerField(min_value=0, help_text="The cart epoch this device last saw.")
    device = serializers.CharField(max_length=64, required=False, default="")
    operations = OperationInputSerializer(many=True, max_length=MAX_OPERATIONS, allow_empty=True)

    def validate_operations(self, operations: list):
        tags = sum(len(getattr(op, "tags", ())) + (1 if hasattr(op, "tag") else 0) for op in operations)
        if tags > MAX_TAGS_PER_BATCH:
            raise serializers.ValidationError(f"At most {MAX_TAGS_PER_BATCH} tags in one batch; send the rest next.")
        return operations


class LineAddInputSerializer(serializers.Serializer):
    product_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY, default=1)


class LineQuantityInputSerializer(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=0, max_value=MAX_QUANTITY, help_text="0 removes the line.")


class CartLineOutputSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    quantity = serializers.IntegerField()
    tags = serializers.ListField(child=serializers.UUIDField())
    product = serializers.DictField(allow_null=True)
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    line_total = serializers.DecimalField(max_digits=12, decimal_places=2)
    availability = serializers.SerializerMethodField()
    notices = serializers.ListField(child=serializers.CharField())

    def get_availability(self, line) -> dict | None:
        a = line.availability
        return None if a is None else {"status": a.status, "quantity": a.quantity, "label": a.label}


class CartOutputSerializer(serializers.Serializer):
    epoch = serializers.IntegerField()
    lines = CartLineOutputSerializer(many=True)
    item_count = serializers.IntegerField()
    subtotal = serializers.DecimalField(max_digits=12, decimal_places=2)
    notices = serializers.ListField(child=serializers.CharField())
