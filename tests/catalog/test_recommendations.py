""""Customers also bought" as customers see it: the product page, the cart page and
GET /api/v1/products/{id}/recommendations; never an inactive or out-of-stock product, the
category's popular products when there is no data, and a number of queries that does not grow
with the number of recommendations."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cart import services as cart_services
from catalog import services
from catalog.models import Product
from inventory import services as inventory_services
from orders.states import OrderState
from tests.accounts.factories import UserFactory
from tests.cache_helpers import clear_cache
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.orders.factories import placed_order

pytestmark = pytest.mark.django_db


def stock(product: Product, quantity: int) -> None:
    inventory_services.set_level(product_id=product.pk, quantity=quantity, cause=f"test:{product.pk}:{quantity}")


def product(title: str, *, category=None, popularity: float = 0, quantity: int = 20) -> Product:
    made = ProductFactory(title=title, category=category or CategoryFactory(), popularity=popularity,
                          price=Decimal("12.50"))  # fmt: skip
    stock(made, quantity)
    return made


@pytest.fixture
def recommend(django_capture_on_commit_callbacks):
    """recommend(product, *recommended): store that list, as the job would (cache dropped on commit)."""

    def store(target: Product, *recommended: Product) -> None:
        rows = [(target.pk, r.pk, 1 / (n + 1), n + 1) for n, r in enumerate(recommended)]
        with django_capture_on_commit_callbacks(execute=True):
            services.replace_recommendations(after_product_id=target.pk - 1, up_to_product_id=target.pk, rows=rows)

    return store


@pytest.fixture
def lamps():
    return CategoryFactory(name="Lamps", slug="lamps")


@pytest.fixture
def desk_lamp(lamps) -> Product:
    return product("Desk lamp", category=lamps, popularity=100)


def section(html: str) -> str:
    """The recommendations block of a page ("" when the page has none)."""
    start = html.find('class="recommendations"')
    return "" if start == -1 else html[start : html.index("</section>", start)]


def titles_in(html: str, products: list[Product]) -> list[str]:
    """The titles of these products in the order the block shows them."""
    block = section(html)
    shown = [(block.index(f">{p.title}<"), p.title) for p in products if f">{p.title}<" in block]
    return [title for _, title in sorted(shown)]


# --- The product page -------------------------------------------------------------------------------


def test_the_product_page_shows_what_customers_also_bought_in_rank_order(client, desk_lamp, recommend):
    bulb, shade, cable = product("LED bulb"), product("Lamp shade"), product("Extension cable")
    recommend(desk_lamp, shade, bulb, cable)
    html = client.get(desk_lamp.get_absolute_url()).content.decode()
    assert "Customers also bought" in section(html)
    assert titles_in(html, [bulb, shade, cable]) == ["Lamp shade", "LED bulb", "Extension cable"]
    assert "12.50 EUR" in section(html) and "In stock" in section(html)


def test_inactive_and_out_of_stock_products_are_never_recommended(client, desk_lamp, recommend, django_capture_on_commit_callbacks):
    hidden, sold_out, shown = product("Hidden bulb"), product("Sold-out shade", quantity=0), product("Cable")
    recommend(desk_lamp, hidden, sold_out, shown)
    with django_capture_on_commit_callbacks(execute=True):
        services.set_products_active(product_ids=[hidden.pk], active=False)
    html = client.get(desk_lamp.get_absolute_url()).content.decode()
    assert titles_in(html, [hidden, sold_out, shown]) == ["Cable"]
    api = APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations").json()
    assert [r["title"] for r in api["results"]] == ["Cable"]
    stock(shown, 0)  # availability is read fresh: sold out since the last request
    assert "Cable" not in section(client.get(desk_lamp.get_absolute_url()).content.decode())


def test_a_product_without_data_shows_its_category_s_popular_products(client, lamps, desk_lamp):
    floor = product("Floor lamp", category=lamps, popularity=50)
    wall = product("Wall lamp", category=lamps, popularity=80)
    product("Sold-out lamp", category=lamps, popularity=90, quantity=0)
    hidden = product("Hidden lamp", category=lamps, popularity=95)
    Product.objects.filter(pk=hidden.pk).update(is_active=False)
    product("Garden chair", popularity=1000)  # another category
    html = client.get(desk_lamp.get_absolute_url()).content.decode()
    assert "Popular in Lamps" in section(html) and "Customers also bought" not in html
    assert titles_in(html, list(Product.objects.all())) == ["Wall lamp", "Floor lamp"]  # not itself
    api = APIClient().get(f"/api/v1/products/{floor.pk}/recommendations").json()
    assert api["source"] == "category_popular"
    assert [r["title"] for r in api["results"]] == ["Desk lamp", "Wall lamp"]
    assert wall.pk in [r["id"] for r in api["results"]]


def test_when_every_product_bought_together_is_sold_out_the_category_s_popular_ones_show(client, lamps, desk_lamp, recommend):
    recommend(desk_lamp, product("Sold-out shade", quantity=0))
    product("Floor lamp", category=lamps, popularity=50)
    html = client.get(desk_lamp.get_absolute_url()).content.decode()
    assert "Popular in Lamps" in section(html) and "Floor lamp" in section(html)


def test_a_product_alone_in_its_category_without_data_shows_no_block(client, desk_lamp):
    assert section(client.get(desk_lamp.get_absolute_url()).content.decode()) == ""
    assert APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations").json() == {
        "product_id": desk_lamp.pk, "source": None, "results": []
    }


def test_new_recommendations_show_at_once_though_the_old_list_was_cached(client, lamps, desk_lamp, recommend):
    product("Floor lamp", category=lamps, popularity=50)
    assert "Popular in Lamps" in section(client.get(desk_lamp.get_absolute_url()).content.decode())
    bulb = product("LED bulb")
    recommend(desk_lamp, bulb)  # the job: on commit it drops the cached list
    html = client.get(desk_lamp.get_absolute_url()).content.decode()
    assert "Customers also bought" in section(html) and "LED bulb" in section(html)


# --- The cart page ----------------------------------------------------------------------------------


@pytest.fixture
def shopper(client):
    user = UserFactory()
    client.force_login(user)
    return client, cart_services.get_or_create_cart(user=user)


def test_the_cart_page_recommends_for_its_products_without_those_it_holds(shopper, desk_lamp, recommend):
    client, cart = shopper
    bulb, shade, cable, rug = product("LED bulb"), product("Lamp shade"), product("Extension cable"), product("Rug")
    recommend(desk_lamp, bulb, shade)
    recommend(rug, cable, desk_lamp)
    for item in (desk_lamp, bulb, rug):
        cart_services.add_item(cart_id=cart.pk, product_id=item.pk, quantity=1)
    html = client.get("/cart/").content.decode()
    assert "Customers also bought" in section(html)
    # without what the cart holds, the lists merged rank by rank: the lamp's first, then the rug's
    assert titles_in(html, [bulb, shade, cable, desk_lamp, rug]) == ["Lamp shade", "Extension cable"]


def test_an_empty_cart_recommends_nothing(client):
    assert section(client.get("/cart/").content.decode()) == ""


# --- The API --------------------------------------------------------------------------------------------


def test_the_api_gives_product_cards_in_the_product_list_s_shape(desk_lamp, recommend):
    bulb, shade = product("LED bulb", popularity=3), product("Lamp shade")
    recommend(desk_lamp, bulb, shade)
    response = APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations")
    assert response.status_code == 200 and response["ETag"]
    body = response.json()
    assert body["product_id"] == desk_lamp.pk and body["source"] == "bought_together"
    listed = APIClient().get("/api/v1/products", {"category": bulb.category.slug}).json()["results"][0]
    assert set(body["results"][0]) == set(listed)  # the same card: id, title, price, image, availability ...
    assert body["results"][0] == listed
    assert [r["id"] for r in body["results"]] == [bulb.pk, shade.pk]
    assert body["results"][1]["price"] == "12.50"
    assert body["results"][1]["availability"] == {"status": "in_stock", "quantity": 20, "label": "In stock"}
    limited = APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations", {"limit": "1"}).json()
    assert [r["id"] for r in limited["results"]] == [bulb.pk]


def test_the_api_answers_304_while_nothing_shown_changed(desk_lamp, recommend):
    bulb = product("LED bulb")
    recommend(desk_lamp, bulb)
    url = f"/api/v1/products/{desk_lamp.pk}/recommendations"
    etag = APIClient().get(url)["ETag"]
    assert APIClient().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    stock(bulb, 2)
    assert APIClient().get(url, HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_the_api_answers_404_for_an_unknown_or_inactive_product(desk_lamp):
    assert APIClient().get("/api/v1/products/999999/recommendations").status_code == 404
    Product.objects.filter(pk=desk_lamp.pk).update(is_active=False)
    response = APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "product_not_found"


@pytest.mark.parametrize("limit", ["0", "21", "abc", "", "1.5", "-1"])
def test_a_bad_limit_is_a_400_naming_it(desk_lamp, limit):
    response = APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations", {"limit": limit})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["limit"]


def test_the_openapi_schema_documents_every_status_of_the_endpoint(db):
    schema = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/v1/products/{product_id}/recommendations"]["get"]
    assert {"200", "304", "400", "404", "429"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"] if p["in"] == "query"] == ["limit"]


# --- Queries flat in the number of recommendations ------------------------------------------------


def queries(client, url: str) -> tuple[int, int]:
    """The SQL queries of a cold request (empty cache), then of a warm one."""
    clear_cache()
    with CaptureQueriesContext(connection) as cold:
        assert client.get(url).status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.get(url).status_code == 200
    return len(cold), len(warm)


@pytest.mark.parametrize("page", ["product", "api", "cart"])
def test_one_or_ten_recommendations_cost_the_same_queries(shopper, desk_lamp, recommend, page):
    client, cart = shopper
    cart_services.add_item(cart_id=cart.pk, product_id=desk_lamp.pk, quantity=1)
    url = {"product": desk_lamp.get_absolute_url(), "api": f"/api/v1/products/{desk_lamp.pk}/recommendations",
           "cart": "/cart/"}[page]  # fmt: skip
    others = [product(f"Accessory {n}") for n in range(10)]
    recommend(desk_lamp, others[0])
    one = queries(client, url)
    assert section(client.get(url).content.decode()).count('class="product-card"') == 1 or page == "api"
    recommend(desk_lamp, *others)
    ten = queries(client, url)
    assert ten == one
    if page == "product":
        assert one[1] == 3  # warm: the session, the user, availability (the product's and every candidate's)


# --- End to end on the embedded default ----------------------------------------------------------------


def test_bought_together_then_the_command_then_the_storefront_and_the_api_recommend_it(
    client, desk_lamp, django_capture_on_commit_callbacks
):
    bulb = product("LED bulb")
    chair = product("Garden chair")
    for _ in range(3):
        placed_order({desk_lamp: 1, bulb: 2}, state=OrderState.DELIVERED)
    placed_order({desk_lamp: 1, chair: 1}, state=OrderState.AUTHORIZED)  # once only: below the minimum
    for _ in range(2):
        placed_order({desk_lamp: 1, chair: 1}, state=OrderState.CANCELLED)
    assert "LED bulb" not in section(client.get(desk_lamp.get_absolute_url()).content.decode())  # cached, then
    with django_capture_on_commit_callbacks(execute=True):  # the command's batches commit
        call_command("compute_recommendations")
    html = client.get(desk_lamp.get_absolute_url()).content.decode()
    assert "Customers also bought" in section(html) and titles_in(html, [bulb, chair]) == ["LED bulb"]
    api = APIClient().get(f"/api/v1/products/{desk_lamp.pk}/recommendations").json()
    assert [r["id"] for r in api["results"]] == [bulb.pk]
    assert "Desk lamp" in section(client.get(bulb.get_absolute_url()).content.decode())
