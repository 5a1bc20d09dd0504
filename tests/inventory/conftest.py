import pytest
from django.contrib.auth.models import Permission
from rest_framework.test import APIClient

from shop.models import ClientAPIKey
from tests.accounts.factories import UserFactory
from tests.catalog.factories import ProductFactory
from tests.inventory.factories import StockItemFactory


@pytest.fixture
def product(db):
    return ProductFactory(sku="KETTLE-1", title="Steel kettle")


@pytest.fixture
def stock_item(product):
    """The kettle with 10 units in stock (written directly, no ledger row)."""
    return StockItemFactory(product=product, available=10)


def _staff_with(*codenames: str):
    user = UserFactory(staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="inventory", codename__in=codenames))
    return user


@pytest.fixture
def stock_clerk(db):
    """Staff who may see and adjust stock (what the Catalog managers and Fulfilment groups give)."""
    return _staff_with("view_stockitem", "adjust_stock")


@pytest.fixture
def stock_viewer(db):
    """Staff with Django's view and change permissions on stock, but not adjust_stock."""
    return _staff_with("view_stockitem", "change_stockitem")


def _api_key_client(scopes: list[str], name: str = "Acme seller") -> APIClient:
    api_key, raw = ClientAPIKey.objects.create_key(name=name, scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    client.api_key = api_key
    return client


@pytest.fixture
def seller_api(db) -> APIClient:
    """A seller system whose key holds the stock:write scope (the key is on `.api_key`)."""
    return _api_key_client(["stock:write"])


@pytest.fixture
def other_seller_api(db) -> APIClient:
    return _api_key_client(["stock:write"], name="Other seller")


@pytest.fixture
def warehouse_api(db) -> APIClient:
    """A key without the stock:write scope."""
    return _api_key_client(["orders:read"], name="Warehouse")


@pytest.fixture
def superuser_client(db):
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(superuser=True))
    return client
