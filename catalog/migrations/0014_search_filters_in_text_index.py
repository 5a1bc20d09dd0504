"""PostgreSQL only: the search's filters inside its text index.

One GIN index over the search vector, the category, the brand and the price's band
(btree_gin gives the scalar columns GIN operator classes), replacing the vector's own GIN index.
A search for a word with a category, brand or price filter is then one index scan that
intersects the word's posting list with the filter's inside the index, skipping through the
longer one; before, the word's matches were fetched from the table and the filter checked on
each row (a word of 4 % of a million products with a category it is not in read 42,000 rows to
find none), or the price index's bitmap of a quarter of the table was built to be ANDed with it.

The price's band is `width_bucket(price, EDGES)`: `catalog.search.postgres.PRICE_BAND_EDGES`
holds the same edges (a test compares them with this index's definition), and a search adds
"band in (the bands its price range touches)" beside the exact price condition, which still
decides; the band only lets the index skip the rest.

Guarded by the database vendor like 0004, so SQLite (the embedded default) still migrates. The
build takes a write lock on catalog_product (about a minute on a million products); a shop that
cannot pause writes builds it first with CREATE INDEX CONCURRENTLY (IF NOT EXISTS then skips it).
"""

from django.db import migrations

EDGES = "{5,10,15,20,25,30,40,50,60,75,100,125,150,200,250,300,400,500,600,750,1000,1250,1500,2000,2500,3000,4000,5000,10000}"

CREATE = [
    "SET LOCAL maintenance_work_mem = '256MB'",
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
