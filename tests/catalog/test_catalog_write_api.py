"""The catalog write API (issue 17): /api/v1/catalog/products for catalog managers and sellers' systems."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from catalog import search
from catalog.models import Product
from shop.models import ClientAPIKey, IdempotencyKey
from tests.accounts.factories import UserFactory
from tests.api_helpers import error_of
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/catalog/products"


def _jwt_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


def _key_client(scopes: list[str]) -> APIClient:
    _, raw = ClientAPIKey.objects.create_key(name="Seller", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    return client


@pytest.fixture
def catalog_manager() -> APIClient:
    """A staff member of the "Catalog managers" group, signed in with a JWT."""
    user = UserFactory(staff=True)
    user.groups.add(Group.objects.get(name="Catalog managers"))
    return _jwt_client(user)


@pytest.fixture
def seller() -> APIClient:
    return _key_client(["catalog:write"])


@pytest.fixture
def lamps():
    return CategoryFactory(name="Lamps", slug="lamps")


@pytest.fixture
def lumen():
    return BrandFactory(name="Lumen", slug="lumen")


def new_lamp(**overrides) -> dict:
    return {"sku": "LAMP-1", "title": "Brass desk lamp", "price": "49.90", "category": "lamps", "brand": "lumen",
            "attributes": {"Colour": "Brass", "bulb": "LED"}, **overrides}  # fmt: skip


def test_a_catalog_manager_creates_a_product_that_the_shop_then_shows(
    catalog_manager, lamps, lumen, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = catalog_manager.post(URL, new_lamp(), format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["sku"] == "LAMP-1"
    assert body["slug"] == "brass-desk-lamp-lamp-1"
    assert body["price"] == "49.90"
    assert body["category"] == "lamps"
    assert body["brand"] == "lumen"
    assert body["attributes"] == {"colour": "Brass", "bulb": "LED"}
    assert response["ETag"] == f'"{body["version"]}"'
    shown = APIClient().get(f"/api/v1/products/{body['id']}")
    assert shown.status_code == 200
    assert shown.json()["title"] == "Brass desk lamp"
    assert search.search(query="brass lamp").ids == [body["id"]]


def test_a_seller_key_with_the_catalog_scope_creates_products(seller, lamps, lumen):
    response = seller.post(URL, new_lamp(), format="json")

    assert response.status_code == 201
    assert Product.objects.filter(sku="LAMP-1").count() == 1


def test_a_replayed_idempotency_key_returns_the_same_product_once(seller, lamps, lumen):
    first = seller.post(URL, new_lamp(), format="json", HTTP_IDEMPOTENCY_KEY="create-lamp-1")
    again = seller.post(URL, new_lamp(), format="json", HTTP_IDEMPOTENCY_KEY="create-lamp-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert Product.objects.count() == 1


def test_the_same_idempotency_key_with_another_body_is_refused(seller, lamps, lumen):
    seller.post(URL, new_lamp(), format="json", HTTP_IDEMPOTENCY_KEY="create-lamp-1")

    response = seller.post(URL, new_lamp(sku="LAMP-2"), format="json", HTTP_IDEMPOTENCY_KEY="create-lamp-1")

    assert response.status_code == 422
    assert error_of(response)["code"] == "idempotency_key_reused"
    assert Product.objects.count() == 1


def test_a_create_names_every_bad_field_and_writes_nothing(catalog_manager, lamps):
    body = new_lamp(price="-1", compare_at_price="12.345", category="no-such-category", brand="no-such-brand")

    response = catalog_manager.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY="bad-lamp")

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "price": ["Must not be below 0."],
        "compare_at_price": ["Use at most 2 decimal places."],
        "category": ["No category has the slug 'no-such-category'."],
        "brand": ["No brand has the slug 'no-such-brand'."],
    }
    assert Product.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0  # the key is free again for the corrected request


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("price", "12.345", "Use at most 2 decimal places."),
        ("price", "abc", "Enter a number such as 12.50."),
        ("price", None, "This field is required."),
        ("price", "1e999999999", "Must not be above 9999999999.99."),
        ("price", "NaN", "Enter a number such as 12.50."),
        ("title", "Lamp\x00", "Contains a character that is not allowed (NUL or an unpaired surrogate)."),
        ("category", "lamps\x00", "No category has the slug 'lamps\\x00'."),
        ("title", "", "This field is required."),
        ("attributes", {"colour": ["Red", "Blue"]}, "Each attribute holds one value (text or a number)."),
        ("is_active", "perhaps", "Enter true or false."),
        ("colour", "Red", "Unknown field."),
    ],
)
def test_a_bad_field_is_a_400_naming_it(catalog_manager, lamps, lumen, field, value, reason):
    response = catalog_manager.post(URL, new_lamp(**{field: value}), format="json")

    assert response.status_code == 400
    assert error_of(response)["fields"] == {field: [reason]}


def test_an_sku_already_used_is_a_400_naming_it(catalog_manager, lamps, lumen):
    ProductFactory(sku="LAMP-1")

    response = catalog_manager.post(URL, new_lamp(), format="json")

    assert response.status_code == 400
    assert error_of(response)["fields"] == {"sku": ["Another product already has this SKU."]}


def test_an_update_with_the_current_version_changes_the_product_everywhere(
    catalog_manager, django_capture_on_commit_callbacks
):
    # given: a product whose page the shop has cached
    product = ProductFactory(title="Plain kettle", price=Decimal("20.00"))
    assert APIClient().get(f"/api/v1/products/{product.pk}").json()["price"] == "20.00"
    etag = catalog_manager.get(f"{URL}/{product.pk}")["ETag"]

    with django_capture_on_commit_callbacks(execute=True):
        response = catalog_manager.patch(
            f"{URL}/{product.pk}", {"title": "Copper kettle", "price": "24.50"}, format="json", HTTP_IF_MATCH=etag
        )

    assert response.status_code == 200
    assert response["ETag"] == f'"{product.version + 1}"'
    shown = APIClient().get(f"/api/v1/products/{product.pk}").json()
    assert (shown["title"], shown["price"]) == ("Copper kettle", "24.50")
    assert search.search(query="copper kettle").ids == [product.pk]


def test_a_stale_if_match_is_a_412_and_changes_nothing(catalog_manager):
    product = ProductFactory(title="Plain kettle")
    stale = catalog_manager.get(f"{URL}/{product.pk}")["ETag"]
    catalog_manager.patch(f"{URL}/{product.pk}", {"title": "Steel kettle"}, format="json", HTTP_IF_MATCH=stale)

    response = catalog_manager.patch(f"{URL}/{product.pk}", {"title": "Copper kettle"}, format="json",
                                     HTTP_IF_MATCH=stale)  # fmt: skip

    assert response.status_code == 412
    assert error_of(response)["code"] == "version_mismatch"
    assert response["ETag"] == f'"{product.version + 1}"'
    product.refresh_from_db()
    assert product.title == "Steel kettle"


def test_an_update_without_if_match_is_a_428(catalog_manager):
    product = ProductFactory(title="Plain kettle")

    response = catalog_manager.patch(f"{URL}/{product.pk}", {"title": "Copper kettle"}, format="json")

    assert response.status_code == 428
    assert error_of(response)["fields"] == {"If-Match": [error_of(response)["message"]]}
    product.refresh_from_db()
    assert product.title == "Plain kettle"


def test_an_update_that_changes_nothing_keeps_the_version(catalog_manager):
    product = ProductFactory(title="Plain kettle", price=Decimal("20.00"))

    response = catalog_manager.patch(f"{URL}/{product.pk}", {"title": "Plain kettle", "price": 20},
                                     format="json", HTTP_IF_MATCH=f'"{product.version}"')  # fmt: skip

    assert response.status_code == 200
    assert response.json()["version"] == product.version


def test_a_price_below_the_was_price_rule_names_the_field(catalog_manager):
    product = ProductFactory(price=Decimal("20.00"), compare_at_price=Decimal("25.00"))

    response = catalog_manager.patch(f"{URL}/{product.pk}", {"price": "30.00"}, format="json",
                                     HTTP_IF_MATCH=f'"{product.version}"')  # fmt: skip

    assert response.status_code == 400
    assert error_of(response)["fields"] == {"price": ["The was price must be at least the price."]}


def test_category_and_brand_change_by_slug(catalog_manager, lamps, lumen):
    product = ProductFactory()

    response = catalog_manager.patch(f"{URL}/{product.pk}", {"category": "lamps", "brand": "lumen"},
                                     format="json", HTTP_IF_MATCH=f'"{product.version}"')  # fmt: skip

    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.category_id, product.brand_id) == (lamps.pk, lumen.pk)


def test_deactivating_hides_the_product_from_the_shop(seller, django_capture_on_commit_callbacks):
    product = ProductFactory()
    assert APIClient().get(f"/api/v1/products/{product.pk}").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = seller.post(f"{URL}/{product.pk}/deactivate")
    again = seller.post(f"{URL}/{product.pk}/deactivate")

    assert (response.status_code, again.status_code) == (200, 200)
    assert response.json()["is_active"] is False
    assert again.json()["version"] == response.json()["version"]  # nothing more changed
    assert APIClient().get(f"/api/v1/products/{product.pk}").status_code == 404


def test_an_unknown_product_is_a_404(catalog_manager):
    response = catalog_manager.patch(f"{URL}/999999", {"title": "X"}, format="json", HTTP_IF_MATCH='"1"')

    assert response.status_code == 404


@pytest.mark.parametrize("who", ["customer", "staff_without_catalog_permissions", "key_without_scope"])
def test_others_get_a_403_and_nothing_changes(who, lamps, lumen):
    product = ProductFactory(title="Plain kettle")
    client = {
        "customer": lambda: _jwt_client(UserFactory()),
        "staff_without_catalog_permissions": lambda: _jwt_client(UserFactory(staff=True)),
        "key_without_scope": lambda: _key_client(["stock:write"]),
    }[who]()

    created = client.post(URL, new_lamp(), format="json")
    updated = client.patch(f"{URL}/{product.pk}", {"title": "X"}, format="json", HTTP_IF_MATCH=f'"{product.version}"')
    deactivated = client.post(f"{URL}/{product.pk}/deactivate")

    assert [r.status_code for r in (created, updated, deactivated)] == [403, 403, 403]
    assert error_of(created)["code"] == "permission_denied"
    assert Product.objects.count() == 1
    product.refresh_from_db()
    assert (product.title, product.is_active) == ("Plain kettle", True)


def test_no_credentials_or_a_wrong_key_is_a_401(lamps, lumen):
    assert APIClient().post(URL, new_lamp(), format="json").status_code == 401
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Api-Key AbCdEfGh.not-a-real-key")
    assert wrong.post(URL, new_lamp(), format="json").status_code == 401
    assert Product.objects.count() == 0


def test_the_schema_documents_the_write_api(client):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    update = schema["paths"]["/api/v1/catalog/products/{product_id}"]["patch"]
    assert {"200", "400", "403", "404", "412", "428"} <= set(update["responses"])
    assert any(p["name"] == "If-Match" and p["required"] for p in update["parameters"])
    create = schema["paths"]["/api/v1/catalog/products"]["post"]
    assert {"200", "201", "400", "403", "422"} <= set(create["responses"])
