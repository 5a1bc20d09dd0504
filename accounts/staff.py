"""Staff groups and what each may do. Created (and kept in step) by a post_migrate receiver.

Each entry is "app_label.codename". Apps declare their custom permissions on their models'
Meta.permissions; this table only hands them to groups, so accounts imports no other app.
"""

STAFF_GROUPS: dict[str, list[str]] = {
    "Catalog managers": [
        "catalog.view_category", "catalog.add_category", "catalog.change_category",
        "catalog.view_product", "catalog.add_product", "catalog.change_product",
        "inventory.view_stockitem", "inventory.adjust_stock",
    ],
    "Fulfilment": [
        "orders.view_order", "orders.cancel_order", "orders.mark_shipped", "payments.view_payment",
        "inventory.view_stockitem", "inventory.adjust_stock",
        "shop.view_deadletter", "shop.retry_deadletter",
    ],
    "Support": [
        "accounts.view_user", "accounts.view_address", "accounts.change_address",
        "orders.view_order", "orders.cancel_order", "orders.refund_order", "orders.resend_order_email",
        "payments.view_payment", "payments.view_refund",
    ],
}  # fmt: skip
