"""`{% fixed_url %}`: the header's and footer's URLs reversed once per process, prefix and URLconf."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.urls import reverse, set_script_prefix

from shop.templatetags.storefront import _reversed


@pytest.fixture(autouse=True)
def _root_prefix():
    yield
    set_script_prefix("/")


def render(source: str) -> str:
    return Template("{% load storefront %}" + source).render(Context())


def test_a_fixed_url_is_the_reversed_url_and_follows_the_script_prefix():
    assert render("{% fixed_url 'cart:cart' %}") == reverse("cart:cart") == "/cart/"
    set_script_prefix("/shop/")  # the shop served under a path (SCRIPT_NAME)
    assert render("{% fixed_url 'cart:cart' %}") == reverse("cart:cart") == "/shop/cart/"


def test_a_fixed_url_is_reversed_once_per_process(monkeypatch):
    _reversed.cache_clear()
    calls = []
    import shop.templatetags.storefront as storefront

    monkeypatch.setattr(storefront, "reverse", lambda name, urlconf=None: calls.append(name) or f"/{name}/")
    assert render("{% fixed_url 'orders:list' %}{% fixed_url 'orders:list' %}") == "/orders:list//orders:list/"
    assert calls == ["orders:list"]
    _reversed.cache_clear()


HEADER_AND_FOOTER = {"catalog:home", "catalog:search", "catalog:search-suggest", "accounts:login", "accounts:signup",
                     "accounts:account", "orders:list", "cart:cart"}  # fmt: skip


@pytest.mark.django_db
def test_a_page_reverses_none_of_the_header_and_footer_urls_once_warm(client, monkeypatch):
    """Every storefront page carries these links; once warm, rendering one reverses none of them
    (neither through `{% url %}` nor through `{% fixed_url %}`)."""
    import django.urls

    import shop.templatetags.storefront as storefront

    assert client.get("/cart/").status_code == 200  # warm: each fixed URL reversed once
    names = []

    def counting(original):
        return lambda viewname, *args, **kwargs: names.append(viewname) or original(viewname, *args, **kwargs)

    monkeypatch.setattr(django.urls, "reverse", counting(django.urls.reverse))  # what {% url %} calls
    monkeypatch.setattr(storefront, "reverse", counting(storefront.reverse))
    response = client.get("/cart/")
    assert response.status_code == 200 and b'href="/orders/"' in response.content
    assert not HEADER_AND_FOOTER & set(names), names
