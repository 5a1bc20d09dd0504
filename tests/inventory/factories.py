import factory

from inventory.models import MovementKind, StockItem, StockMovement
from tests.catalog.factories import ProductFactory


class StockItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockItem

    product = factory.SubFactory(ProductFactory)
    available = 10

    class Params:
        sold_out = factory.Trait(available=0)


class StockMovementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StockMovement

    product = factory.SubFactory(ProductFactory)
    kind = MovementKind.RESTOCK
    quantity = 10
    level_after = 10
    cause = factory.Sequence(lambda n: f"test:{n}")
