"""PostgreSQL only: popularity tiers and sample slices among the search index's filter words.

The second column of the search's GIN index (0014) gains two words per row: its popularity tier
"t<floor(4 log2(1 + popularity))>" and its slice "s<id mod 64>". A search then asks the index
for a word's most popular matches ("lamp" & (t60 | t61 | ...)) and for a fair sample of its
matches ("lamp" & (s0 | s1)) without the index first collecting every match of the word, which
took 12-24 ms for a word of 40,000-80,000 products at a million (docs/search.md).

`catalog.search.postgres.filter_vector_sql()` is the same expression (a test compares the two
indexes PostgreSQL makes of them). The popularity ranking rewrites the rows whose score moved,
as before; a rewritten row gets its new tier with its new index entries.

Guarded by the database vendor like 0014, so SQLite (the embedded default) still migrates. The
build takes a write lock on catalog_product (a few minutes at a million products); a shop that
cannot pause writes builds the new index first with CREATE INDEX CONCURRENTLY under the same
name (IF NOT EXISTS then skips it) and the migration only drops the old one.
"""

from django.db import migrations

EDGES = "{5,10,15,20,25,30,40,50,60,75,100,125,150,200,250,300,400,500,600,750,1000,1250,1500,2000,2500,3000,4000,5000,10000}"
OLD_FILTERS = (
    "to_tsvector('simple'::regconfig, 'c' || category_id::text || ' b' || coalesce(brand_id::text, '')"
    f" || ' p' || width_bucket(price, '{EDGES}'::numeric[])::text)"
)
NEW_FILTERS = (
    "to_tsvector('simple'::regconfig, 'c' || category_id::text || ' b' || coalesce(brand_id::text, '')"
    f" || ' p' || width_bucket(price, '{EDGES}'::numeric[])::text"
    " || ' t' || floor(5.770780163555854 * ln(1 + greatest(popularity, 0)))::int::text || ' s' || mod(id, 64)::text)"
)


def build(name: str, filters: str, old: str) -> list[str]:
    return [
        "SET LOCAL maintenance_work_mem = '256MB'",
        # a CREATE INDEX CONCURRENTLY that failed leaves an invalid index under the name: build it again
        f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('{name}')"
        f" AND NOT indisvalid) THEN DROP INDEX {name}; END IF; END $$",
        f"CREATE INDEX IF NOT EXISTS {name} ON catalog_product USING gin (search_vector, ({filters}))",
        f"DROP INDEX IF EXISTS {old}",
        "ANALYZE catalog_product",
    ]


CREATE = build("product_search_terms_gin", NEW_FILTERS, old="product_search_filters_gin")
DROP = build("product_search_filters_gin", OLD_FILTERS, old="product_search_terms_gin")


def run_on_postgresql(statements: list[str]):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("catalog", "0014_search_filters_in_text_index")]

    operations = [migrations.RunPython(run_on_postgresql(CREATE), run_on_postgresql(DROP), elidable=False)]
