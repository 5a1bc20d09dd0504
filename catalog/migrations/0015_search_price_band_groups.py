"""PostgreSQL only: the search index's filter words gain the price band's group of four.

Migration 0014 put the row's category, brand and price band into the search's GIN index as the
words "c<id>", "b<id>" and "p<band>"; a price range was asked for as one word per band, and
the index steps through every one of those posting lists beside the searched words: ten band
words cost 40-70 ms at a million products where three cost 17. This adds "q<band / 4>", so a
range is asked for with a group's word where it covers three or four of the group's bands
(`catalog.search.postgres.price_words`): "25 to 200", ten bands, is three words.

`catalog.search.postgres.filter_vector_sql()` is the same expression (a test compares the
index PostgreSQL makes of each). The index is built under a new name and swapped in, so
searches keep their index until the new one is ready; the build takes a write lock on
catalog_product (12 s on a million products, measured); a shop that cannot pause writes
builds `product_search_filters_gin_next` first with CREATE INDEX CONCURRENTLY (IF NOT EXISTS
then skips it). Guarded by the database vendor, so SQLite (the embedded default) still migrates.
"""

from importlib import import_module

from django.db import migrations

# the statements on PostgreSQL only, as 0014 runs its own
run_on_postgresql = import_module("catalog.migrations.0014_search_filters_in_text_index").run_on_postgresql

EDGES = "{5,10,15,20,25,30,40,50,60,75,100,125,150,200,250,300,400,500,600,750,1000,1250,1500,2000,2500,3000,4000,5000,10000}"
BAND = f"width_bucket(price, '{EDGES}'::numeric[])"


def index_sql(name: str, *, groups: bool) -> str:
    words = f"'c' || category_id::text || ' b' || coalesce(brand_id::text, '') || ' p' || {BAND}::text"
    if groups:
        words += f" || ' q' || ({BAND} / 4)::text"
    return (
        f"CREATE INDEX IF NOT EXISTS {name} ON catalog_product USING gin (search_vector,"
        f" (to_tsvector('simple'::regconfig, {words})))"
    )


def swap(groups: bool) -> list[str]:
    return [
        "SET LOCAL maintenance_work_mem = '256MB'",
        # a CREATE INDEX CONCURRENTLY that failed leaves an invalid index under the name: build it again
        "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('product_search_filters_gin_next')"
        " AND NOT indisvalid) THEN DROP INDEX product_search_filters_gin_next; END IF; END $$",
        index_sql("product_search_filters_gin_next", groups=groups),
        "ANALYZE catalog_product",  # the new expression's statistics, while reads still go on
        # the swap takes an exclusive lock until the migration commits, right after: it waits for
        # running reads at most this long (then fails, and is run again) rather than queue every
        # read behind it
        "SET LOCAL lock_timeout = '10s'",
        "DROP INDEX IF EXISTS product_search_filters_gin",
        "ALTER INDEX product_search_filters_gin_next RENAME TO product_search_filters_gin",
    ]


class Migration(migrations.Migration):
    dependencies = [("catalog", "0014_search_filters_in_text_index")]

    operations = [
        migrations.RunPython(
            run_on_postgresql(swap(groups=True)), run_on_postgresql(swap(groups=False)), elidable=False
        )
    ]
