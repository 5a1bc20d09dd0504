import factory

from orders.models import Order, OrderLine
from tests.accounts.factories import UserFactory


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"SO{n:08d}")
    customer = factory.SubFactory(UserFactory)
    email = factory.SelfAttribute("customer.email")


def placed_order(lines: dict, **fields) -> Order:
    """A placed order with these {product: quantity} lines, written directly (no outbox row): it
    waits for allocation as an order whose "order.placed" message was lost would."""
    order = OrderFactory(payment_method="tok_visa", total=sum(p.price * q for p, q in lines.items()), **fields)
    OrderLine.objects.bulk_create(
        [OrderLine(order=order, product=p, title=p.title, sku=p.sku, unit_price=p.price, quantity=q,
                   subtotal=p.price * q) for p, q in lines.items()]
    )  # fmt: skip
    return order
