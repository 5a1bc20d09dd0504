"""CSV import and export of products (issue 17): manage.py import_products / export_products."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog import cache as catalog_cache
from catalog import search
from catalog.models import Product
from catalog.product_csv import COLUMNS
from tests.catalog.factories import BrandFactory, CategoryFactory, ProductFactory

pytestmark = pytest.mark.django_db

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "products.csv"
HEADER = "sku,title,price,compare_at_price,category,brand,attributes"


@pytest.fixture
def lamps():
    return CategoryFactory(name="Lamps", slug="lamps")


@pytest.fixture
def lumen():
    return BrandFactory(name="Lumen", slug="lumen")


def write_csv(tmp_path: Path, text: str, *, name: str = "products.csv", encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def run_import(path: str, *options: str) -> tuple[str, list[str], CommandError | None]:
    """(stdout, stderr lines, the CommandError raised or None)."""
    out, err = io.StringIO(), io.StringIO()
    failure = None
    try:
        call_command("import_products", path, *options, stdout=out, stderr=err)
    except CommandError as exc:
        failure = exc
    return out.getvalue(), err.getvalue().splitlines(), failure


def snapshot() -> list[tuple]:
    return list(Product.objects.order_by("sku").values_list("sku", "title", "price", "compare_at_price",
                                                            "category_id", "brand_id", "attributes", "version"))  # fmt: skip


GOOD_AND_BAD = "\n".join([
    HEADER,
    'LAMP-1,Brass desk lamp,49.90,59.90,lamps,lumen,"{""Colour"": ""Brass""}"',   # row 2: good
    "LAMP-2,Black lamp,-1,,lamps,,",                                                 # row 3: price below 0
    "LAMP-3,Tiny lamp,12.345,,lamps,,",                                              # row 4: 3 decimals
    "LAMP-4,Lost lamp,10,,no-such-category,no-such-brand,",                          # row 5: two bad columns
    "LAMP-5,Green lamp,19.00,,lamps,,",                                              # row 6: good
    "LAMP-1,Brass desk lamp again,1.00,,lamps,,",                                    # row 7: repeated SKU
    'LAMP-6,Odd lamp,10,,lamps,,"{""colour"": [1, 2]}"',                            # row 8: bad attributes
]) + "\n"  # fmt: skip


def test_good_rows_are_imported_and_each_bad_row_is_one_line_naming_row_column_and_reason(
    tmp_path, lamps, lumen, django_capture_on_commit_callbacks
):
    path = write_csv(tmp_path, GOOD_AND_BAD)

    with django_capture_on_commit_callbacks(execute=True):
        out, errors, failure = run_import(path)

    assert sorted(Product.objects.values_list("sku", flat=True)) == ["LAMP-1", "LAMP-5"]
    lamp = Product.objects.get(sku="LAMP-1")
    assert (lamp.title, lamp.price, lamp.compare_at_price) == ("Brass desk lamp", Decimal("49.90"), Decimal("59.90"))
    assert (lamp.category_id, lamp.brand_id, lamp.attributes) == (lamps.pk, lumen.pk, {"colour": "Brass"})
    assert errors == [
        "row 3: price: Must not be below 0.",
        "row 4: price: Use at most 2 decimal places.",
        "row 5: category: No category has the slug 'no-such-category'.; brand: No brand has the slug 'no-such-brand'.",
        "row 7: sku: Duplicate SKU: row 2 has it.",
        "row 8: attributes: Each attribute holds one value (text or a number).",
    ]
    assert "7 rows: 2 created, 0 updated, 0 unchanged, 5 refused" in out
    assert failure is not None and failure.returncode == 1
    assert search.search(query="brass lamp").ids == [lamp.pk]


def test_the_dry_run_reports_the_same_and_changes_nothing(tmp_path, lamps, lumen):
    ProductFactory(sku="LAMP-5", title="Old green lamp", category=lamps)
    before = snapshot()
    path = write_csv(tmp_path, GOOD_AND_BAD)

    out, errors, _ = run_import(path, "--dry-run")

    assert snapshot() == before
    assert "Dry run, nothing written: 7 rows: 1 created, 1 updated, 0 unchanged, 5 refused" in out
    assert len(errors) == 5


def test_importing_the_same_file_again_changes_nothing(tmp_path, lamps, lumen):
    path = write_csv(tmp_path, GOOD_AND_BAD)
    run_import(path)
    before = snapshot()

    out, _, _ = run_import(path)

    assert snapshot() == before  # versions included: no cache was dropped for nothing
    assert "2 unchanged" in out and "0 created, 0 updated" in out


def test_an_update_by_sku_changes_only_the_columns_in_the_file_and_raises_the_version(tmp_path, lamps, lumen):
    lamp = ProductFactory(sku="LAMP-1", title="Brass lamp", price=Decimal("40.00"), brand=lumen, category=lamps,
                          description="Kept", attributes={"colour": "brass"})  # fmt: skip
    path = write_csv(tmp_path, "sku,title,price,category\nLAMP-1,Brass desk lamp,45.00,lamps\n")

    out, errors, failure = run_import(path)

    assert (errors, failure) == ([], None)
    lamp.refresh_from_db()
    assert (lamp.title, lamp.price, lamp.description, lamp.brand_id) == ("Brass desk lamp", Decimal("45.00"), "Kept", lumen.pk)
    assert lamp.version == 2
    assert "1 updated" in out


def test_a_batch_invalidates_the_cache_once_and_queues_one_index_task(
    tmp_path, lamps, monkeypatch, django_capture_on_commit_callbacks
):
    # given: 40 rows, one batch
    rows = "\n".join(f"SKU-{n},Lamp {n},{10 + n},,lamps,," for n in range(40))
    path = write_csv(tmp_path, f"{HEADER}\n{rows}\n")
    invalidations, index_tasks = [], []
    monkeypatch.setattr("catalog.services.products.invalidate_products", invalidations.append)
    monkeypatch.setattr("catalog.tasks.index_products_task.delay", lambda **kwargs: index_tasks.append(kwargs))

    with django_capture_on_commit_callbacks(execute=True):
        out, _, _ = run_import(path)

    assert "40 created" in out
    assert len(invalidations) == 1 and len(invalidations[0]) == 40
    assert len(index_tasks) == 1 and len(index_tasks[0]["product_ids"]) == 40


def test_an_imported_price_reaches_a_cached_product_page(tmp_path, lamps, django_capture_on_commit_callbacks):
    from rest_framework.test import APIClient

    lamp = ProductFactory(sku="LAMP-1", price=Decimal("40.00"), category=lamps)
    assert APIClient().get(f"/api/v1/products/{lamp.pk}").json()["price"] == "40.00"  # cached now
    generation = catalog_cache.listing_generation()
    path = write_csv(tmp_path, "sku,title,price,category\nLAMP-1,Brass desk lamp,45.00,lamps\n")

    with django_capture_on_commit_callbacks(execute=True):
        run_import(path)

    assert APIClient().get(f"/api/v1/products/{lamp.pk}").json()["price"] == "45.00"
    assert catalog_cache.listing_generation() != generation


@pytest.mark.parametrize(
    "text",
    ["\ufeff" + HEADER + "\r\nLAMP-1,Lamp,10,,lamps,,\r\nLAMP-2,Lamp two,11,,lamps,,\r\n",  # BOM, Windows
     HEADER + "\rLAMP-1,Lamp,10,,lamps,,\rLAMP-2,Lamp two,11,,lamps,,\r",  # old Mac line endings
     HEADER + '\nLAMP-1,"Lamp",10,,lamps,,\n\nLAMP-2,Lamp two,11,,lamps,,'],  # a blank line, no last newline
    ids=["bom-crlf", "cr", "blank-line"],
)  # fmt: skip
def test_boms_and_line_endings_of_common_exports_are_read(tmp_path, lamps, text):
    _, errors, failure = run_import(write_csv(tmp_path, text))

    assert (errors, failure) == ([], None)
    assert sorted(Product.objects.values_list("sku", "title")) == [("LAMP-1", "Lamp"), ("LAMP-2", "Lamp two")]


def test_a_multi_line_description_keeps_its_row_number_for_the_rows_after_it(tmp_path, lamps):
    text = f'{HEADER},description\nLAMP-1,Lamp,10,,lamps,,,"one\ntwo\nthree"\nLAMP-2,Lamp,-5,,lamps,,,\n'

    _, errors, _ = run_import(write_csv(tmp_path, text))

    assert Product.objects.get(sku="LAMP-1").description == "one\ntwo\nthree"
    assert errors == ["row 5: price: Must not be below 0."]


@pytest.mark.parametrize(
    ("header", "message"),
    [("sku,title,category", "missing column(s): price"),
     ("sku,title,prize,price,category", "unknown column(s): prize"),
     ("", "The file is empty")],
)  # fmt: skip
def test_a_bad_header_is_one_clear_error_and_nothing_is_imported(tmp_path, lamps, header, message):
    _, _, failure = run_import(write_csv(tmp_path, f"{header}\nLAMP-1,Lamp,10,lamps\n" if header else ""))

    assert failure is not None and message in str(failure)
    assert Product.objects.count() == 0


def test_a_file_that_is_not_utf8_is_refused(tmp_path, lamps):
    _, _, failure = run_import(write_csv(tmp_path, f"{HEADER}\nLAMP-1,Lämp,10,,lamps,,\n", encoding="latin-1"))

    assert failure is not None and "not UTF-8" in str(failure)


def test_a_huge_line_is_refused_as_its_row_and_the_others_are_imported(tmp_path, lamps):
    huge = "x" * 3_000_000  # read past in chunks, never held whole
    text = f"{HEADER},description\nLAMP-1,Lamp,10,,lamps,,,{huge}\nLAMP-2,Lamp two,11,,lamps,,,fine\n"

    _, errors, _ = run_import(write_csv(tmp_path, text))

    assert errors == ["row 2: row: The line is longer than 1000000 characters."]
    assert list(Product.objects.values_list("sku", flat=True)) == ["LAMP-2"]


def test_a_row_with_the_wrong_number_of_cells_is_refused(tmp_path, lamps):
    _, errors, _ = run_import(write_csv(tmp_path, f"{HEADER}\nLAMP-1,Lamp,10,lamps\nLAMP-2,Lamp,11,,lamps,,\n"))

    assert errors == ["row 2: row: 4 cells where the header has 7 columns."]
    assert list(Product.objects.values_list("sku", flat=True)) == ["LAMP-2"]


def test_duplicate_skus_across_batches_are_refused_after_the_first(tmp_path, lamps):
    rows = "\n".join(f"SKU-{n % 3},Lamp {n},{10 + n},,lamps,," for n in range(6))

    _, errors, _ = run_import(write_csv(tmp_path, f"{HEADER}\n{rows}\n"), "--batch-size", "2")

    assert errors == [f"row {n}: sku: Duplicate SKU: row {n - 3} has it." for n in (5, 6, 7)]
    assert sorted(Product.objects.values_list("title", flat=True)) == ["Lamp 0", "Lamp 1", "Lamp 2"]


def test_export_then_import_is_a_round_trip_that_changes_nothing(tmp_path, lamps, lumen):
    ProductFactory(sku="A-1", title='Lamp, "deluxe"', price=Decimal("10.50"), compare_at_price=Decimal("12.00"),
                   category=lamps, brand=lumen, attributes={"colour": "Red"}, description="one\ntwo")  # fmt: skip
    ProductFactory(sku="A-2", title="Plain", category=lamps, is_active=False)
    before = snapshot()
    exported = tmp_path / "export.csv"

    call_command("export_products", "--output", str(exported), stderr=io.StringIO())
    out, errors, failure = run_import(str(exported))

    rows = list(csv.reader(exported.open(newline="")))
    assert rows[0] == list(COLUMNS)
    assert rows[1][:3] == ["A-1", Product.objects.get(sku="A-1").slug, 'Lamp, "deluxe"']
    assert (errors, failure) == ([], None)
    assert "2 unchanged" in out
    assert snapshot() == before


def test_export_to_stdout_streams_every_product(lamps):
    for n in range(5):
        ProductFactory(sku=f"S-{n}", category=lamps)
    out = io.StringIO()

    call_command("export_products", stdout=out, stderr=io.StringIO())

    assert [row[0] for row in csv.reader(io.StringIO(out.getvalue()))] == ["sku", "S-0", "S-1", "S-2", "S-3", "S-4"]


def test_the_documented_example_file_imports(tmp_path):
    # the example names the demo catalog's categories and brands
    for slug in ("home-kitchen-lighting", "home-kitchen-cookware", "toys-games-outdoor-toys"):
        CategoryFactory(slug=slug)
    for slug in ("lumen", "hearth-co"):
        BrandFactory(slug=slug)

    out, errors, failure = run_import(str(EXAMPLE))

    assert (errors, failure) == ([], None)
    assert "4 created" in out
    assert Product.objects.get(sku="KITE-3001").is_active is False


def test_an_empty_is_active_cell_leaves_the_flag_alone(tmp_path, lamps):
    ProductFactory(sku="OLD-1", title="Hidden lamp", category=lamps, is_active=False)
    text = "sku,title,price,category,is_active\nOLD-1,Hidden lamp,19.99,lamps,\nNEW-1,New lamp,10,lamps,\n"

    _, errors, failure = run_import(write_csv(tmp_path, text))

    assert (errors, failure) == ([], None)
    assert dict(Product.objects.values_list("sku", "is_active")) == {"OLD-1": False, "NEW-1": True}


@pytest.mark.postgres
def test_on_postgresql_new_products_get_their_search_vectors_in_the_insert_and_changes_are_written(
    tmp_path, lamps, lumen
):
    from django.db import connection

    from catalog.search.postgres import document_vector

    def vectors_current() -> list[bool]:
        with connection.cursor() as cursor:
            sql, params = Product.objects.annotate(vector=document_vector()).values("id", "vector").query.sql_with_params()
            query = (f"SELECT p.search_vector IS NOT NULL AND p.search_vector = s.vector FROM catalog_product p "  # noqa: S608
                     f"JOIN ({sql}) s ON s.id = p.id ORDER BY p.sku")  # fmt: skip
            cursor.execute(query, params)
            return [current for (current,) in cursor.fetchall()]

    # no on-commit callbacks run: the index task does not write these vectors
    run_import(write_csv(tmp_path, f'{HEADER}\nLAMP-1,Brass desk lamp,49.90,,lamps,lumen,"{{""colour"": ""Brass""}}"\n'))
    assert vectors_current() == [True]
    out, _, _ = run_import(write_csv(tmp_path, f"{HEADER}\nLAMP-1,Green desk lamp,39.90,,lamps,,\n", name="b.csv"))
    product = Product.objects.get(sku="LAMP-1")
    assert "1 updated" in out and (product.title, product.price, product.brand_id, product.version) == (
        "Green desk lamp", Decimal("39.90"), None, 2)  # fmt: skip


def test_the_categories_and_brands_of_a_file_are_looked_up_once_not_per_batch(tmp_path, lamps, lumen):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rows = "\n".join(f"SKU-{n},Lamp {n},{10 + n},,lamps,lumen," for n in range(3))
    path = write_csv(tmp_path, f"{HEADER}\n{rows}\nSKU-9,Lamp 9,10,,lampz,,\n")

    with CaptureQueriesContext(connection) as queries:
        out, errors, _ = run_import(path, "--batch-size", "1")

    assert "3 created" in out and errors == ["row 5: category: No category has the slug 'lampz'."]
    by_slug = [q["sql"] for q in queries if 'FROM "catalog_category"' in q["sql"] and '"slug" IN' in q["sql"]]
    assert len(by_slug) == 2  # "lamps" by the first batch, the unknown "lampz" by the last


@pytest.mark.postgres
def test_on_postgresql_the_index_task_is_told_which_vectors_the_insert_wrote(
    tmp_path, lamps, monkeypatch, django_capture_on_commit_callbacks
):
    ProductFactory(sku="OLD-1", title="Old lamp", category=lamps)
    path = write_csv(tmp_path, f"{HEADER}\nOLD-1,Renamed lamp,10,,lamps,,\nNEW-1,New lamp,11,,lamps,,\n")
    index_tasks = []
    monkeypatch.setattr("catalog.tasks.index_products_task.delay", lambda **kwargs: index_tasks.append(kwargs))

    with django_capture_on_commit_callbacks(execute=True):
        run_import(path)

    old, new = Product.objects.get(sku="OLD-1"), Product.objects.get(sku="NEW-1")
    assert index_tasks == [{"product_ids": sorted([old.pk, new.pk]), "fresh_vector_ids": [new.pk]}]


@pytest.mark.postgres
def test_a_fresh_vector_is_not_recomputed_but_its_words_reach_the_lexicon(lamps, settings):
    from django.db import connection

    settings.SEARCH_BACKEND = "database"
    fresh, stale = ProductFactory(title="Zeppelin lamp", category=lamps), ProductFactory(title="Quokka", category=lamps)

    search.index(product_ids=[fresh.pk, stale.pk], fresh_vector_ids=[fresh.pk])

    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM catalog_product WHERE search_vector IS NOT NULL")
        assert [pk for (pk,) in cursor.fetchall()] == [stale.pk]  # the factory row's NULL was left alone
        cursor.execute("SELECT word FROM catalog_searchword WHERE word IN ('zeppelin', 'quokka') ORDER BY word")
        assert [word for (word,) in cursor.fetchall()] == ["quokka", "zeppelin"]


@pytest.mark.postgres
def test_on_postgresql_a_batch_of_new_and_changed_rows_costs_a_fixed_number_of_queries(tmp_path, lamps, lumen):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(count: int, name: str) -> list[str]:
        ProductFactory(sku=f"OLD-{name}", title="Old lamp", category=lamps)
        rows = "\n".join(f"{name}-{n},Lamp {n},{10 + n},,lamps,lumen," for n in range(count))
        path = write_csv(tmp_path, f"{HEADER}\nOLD-{name},Renamed lamp,10,,lamps,,\n{rows}\n", name=f"{name}.csv")
        with CaptureQueriesContext(connection) as captured:
            run_import(path)
        return [verb for q in captured if (verb := q["sql"].split()[0]) not in ("SAVEPOINT", "RELEASE")]

    small, large = queries_for(2, "S"), queries_for(40, "L")

    assert small == large  # the same statements whatever the batch holds
    # the names by slug (2), their share locks (2), the locked SKUs, the slugs; one INSERT, one UPDATE
    assert large == ["SELECT"] * 6 + ["INSERT", "UPDATE"]
