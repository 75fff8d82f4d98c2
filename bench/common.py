"""What the benchmark scripts share: a throwaway database, a clean Redis db, bulk-loaded interactions."""

import subprocess


def fresh_database(name):
    """Drop and create the PostgreSQL database ``name`` on 127.0.0.1 (benchmarks only)."""
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cursor.execute(f"CREATE DATABASE {name}")
    connection.close()


def flush_redis(db):
    subprocess.run(["redis-cli", "-n", str(db), "flushdb"], check=True, capture_output=True)


def store_interactions(tenant, dataset, frame):
    """Insert a generated interactions frame (user_id, item_id, timestamp in unix seconds) into ``dataset``."""
    import pandas as pd

    from recommender.data.models import Interaction

    moments = pd.to_datetime(frame.timestamp, unit="s", utc=True).dt.floor("us")
    Interaction.objects.bulk_create(
        [
            Interaction(tenant=tenant, dataset=dataset, user_id=user, item_id=item, timestamp=moment.to_pydatetime())
            for user, item, moment in zip(frame.user_id, frame.item_id, moments, strict=True)
        ],
        batch_size=5000,
    )
