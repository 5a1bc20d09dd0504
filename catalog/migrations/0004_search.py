"""PostgreSQL only: the full-text search storage of catalog.search.postgres.

- pg_trgm (TrigramExtension skips other databases by itself);
- catalog_product.search_vector, a stored weighted tsvector written by the index task (not a
  model field: the model runs on SQLite too), with a GIN index, and a partial index on the rows
  that have none yet (searched by their title until the task runs);
- catalog_searchword, the "did you mean" lexicon: a C-collated primary key (prefix LIKE uses
  it) and a trigram GIN index for similarity.

Guarded by the database vendor so `migrate` still works on SQLite (the embedded default), which
searches with the simple fallback. Existing products get their vectors from
`manage.py search_reindex` (run once after this migration on a database that has products), not
from the migration, which stays fast on a large table.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

CREATE = [
    "ALTER TABLE catalog_product ADD COLUMN IF NOT EXISTS search_vector tsvector",
    "CREATE INDEX IF NOT EXISTS product_search_vector_gin ON catalog_product USING gin (search_vector)",
    # the few rows whose vector is not written yet, searched by their title meanwhile
    "CREATE INDEX IF NOT EXISTS product_search_vector_missing ON catalog_product (id) WHERE search_vector IS NULL",
    'CREATE TABLE IF NOT EXISTS catalog_searchword (word text COLLATE "C" PRIMARY KEY)',
    "CREATE INDEX IF NOT EXISTS searchword_trigram_gin ON catalog_searchword USING gin (word gin_trgm_ops)",
]
DROP = [
    "DROP TABLE IF EXISTS catalog_searchword",
    "DROP INDEX IF EXISTS product_search_vector_missing",
    "DROP INDEX IF EXISTS product_search_vector_gin",
    "ALTER TABLE catalog_product DROP COLUMN IF EXISTS search_vector",
]


def run_on_postgresql(statements: list[str]):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_attributes_gin_index")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(run_on_postgresql(CREATE), run_on_postgresql(DROP), elidable=False),
    ]
