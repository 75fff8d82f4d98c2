"""A GIN index on item categories, so "items in any of these categories" is an index look-up.

PostgreSQL only: other databases have no GIN indexes, and the selector filters in Python there.
"""

from django.db import migrations

INDEX = "data_item_categories_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON data_item USING gin (categories jsonb_path_ops)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("data", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index)]
