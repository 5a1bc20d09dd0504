"""PostgreSQL only: the search's filters inside its text index.

One GIN index over the search vector and a second tsvector computed from the row itself: its
category, brand and price band as the words "c<id>", "b<id>" and "p<band>" (the band is
`width_bucket(price, EDGES)`). It replaces the vector's own GIN index. A search for words with
a category, brand or price filter is then one index scan that intersects the words' posting
lists with the filter's inside the index, skipping through the longer ones; before, the words'
matches were fetched from the table and the filter checked on each row (a word of 4 % of a
million products with a category it is not in read 42,000 rows to find none), or the price
btree's bitmap of a quarter of the table was built to be ANDed with them.

`catalog.search.postgres.filter_vector_sql()` is the same expression over the same edges (a
test compares the two indexes PostgreSQL makes of them): a search asks for "p5 | p6 | ..." beside
the exact price condition, which still decides. An expression of the row, not a column, so it
is never behind the row and adding it rewrites nothing.

Guarded by the database vendor like 0004, so SQLite (the embedded default) still migrates. The
build takes a write lock on catalog_product (a minute or two on a million products); a shop that
cannot pause writes builds it first with CREATE INDEX CONCURRENTLY (IF NOT EXISTS then skips it).
"""

from django.db import migrations

EDGES = "{5,10,15,20,25,30,40,50,60,75,100,125,150,200,250,300,400,500,600,750,1000,1250,1500,2000,2500,3000,4000,5000,10000}"

CREATE = [
    "SET LOCAL maintenance_work_mem = '256MB'",
    # a CREATE INDEX CONCURRENTLY that failed leaves an invalid index under the name: build it again
    "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = to_regclass('product_search_filters_gin')"
    " AND NOT indisvalid) THEN DROP INDEX product_search_filters_gin; END IF; END $$",
    "CREATE INDEX IF NOT EXISTS product_search_filters_gin ON catalog_product USING gin (search_vector,"
    " (to_tsvector('simple'::regconfig, 'c' || category_id::text || ' b' || coalesce(brand_id::text, '')"
    f" || ' p' || width_bucket(price, '{EDGES}'::numeric[])::text)))",
    "DROP INDEX IF EXISTS product_search_vector_gin",
    "ANALYZE catalog_product",
]
DROP = [
    "CREATE INDEX IF NOT EXISTS product_search_vector_gin ON catalog_product USING gin (search_vector)",
    "DROP INDEX IF EXISTS product_search_filters_gin",
]


def run_on_postgresql(statements: list[str]):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("catalog", "0013_recommendations")]

    operations = [migrations.RunPython(run_on_postgresql(CREATE), run_on_postgresql(DROP), elidable=False)]
