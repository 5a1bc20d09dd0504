"""Facet counts describe the current selection (issue 19, item 4): each facet is counted with every
other filter applied, so no count leads to zero products, on the category page, in the products
API, in search (storefront and API) on the database backends, and in the Elasticsearch request.

The catalog: Acme Red 10 EUR, Acme Black 100 EUR, Zeta Black 10 EUR, Zeta Red 100 EUR (in stock
except Zeta Red). Chosen: brand Acme and at most 50 EUR.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from catalog import search
from catalog.search import SearchFilters
from catalog.search.elastic import result_from_response, search_body
from catalog.search.simple import SimpleBackend
from inventory import services as inventory_services
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def lamps():
    category = CategoryFactory(name="Lamps", slug="lamps")
    acme, zeta = BrandFactory(name="Acme", slug="acme"), BrandFactory(name="Zeta", slug="zeta")
    made = {
        "acme-red": ProductFactory(title="Acme Red Lamp", category=category, brand=acme, price=Decimal("10.00"),
                                   attributes={"colour": "Red"}),
        "acme-black": ProductFactory(title="Acme Black Lamp", category=category, brand=acme, price=Decimal("100.00"),
                                     attributes={"colour": "Black"}),
        "zeta-black": ProductFactory(title="Zeta Black Lamp", category=category, brand=zeta, price=Decimal("10.00"),
                                     attributes={"colour": "Black"}),
        "zeta-red": ProductFactory(title="Zeta Red Lamp", category=category, brand=zeta, price=Decimal("100.00"),
                                   attributes={"colour": "Red"}),
    }  # fmt: skip
    for key, product in made.items():
        quantity = 0 if key == "zeta-red" else 5
        inventory_services.set_level(product_id=product.pk, quantity=quantity, cause=f"test:{product.pk}")
    return made


def counts(facets: dict) -> dict:
    """{"brand:acme": 1, "colour:Red": 1, "price:0-25": 1, ...} from any backend's facets."""
    found = {f"brand:{b['slug']}": b["count"] for b in facets["brands"]}
    for attribute in facets["attributes"]:
        found.update({f"{attribute['name']}:{v['value']}": v["count"] for v in attribute["values"]})
    found.update({f"price:{b['key']}": b["count"] for b in facets.get("price_bands", [])})
    return found


ACME_UP_TO_50 = {"brand": "acme", "price_max": "50"}
# Brands counted at <= 50 EUR (any brand), colours among Acme's products at <= 50 EUR.
EXPECTED = {"brand:acme": 1, "brand:zeta": 1, "colour:Red": 1}


def test_the_category_page_counts_each_facet_with_the_other_filters(client, lamps):
    html = client.get("/c/lamps/", ACME_UP_TO_50).content.decode()
    assert "1 product" in html
    offered = dict(re.findall(r'value="(\w+)"(?: checked)?> \w+ <small>\((\d+)\)</small>', html))
    assert offered == {"acme": "1", "zeta": "1", "Red": "1"}  # no "Black (1)" that leads to nothing


def test_the_products_api_counts_each_facet_with_the_other_filters(lamps):
    body = APIClient().get("/api/v1/products", {"category": "lamps", **ACME_UP_TO_50}).json()
    assert body["count"] == 1
    assert counts(body["facets"]) == EXPECTED


def test_a_chosen_attribute_is_counted_without_its_own_choice_and_stock_always_applies(lamps):
    body = APIClient().get("/api/v1/products", {"category": "lamps", "attr_colour": "Red", "in_stock": "1"}).json()
    assert [r["title"] for r in body["results"]] == ["Acme Red Lamp"]
    # colours: any colour, in stock (Zeta Red is not); brands: red ones in stock
    assert counts(body["facets"]) == {"brand:acme": 1, "colour:Black": 2, "colour:Red": 1}
    for colour, count in (("Black", 2), ("Red", 1)):
        chosen = APIClient().get("/api/v1/products", {"category": "lamps", "attr_colour": colour, "in_stock": "1"})
        assert chosen.json()["count"] == count


@pytest.mark.parametrize("door", ["api", "service"])
def test_search_counts_each_facet_with_the_other_filters(lamps, door):
    if door == "api":
        facets = APIClient().get("/api/v1/search", {"q": "lamp", **ACME_UP_TO_50}).json()["facets"]
    else:
        facets = search.search(query="lamp", filters=SearchFilters(brands=("acme",), price_max=Decimal("50"))).facets
    # brands at <= 50 EUR; colours of Acme at <= 50 EUR; price bands of Acme's lamps (any price)
    assert counts(facets) == {**EXPECTED, "price:0-25": 1, "price:100-250": 1}


