"""Search degrades instead of failing: with Elasticsearch unreachable, PostgreSQL answers (said as
`degraded`) behind a breaker shared through the cache, and it is current because indexing writes
both."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from catalog import search
from catalog.search import SearchUnavailable
from tests.catalog.factories import ProductFactory


class ClosedPort:
    """A loopback port held by this test and not listening: a connection to it is refused at
    once, and no other test process can take it until the stand-in listens on it."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]

    def close(self) -> None:
        self.socket.close()


class ElasticsearchStandIn:
    """Answers every search on the closed port (now listening) with an empty hit list, as
    Elasticsearch would for an index with nothing matching: enough for a breaker's trial call."""

    def __init__(self, closed: ClosedPort) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                body = json.dumps({"hits": {"total": {"value": 0, "relation": "eq"}, "hits": []}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.elasticsearch+json; compatible-with=9")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", closed.port), Handler, bind_and_activate=False)
        self.server.socket.close()
        self.server.socket = closed.socket  # bound already: listen on it
        self.server.server_activate()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def elasticsearch_at_a_closed_port(settings):
    """SEARCH_BACKEND=elasticsearch, its client pointed at a loopback port nobody listens on."""
    from elasticsearch.dsl.connections import connections

    closed = ClosedPort()
    port = closed.port
    settings.SEARCH_BACKEND = "elasticsearch"
    settings.ELASTICSEARCH_INDEX = "degraded-test"
    settings.SEARCH_BREAKER_FAILURES, settings.SEARCH_BREAKER_WINDOW_SECONDS = 2, 30
    settings.SEARCH_BREAKER_OPEN_SECONDS = 60  # moved past with fake_clock, never slept through
    previous = connections._kwargs.get("default"), connections._conns.get("default")
    connections.create_connection(alias="default", hosts=[f"http://127.0.0.1:{port}"], request_timeout=1,
                                  max_retries=0)  # fmt: skip
    yield closed
    closed.close()
    connections._conns.pop("default", None)
    connections._kwargs.pop("default", None)
    if previous[0] is not None:
        connections._kwargs["default"] = previous[0]
    if previous[1] is not None:
        connections._conns["default"] = previous[1]


@pytest.mark.postgres
@pytest.mark.django_db
def test_with_elasticsearch_unreachable_postgresql_answers_and_is_current(elasticsearch_at_a_closed_port):
    # given: a product indexed while Elasticsearch is the backend (and down): the task would retry
    product = ProductFactory(title="Aurora Headlamp")
    with pytest.raises(SearchUnavailable):
        search.index(product_ids=[product.pk])
    # when
    result = search.search(query="aurora headlamp")
    # then: PostgreSQL's columns were written first, so the standby finds it, and says so
    assert (result.ids, result.degraded) == ([product.pk], True)


@pytest.mark.django_db
def test_the_breaker_opens_after_failures_and_closes_when_elasticsearch_answers(
    elasticsearch_at_a_closed_port, fake_clock
):
    ProductFactory(title="Aurora Headlamp")
    # when: two searches fail to reach Elasticsearch
    assert search.search(query="aurora").degraded and search.search(query="aurora").degraded
    # then: the breaker is open for everyone (its state is in the cache) and the next search
    # answers from the database without trying Elasticsearch
    assert search.search_breaker.state() == "open"
    assert search.search(query="aurora").degraded

    # when: Elasticsearch answers again and the open period has passed
    standin = ElasticsearchStandIn(elasticsearch_at_a_closed_port)
    try:
        fake_clock.advance(61)
        result = search.search(query="aurora")
    finally:
        standin.stop()
    # then: the trial search went to Elasticsearch and closed the breaker
    assert result.degraded is False
    assert search.search_breaker.state() == "closed"


@pytest.mark.django_db
def test_the_api_and_the_page_say_when_search_is_degraded(client, elasticsearch_at_a_closed_port):
    ProductFactory(title="Aurora Headlamp")
    response = client.get("/api/v1/search", {"q": "aurora"})
    assert response.status_code == 200
    assert (response.json()["degraded"], response.json()["count"]) == (True, 1)
    page = client.get(reverse("catalog:search"), {"q": "aurora"})
    assert page.status_code == 200
    assert "simpler mode" in page.content.decode() and "Aurora Headlamp" in page.content.decode()


@pytest.mark.django_db
def test_a_healthy_database_search_is_never_marked_degraded(client):
    ProductFactory(title="Aurora Headlamp")
    assert client.get("/api/v1/search", {"q": "aurora"}).json()["degraded"] is False
