"""Activity counts and the ranking's state (issue 13).

On PostgreSQL the two activity tables are partitioned by day (declarative RANGE partitioning; the
primary key includes the partition key); their partitions are created ahead and dropped whole by
catalog.services.popularity. Django's state is the same models on every database; on SQLite they
are plain tables made by the schema editor.
"""

from django.db import migrations, models

PARTITIONED = {
    "catalog_productactivity": (
        "day date NOT NULL, product_id bigint NOT NULL, views integer NOT NULL DEFAULT 0, "
        "carts integer NOT NULL DEFAULT 0, purchases integer NOT NULL DEFAULT 0, clicks integer NOT NULL DEFAULT 0, "
        "PRIMARY KEY (day, product_id)"
    ),
    "catalog_searchactivity": (
        "day date NOT NULL, query varchar(100) NOT NULL, searches integer NOT NULL DEFAULT 0, "
        "zero_results integer NOT NULL DEFAULT 0, clicks integer NOT NULL DEFAULT 0, PRIMARY KEY (day, query)"
    ),
}
MODELS = {"catalog_productactivity": "ProductActivity", "catalog_searchactivity": "SearchActivity"}


def create_activity_tables(apps, schema_editor):
    for table, columns in PARTITIONED.items():
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"CREATE TABLE {table} ({columns}) PARTITION BY RANGE (day)")
        else:
            schema_editor.create_model(apps.get_model("catalog", MODELS[table]))


def drop_activity_tables(apps, schema_editor):
    for table in PARTITIONED:
        schema_editor.execute(f"DROP TABLE {table}")  # with its partitions


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0010_stock_alerts"),
    ]

    operations = [
        migrations.CreateModel(
            name="ActivityFlush",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("batch", models.CharField(max_length=64, unique=True)),
                ("flushed_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.CreateModel(
            name="PopularityState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("epoch", models.DateField()),
                ("last_run_at", models.DateTimeField(blank=True, null=True)),
                (
                    "last_changed",
                    models.PositiveIntegerField(default=0, help_text="Products whose score the last run rewrote."),
                ),
                ("last_seconds", models.FloatField(default=0)),
            ],
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ProductActivity",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "day", "product_id", blank=True, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("day", models.DateField()),
                        ("product_id", models.BigIntegerField()),
                        ("views", models.IntegerField(default=0)),
                        ("carts", models.IntegerField(default=0)),
                        ("purchases", models.IntegerField(default=0)),
                        ("clicks", models.IntegerField(default=0)),
                    ],
                    options={
                        "verbose_name_plural": "product activity",
                    },
                ),
                migrations.CreateModel(
                    name="SearchActivity",
                    fields=[
                        (
                            "pk",
                            models.CompositePrimaryKey(
                                "day", "query", blank=True, editable=False, primary_key=True, serialize=False
                            ),
                        ),
                        ("day", models.DateField()),
                        ("query", models.CharField(max_length=100)),
                        ("searches", models.IntegerField(default=0)),
                        ("zero_results", models.IntegerField(default=0)),
                        ("clicks", models.IntegerField(default=0)),
                    ],
                    options={
                        "verbose_name_plural": "search activity",
                    },
                ),
            ],
        ),
        # After the state holds the models: SQLite's schema editor makes them from that state.
        migrations.RunPython(create_activity_tables, drop_activity_tables),
        migrations.AlterField(
            model_name="product",
            name="popularity",
            field=models.FloatField(
                default=0,
                help_text="Recomputed hourly by recompute_popularity from what customers do (catalog/services/popularity.py).",
            ),
        ),
    ]
