"""The "did you mean" lexicon on the embedded database too (SQLite; PostgreSQL has it from 0004).

catalog.search.lexicon reads it for the simple fallback's typo tolerance. Filled here from the
active products' titles, so a demo database made before this migration forgives typos at once;
afterwards the index task adds the words of every product saved.
"""

import re

from django.db import migrations

WORDS_TABLE = "catalog_searchword"
WORD = re.compile(r"[^\W\d_]{3,30}")  # as catalog.search.lexicon.WORD, frozen here


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        return  # 0004 made it, with its trigram index
    schema_editor.execute(f"CREATE TABLE IF NOT EXISTS {WORDS_TABLE} (word text PRIMARY KEY)")
    titles = apps.get_model("catalog", "Product").objects.using(schema_editor.connection.alias)
    active = titles.filter(is_active=True).values_list("title", flat=True).iterator()
    words = sorted({match.lower() for title in active for match in WORD.findall(title)})
    with schema_editor.connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {WORDS_TABLE} (word) VALUES (%s) ON CONFLICT (word) DO NOTHING", [(w,) for w in words]
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        schema_editor.execute(f"DROP TABLE IF EXISTS {WORDS_TABLE}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0006_product_version_active_price")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
