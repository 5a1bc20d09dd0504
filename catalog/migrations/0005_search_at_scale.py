"""PostgreSQL only: what keeps catalog.search.postgres fast on a million products.

- product_search_popularity, a btree on popularity over active products: the bitmap that,
  ANDed with the GIN index, finds the most popular matches of a common word without reading
  every match; it also answers "the popularity at rank N" by an index-only scan, and serves the
  empty query (the most popular products);
- a statistics target of 1000 on the search vector (ANALYZE keeps more of its most common
  words), so the planner's estimates for the words customers type are close.

Guarded by the database vendor like 0004, so SQLite (the embedded default) still migrates.
CREATE INDEX here takes a write lock on catalog_product for the build (seconds on a million
products); a shop that cannot pause writes builds it first with CREATE INDEX CONCURRENTLY
(the IF NOT EXISTS then skips it).
"""

from django.db import migrations

CREATE = [
    "CREATE INDEX IF NOT EXISTS product_search_popularity ON catalog_product (popularity) WHERE is_active",
    "ALTER TABLE catalog_product ALTER COLUMN search_vector SET STATISTICS 1000",
    "ANALYZE catalog_product",
]
DROP = [
    "ALTER TABLE catalog_product ALTER COLUMN search_vector SET STATISTICS -1",
    "DROP INDEX IF EXISTS product_search_popularity",
]


def run_on_postgresql(statements: list[str]):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_search")]

    operations = [migrations.RunPython(run_on_postgresql(CREATE), run_on_postgresql(DROP), elidable=False)]
