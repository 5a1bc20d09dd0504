"""Where the router sends reads: the primary unless code opts in, and a healthy replica only when allowed.

The module registers test aliases (a live copy of the test database, a dead port, the real
standby of DATABASE_REPLICA_REAL_URL from .ci/replica.sh) and each test picks its replicas
among them with the `replicas` fixture. The tests are transactional because pytest-django's
usual test transaction would send every read to the primary (the atomic-block rule) and prove
nothing about replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import threading
import time
import uuid

import psycopg
import pytest
from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, ProgrammingError, connections, router, transaction
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from catalog import selectors
from catalog.models import Category, Product
from inventory import selectors as inventory_selectors
from inventory import services as inventory_services
from shop import db_router
from shop.conf import replica_databases
from shop.db_router import choose_read_alias, measure_replica_lag, read_scope, replica_ok
from tests.catalog.factories import CategoryFactory, ProductFactory
from tests.concurrency import primary_connection_args
from tests.shop.helpers import run_python

DEAD_REPLICA_URL = "postgres://postgres@127.0.0.1:1/x"  # nothing listens on port 1
REAL_REPLICA_URL = os.environ.get("DATABASE_REPLICA_REAL_URL", "")
# Test aliases, registered for the module: "router_live" and "router_behind" are the test database
# again under another alias and connection, "router_dead" listens nowhere, "router_real" is the
# real standby. Their names do not start with "replica_", so the production discovery never sees
# them; each test picks its replicas with the `replicas` fixture.
LIVE_ALIASES = ("router_live", "router_behind")
TEST_ALIASES = (*LIVE_ALIASES, "router_dead", *(("router_real",) if REAL_REPLICA_URL else ()))
ROUTER_DATABASES = ["default", *TEST_ALIASES]

pytestmark = pytest.mark.django_db(transaction=True, databases=ROUTER_DATABASES)


@pytest.fixture(scope="module", autouse=True)
def _test_aliases(django_db_setup):
    # After the test database exists (a live alias copies its name), before any test class
    # declares these aliases in its `databases`. TEST MIRROR keeps Django from flushing them.
    for alias in TEST_ALIASES:
        if alias in LIVE_ALIASES:
            config = copy.deepcopy(connections.settings[DEFAULT_DB_ALIAS])
        else:
            config = replica_databases([REAL_REPLICA_URL if alias == "router_real" else DEAD_REPLICA_URL])["replica_1"]
        config["TEST"] = {**config.get("TEST", {}), "MIRROR": DEFAULT_DB_ALIAS}
        connections.settings[alias] = config
    connections.configure_settings(connections.settings)  # fills in the defaults Django expects
    yield
    for alias in TEST_ALIASES:
        del connections.settings[alias]


@pytest.fixture(autouse=True)
def _fresh_read_scope():
    # Every test is a new request: nothing written, no pin, no replica chosen, no health history.
    db_router.reset_replica_health()
    with read_scope():
        yield
    db_router.reset_replica_health()


@pytest.fixture
def replicas(monkeypatch):
    """Call with test aliases to make exactly these the router's replicas for this test."""

    def configure(*aliases: str) -> None:
        monkeypatch.setattr(db_router, "replica_aliases", lambda: list(aliases))

    yield configure
    for alias in TEST_ALIASES:
        with contextlib.suppress(AttributeError):
            connections[alias].close()
            del connections[alias]


def product_queries(captured: CaptureQueriesContext) -> list[str]:
    return [query["sql"] for query in captured if "catalog_product" in query["sql"]]


def test_reads_go_to_the_primary_unless_the_code_opts_in(replicas):
    replicas("router_live")
    assert router.db_for_read(Product) == "default"
    with replica_ok():
        assert router.db_for_read(Product) == "router_live"
    assert router.db_for_read(Product) == "default"


def test_writes_go_to_the_primary_even_inside_an_opt_in(replicas):
    replicas("router_live")
    with replica_ok():
        assert router.db_for_write(Product) == "default"


