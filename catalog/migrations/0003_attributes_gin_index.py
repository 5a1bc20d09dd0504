"""PostgreSQL only: a GIN index on Product.attributes for the category pages' attribute filters.

Guarded by the database vendor so `migrate` still works on SQLite (the embedded default), where
the filters run as plain JSON lookups without an index.
"""

from django.db import migrations

CREATE = "CREATE INDEX IF NOT EXISTS product_attributes_gin ON catalog_product USING gin (attributes jsonb_path_ops)"
DROP = "DROP INDEX IF EXISTS product_attributes_gin"


def run_on_postgresql(sql: str):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return operation


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_catalog_brands_attributes_images")]

    operations = [migrations.RunPython(run_on_postgresql(CREATE), run_on_postgresql(DROP), elidable=False)]