def test_the_search_page_offers_only_counts_that_lead_somewhere(client, lamps):
    html = client.get("/search/", {"q": "lamp", **ACME_UP_TO_50}).content.decode()
    assert re.findall(r'name="attr_colour" value="(\w+)"', html) == ["Red"]
    assert 'value="zeta"> Zeta <small>(1)</small>' in html


def test_the_embedded_fallback_counts_each_facet_with_the_other_filters(lamps):
    result = SimpleBackend().search(query="lamp", filters=SearchFilters(brands=("acme",), price_max=Decimal("50")),
                                    sort="relevance", page=1, page_size=24, with_facets=True)  # fmt: skip
    assert result.total == 1
    assert counts(result.facets) == {**EXPECTED, "price:0-25": 1, "price:100-250": 1}


def test_the_elasticsearch_request_counts_chosen_facets_without_their_own_choice():
    filters = SearchFilters(category_ids=(3,), brands=("acme",), price_max=Decimal("50"), in_stock=True,
                            attributes=(("colour", ("Red",)), ("size", ("42",))))  # fmt: skip
    aggs = search_body(query="lamp", filters=filters, sort="relevance", page=1, page_size=24, with_facets=True)["aggs"]
    brands = aggs["brands"]["aggs"]["selection"]
    assert "global" in aggs["brands"]
    assert brands["filter"]["bool"]["filter"] == [  # every filter but the brand's, and the words
        {"terms": {"category_id": [3]}},
        {"range": {"price": {"lte": 50.0}}},
        {"term": {"in_stock": True}},
        {"terms": {"attributes": ["colour=Red"]}},
        {"terms": {"attributes": ["size=42"]}},
    ]
    assert brands["filter"]["bool"]["must"][0]["bool"]["should"][0]["multi_match"]["query"] == "lamp"
    price = aggs["price_bands"]["aggs"]["selection"]["filter"]["bool"]["filter"]
    assert {"range": {"price": {"lte": 50.0}}} not in price and {"terms": {"brand_slug": ["acme"]}} in price
    colour = aggs["attributes"]["aggs"]["only:colour"]
    assert {"terms": {"attributes": ["colour=Red"]}} not in colour["filter"]["bool"]["filter"]
    assert {"terms": {"attributes": ["size=42"]}} in colour["filter"]["bool"]["filter"]
    assert colour["aggs"]["attributes"]["terms"]["include"] == "colour=.*"
    assert aggs["categories"] == {"terms": {"field": "category_id", "size": 100}}  # a drill-down: all filters
    plain = search_body(query="lamp", filters=SearchFilters(), sort="relevance", page=1, page_size=24, with_facets=True)
    assert "global" not in plain["aggs"]["brands"]


def test_an_elasticsearch_answer_with_chosen_facets_becomes_the_common_result():
    def buckets(*pairs):
        return {"buckets": [{"key": k, "doc_count": n, "name": {"buckets": [{"key": k.title()}]}} for k, n in pairs]}

    response = {
        "hits": {"total": {"value": 1}, "hits": [{"_id": "5", "_source": {"card": {"id": 5}}}]},
        "aggregations": {
            "categories": {"buckets": [{"key": 7, "doc_count": 1}]},
            "brands": {"doc_count": 9, "selection": {"doc_count": 2, "brands": buckets(("acme", 1), ("zeta", 1))}},
            "price_bands": {"doc_count": 9, "selection": {"doc_count": 2, "price_bands": buckets(("0", 1), ("3", 1))}},
            "attributes": {
                "doc_count": 9,
                "all": {"doc_count": 1, "attributes": buckets(("colour=Red", 1), ("size=42", 1))},
                "only:colour": {"doc_count": 2, "attributes": buckets(("colour=Red", 1), ("colour=Black", 1))},
            },
        },
    }
    tree = {"nodes": {7: {"id": 7, "slug": "lamps", "name": "Lamps", "parent_id": None}}}
    facets = result_from_response(response, page=1, page_size=24, tree=tree).facets
    assert counts(facets) == {"brand:acme": 1, "brand:zeta": 1, "colour:Black": 1, "colour:Red": 1, "size:42": 1,
                              "price:0-25": 1, "price:100-250": 1}  # fmt: skip