def test_an_opted_in_selector_runs_its_query_on_the_replica(replicas):
    # given
    replicas("router_live")
    product = ProductFactory(title="Trail Running Shoe")
    # when: a new request (the factory's writes sent the scope above to the primary)
    with (
        read_scope(),
        CaptureQueriesContext(connections["router_live"]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        found = list(selectors.search_products(query="trail shoe"))
    # then
    assert found == [product]
    assert len(product_queries(on_replica)) == 1
    assert product_queries(on_primary) == []


def test_the_pages_availability_reads_the_replica_and_a_stock_decision_the_primary(replicas):
    replicas("router_live")
    product = ProductFactory(title="Trail Running Shoe")
    inventory_services.set_level(product_id=product.pk, quantity=4, cause="test:router")

    def stock_queries(captured) -> list[str]:
        return [q["sql"] for q in captured if "inventory_stockitem" in q["sql"]]

    with (
        read_scope(),
        CaptureQueriesContext(connections["router_live"]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        shown = selectors.get_availability(product_ids=[product.pk])  # a page's label: opted in
        with transaction.atomic():
            levels = inventory_selectors.get_levels(product_ids=[product.pk])  # inside a service: the primary
    assert shown[product.pk].label == "Only 4 left" and levels == {product.pk: 4}
    assert len(stock_queries(on_replica)) == 1
    assert len(stock_queries(on_primary)) == 1


def test_opting_in_without_replicas_reads_the_primary(replicas):
    replicas()
    with replica_ok():
        assert router.db_for_read(Product) == "default"
        assert Product.objects.count() == 0


def test_opting_in_inside_a_transaction_reads_the_primary(replicas):
    replicas("router_live")
    with replica_ok():
        with transaction.atomic():
            assert router.db_for_read(Product) == "default"
        assert router.db_for_read(Product) == "router_live"


def test_opting_in_after_a_write_in_the_same_context_reads_the_primary(replicas):
    # given
    replicas("router_live")
    with replica_ok():
        assert router.db_for_read(Category) == "router_live"
    # when
    CategoryFactory()
    # then: this context reads its own write from the primary; a new scope may use the replica
    with replica_ok():
        assert router.db_for_read(Category) == "default"
        with read_scope():
            assert router.db_for_read(Category) == "router_live"


@pytest.mark.parametrize("form", ["decorator", "context manager"])
def test_the_opt_in_is_one_object_for_functions_and_blocks(replicas, form):
    replicas("router_live")
    if form == "decorator":
        alias = replica_ok(lambda: router.db_for_read(Product))()
    else:
        with replica_ok():
            alias = router.db_for_read(Product)
    assert alias == "router_live"
    assert router.db_for_read(Product) == "default"  # the opt-in ended with the function or block


def test_the_opt_in_belongs_to_its_own_asyncio_task(replicas):
    # given: two concurrent tasks, only one opted in; each asks the router from a worker thread
    replicas("router_live")

    def alias_for_a_read() -> str:
        alias = router.db_for_read(Product)
        connections["router_live"].close()  # this thread's connection, if the read opened one
        return alias

    @replica_ok
    async def opted_in() -> str:
        await asyncio.sleep(0.01)
        return await sync_to_async(alias_for_a_read)()

    async def not_opted_in() -> str:
        await asyncio.sleep(0.01)
        return await sync_to_async(alias_for_a_read)()

    async def both() -> list[str]:
        return list(await asyncio.gather(opted_in(), not_opted_in()))

    # when / then
    assert asyncio.run(both()) == ["router_live", "default"]


def test_the_opt_in_does_not_leak_into_another_thread(replicas):
    replicas("router_live")
    seen: list[str] = []

    def read_in_a_thread() -> None:
        seen.append(router.db_for_read(Product))
        connections.close_all()

    with replica_ok():
        thread = threading.Thread(target=read_in_a_thread)
        thread.start()
        thread.join()
        assert router.db_for_read(Product) == "router_live"
    assert seen == ["default"]


def test_lazy_selector_querysets_read_the_replica_chosen_when_called(replicas):
    # given
    replicas("router_live")
    shoe = ProductFactory(title="Trail Running Shoe")
    # when: the view calls the selectors, and evaluates the querysets later (the Paginator)
    with read_scope():
        found = selectors.search_products(query="trail shoe")
        with CaptureQueriesContext(connections["router_live"]) as on_replica:
            rows = list(found)
    # then
    assert found.db == "router_live"
    assert rows == [shoe]
    assert len(product_queries(on_replica)) == 1


def test_lazy_selector_querysets_read_the_primary_after_a_write(replicas):
    replicas("router_live")
    shoe = ProductFactory(title="Trail Running Shoe")  # this scope wrote
    assert selectors.search_products(query="trail").db == "default"
    assert list(selectors.search_products(query="trail")) == [shoe]


def test_a_dead_replica_is_skipped_for_a_live_one(replicas):
    replicas("router_dead", "router_live")
    # Round-robin starts on each replica in turn: every new request still lands on the live one.
    for _ in range(4):
        with read_scope(), replica_ok():
            assert router.db_for_read(Product) == "router_live"
            assert Product.objects.count() == 0


def test_reads_fall_back_to_the_primary_when_every_replica_is_down(replicas):
    replicas("router_dead")
    with replica_ok(), CaptureQueriesContext(connections["default"]) as on_primary:
        assert router.db_for_read(Product) == "default"
        assert Product.objects.count() == 0  # no exception reaches the page
    assert len(product_queries(on_primary)) == 1


def test_a_dead_replica_is_remembered_for_a_few_seconds_then_retried(replicas, monkeypatch):
    # given: count the connection attempts on the dead replica, remembered as down for 0.5 s
    monkeypatch.setattr(db_router, "REPLICA_RETRY_SECONDS", 0.5)
    replicas("router_dead")
    dead = connections["router_dead"]
    attempts: list[float] = []
    connect = dead.ensure_connection

    def counted_connect() -> None:
        attempts.append(time.monotonic())
        connect()

    monkeypatch.setattr(dead, "ensure_connection", counted_connect)
    # when: two requests read at once; then the retry time passes and a third one reads
    for _ in range(2):
        with read_scope(), replica_ok():
            assert router.db_for_read(Product) == "default"
    assert len(attempts) == 1
    time.sleep(0.6)
    with read_scope(), replica_ok():
        assert router.db_for_read(Product) == "default"
    # then
    assert len(attempts) == 2


@pytest.mark.parametrize(("lag", "limit", "expected"), [(3.0, 5, "router_live"), (6.0, 5, "default"),
                                                        (6.0, 10, "router_live"), (None, 5, "default")])  # fmt: skip
def test_a_replica_lagging_past_the_limit_or_of_unknown_lag_is_skipped(replicas, monkeypatch, settings,
                                                                       lag, limit, expected):  # fmt: skip
    replicas("router_live")
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = limit
    monkeypatch.setattr(db_router, "measure_replica_lag", lambda alias: lag)
    with replica_ok():
        assert router.db_for_read(Product) == expected


def test_a_lagging_replica_gives_way_to_one_that_keeps_up(replicas, monkeypatch):
    replicas("router_behind", "router_live")
    monkeypatch.setattr(db_router, "measure_replica_lag", lambda alias: 60.0 if alias == "router_behind" else 0.0)
    for _ in range(3):
        with read_scope(), replica_ok():
            assert router.db_for_read(Product) == "router_live"


def test_lag_is_measured_at_most_every_couple_of_seconds(replicas, monkeypatch):
    replicas("router_live")
    measured: list[str] = []
    monkeypatch.setattr(db_router, "measure_replica_lag", lambda alias: measured.append(alias) or 0.0)
    for _ in range(5):
        with read_scope(), replica_ok():
            router.db_for_read(Product)
    assert measured == ["router_live"]


@pytest.mark.postgres
def test_a_server_that_is_not_a_standby_reports_no_lag(replicas):
    # The test mirror of a replica is the primary's test database: not in recovery, lag 0.
    replicas("router_live")
    assert measure_replica_lag("router_live") == 0.0


def test_migrations_run_only_on_the_primary(replicas):
    replicas("router_live")
    assert router.allow_migrate("default", "catalog", model_name="product") is True
    assert router.allow_migrate("router_live", "catalog", model_name="product") is False


def test_rows_from_a_replica_and_the_primary_may_be_related(replicas):
    replicas("router_live")
    category = CategoryFactory()
    from_replica = Category.objects.using("router_live").get(pk=category.pk)
    assert router.allow_relation(Product(category=category), from_replica) is True
    product = ProductFactory.build(category=from_replica)  # assigning across the aliases is allowed
    assert product.category == category


def test_configured_replica_urls_become_the_routers_replicas_and_a_dead_one_falls_back():
    # A new process with the real settings: one replica URL where nothing listens.
    code = (
        "import json, django; django.setup(); from django.conf import settings; from django.db import router; "
        "from django.contrib.contenttypes.models import ContentType; "
        "from shop.db_router import replica_aliases, replica_ok\n"
        "with replica_ok(): alias = router.db_for_read(ContentType)\n"
        "print(json.dumps([settings.DATABASE_ROUTERS, replica_aliases(), alias, settings.MIDDLEWARE]))"
    )
    result = run_python(code, DATABASE_REPLICA_URLS=DEAD_REPLICA_URL)
    assert result.returncode == 0, result.stderr
    routers, aliases, alias, middleware = json.loads(result.stdout.strip().splitlines()[-1])
    assert routers == ["shop.db_router.ReplicaRouter"]
    assert aliases == ["replica_1"]
    assert alias == "default"
    authentication = middleware.index("django.contrib.auth.middleware.AuthenticationMiddleware")
    assert middleware[authentication + 1] == "shop.db_router.ReplicaPinMiddleware"


# --- The real streaming replica (.ci/replica.sh) --------------------------------------------


def primary_postgres_database() -> dict:
    """Connection arguments for the `postgres` database on the server of the primary."""
    return primary_connection_args(dbname="postgres")


@pytest.mark.postgres
@pytest.mark.replica
def test_the_real_replica_is_a_standby_whose_lag_is_below_the_limit(replicas, settings):
    replicas("router_real")
    lag = measure_replica_lag("router_real")
    assert lag is not None
    assert 0 <= lag < settings.DATABASE_REPLICA_MAX_LAG_SECONDS
    with connections["router_real"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    with replica_ok():
        assert router.db_for_read(Product) == "router_real"


@pytest.mark.postgres
@pytest.mark.replica
def test_a_row_committed_on_the_primary_shows_on_the_real_replica_within_seconds(replicas):
    # given: a scratch table of this test's own in the primary's `postgres` database
    replicas("router_real")
    table = sql.Identifier(f"replica_probe_{uuid.uuid4().hex}")
    select = sql.SQL("SELECT note FROM {} WHERE id = 1").format(table)
    with psycopg.connect(**primary_postgres_database(), autocommit=True) as primary:
        try:
            # when: a row is committed on the primary
            primary.execute(sql.SQL("CREATE TABLE {} (id int PRIMARY KEY, note text)").format(table))
            primary.execute(sql.SQL("INSERT INTO {} VALUES (1, 'written on the primary')").format(table))
            # then: an opted-in read finds it on the replica within a few seconds
            with replica_ok():
                alias = choose_read_alias()
            assert alias == "router_real"
            found, deadline = None, time.monotonic() + 5
            while found is None and time.monotonic() < deadline:
                with connections[alias].cursor() as cursor:
                    try:
                        cursor.execute(select)
                        found = cursor.fetchone()
                    except ProgrammingError:  # the table itself is not replayed yet
                        found = None
                if found is None:
                    time.sleep(0.05)
            assert found == ("written on the primary",)
        finally:
            primary.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))


@pytest.mark.postgres
@pytest.mark.replica
def test_configured_real_replica_url_serves_opted_in_reads():
    # A new process with the real settings: the primary's `postgres` database and its real standby.
    primary = primary_postgres_database()
    login = primary["user"] + (f":{primary['password']}" if primary["password"] else "")
    code = (
        "import django; django.setup(); from django.db import router; "
        "from django.contrib.contenttypes.models import ContentType; from shop.db_router import replica_ok\n"
        "with replica_ok(): print(router.db_for_read(ContentType))"
    )
    result = run_python(
        code,
        DATABASE_URL=f"postgres://{login}@{primary['host']}:{primary['port']}/postgres",
        DATABASE_REPLICA_URLS=os.environ["DATABASE_REPLICA_REAL_URL"],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "replica_1"
