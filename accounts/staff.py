"""Staff groups and what each may do. Created (and kept in step) by a post_migrate receiver.

Each entry is "app_label.codename". Apps declare their custom permissions on their models'
Meta.permissions; this table only hands them to groups, so accounts imports no other app.

A group holds everything the screens it works on need, not only their main model: the inlines
shown on them (a product's pictures, an order's lines and events, a payment's refunds) and the
models behind their autocomplete widgets (a product's brand and category). Without those, Django
drops the inline or answers the widget 403 (tests/accounts/test_staff_screens.py checks each
group's screens).
"""

STAFF_GROUPS: dict[str, list[str]] = {
    "Catalog managers": [
        "catalog.view_category", "catalog.add_category", "catalog.change_category",
        "catalog.view_product", "catalog.add_product", "catalog.change_product",
        "catalog.view_brand", "catalog.add_brand", "catalog.change_brand",
        "catalog.view_productimage", "catalog.add_productimage", "catalog.change_productimage",
        "catalog.delete_productimage",
        "inventory.view_stockitem", "inventory.adjust_stock",
    ],
    "Fulfilment": [
        "orders.view_order", "orders.view_orderline", "orders.view_orderevent",
        "orders.cancel_order", "orders.mark_shipped", "orders.mark_delivered", "orders.add_order_note",
        "orders.view_returnrequest", "orders.view_returnline", "orders.receive_return",
        "payments.view_payment", "payments.view_refund",
        "inventory.view_stockitem", "inventory.adjust_stock",
        "shop.view_deadletter", "shop.retry_deadletter",
    ],
    "Support": [
        "accounts.view_user", "accounts.view_address", "accounts.change_address",
        "orders.view_order", "orders.view_orderline", "orders.view_orderevent",
        "orders.cancel_order", "orders.refund_order", "orders.resend_order_email", "orders.add_order_note",
        "orders.view_returnrequest", "orders.view_returnline", "orders.decide_return",
        "payments.view_payment", "payments.view_refund",
    ],
}  # fmt: skip
