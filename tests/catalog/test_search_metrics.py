"""shop_search_requests_total{backend, outcome} counts each search by what it found (issue 14)."""

from __future__ import annotations

import pytest

from catalog import search
from catalog.search import SearchUnavailable
from tests.catalog.factories import ProductFactory
from tests.metrics_helpers import Moves


@pytest.mark.django_db
def test_searches_are_counted_by_backend_and_outcome(client):
    ProductFactory(title="Lantern of brass")
    backend = search.get_backend().name
    moved = Moves()
    assert client.get("/search/", {"q": "lantern"}).status_code == 200
    assert client.get("/search/", {"q": "zeppelin"}).status_code == 200
    assert moved("shop_search_requests_total", backend=backend, outcome="results") == 1
    assert moved("shop_search_requests_total", backend=backend, outcome="empty") == 1


@pytest.mark.django_db
def test_an_unreachable_engine_counts_an_error_and_the_standby_answers(monkeypatch):
    lantern = ProductFactory(title="Lantern of brass")

    class Unreachable:
        name = "elasticsearch"

        def search(self, **kwargs):
            raise SearchUnavailable()

    monkeypatch.setattr(search, "get_backend", Unreachable)
    search.search_breaker.record_success()  # closed, whatever an earlier test left
    moved = Moves()
    result = search.search(query="lantern")
    assert result.degraded is True
    assert result.ids == [lantern.pk]
    assert moved("shop_search_requests_total", backend="elasticsearch", outcome="error") == 1
    standby = search.database_backend().name
    assert moved("shop_search_requests_total", backend=standby, outcome="results") == 1
