import factory

from orders.models import Order
from tests.accounts.factories import UserFactory


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    number = factory.Sequence(lambda n: f"SO{n:08d}")
    customer = factory.SubFactory(UserFactory)
    email = factory.SelfAttribute("customer.email")
