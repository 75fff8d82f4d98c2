"""The tenant's data for training: interactions as compact arrays, catalogue and features as pandas frames.

Only workers call these, so web processes, which never train, do not import
pandas (about 90 MB of memory each). User ids in the frames are *stored* keys
(pseudonymised where the tenant asks for it).
"""

import itertools
import math
import tempfile

import pandas as pd
from django.db import connection

from recommender.ml.arrays import InteractionArrays, InteractionArraysBuilder

from .models import EndUser, Interaction, Item, TabularRow
from .privacy import tenant_keys

INTERACTION_COLUMNS = ["user_id", "item_id", "timestamp", "value", "event_type"]
FETCH_CHUNK = 20_000
# Rows of interactions parsed and encoded at a time: about 10 MB of transient strings per chunk.
READ_CHUNK_ROWS = 100_000


def interactions_arrays(dataset, *, chunk_rows: int | None = None) -> InteractionArrays:
    """The dataset's interactions as compact arrays, read in chunks of ``chunk_rows`` (``READ_CHUNK_ROWS``).

    Rows are in storage order: import by import (grouped by user within each batch of rows an import sorts,
    a user's rows in file order), events as they arrived. No frame of the whole dataset and no Python object
    per row is ever held: each chunk is encoded into int32 indices (ids kept once each) and dropped.
    """
    chunk_rows = chunk_rows or READ_CHUNK_ROWS
    if connection.vendor == "postgresql":
        return _read_by_copy(dataset, chunk_rows)
    return _read_by_rows(dataset, chunk_rows)


def _read_by_copy(dataset, chunk_rows):
    """PostgreSQL streams the rows as CSV into a temporary file on disk, read back a chunk at a time into
    arrays allocated once (COPY reports the row count)."""
    sql = (
        'COPY (SELECT user_id, item_id, extract(epoch FROM "timestamp")::float8, value, event_type '  # noqa: S608
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = {int(dataset.tenant_id)} "
        f"AND dataset_id = {int(dataset.pk)} ORDER BY id) TO STDOUT WITH (FORMAT csv)"
    )
    with tempfile.TemporaryFile() as buffer, connection.cursor() as cursor:
        cursor.copy_expert(sql, buffer)
        builder = InteractionArraysBuilder(capacity=max(cursor.rowcount, 0))
        if not buffer.tell():
            return builder.build()
        buffer.seek(0)
        chunks = pd.read_csv(
            buffer,
            names=INTERACTION_COLUMNS,
            dtype={name: _dtype(name) for name in INTERACTION_COLUMNS},
            keep_default_na=False,
            na_values={"timestamp": [""], "value": [""]},
            chunksize=chunk_rows,
        )
        for chunk in chunks:
            builder.add(
                chunk["user_id"].to_numpy(),
                chunk["item_id"].to_numpy(),
                chunk["timestamp"].to_numpy(),
                chunk["value"].to_numpy(),
                chunk["event_type"].to_numpy(),
            )
    return builder.build()


def _read_by_rows(dataset, chunk_rows):
    """Other databases: the rows through the ORM's chunked iterator, ``chunk_rows`` at a time."""
    builder = InteractionArraysBuilder()
    rows = Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset).order_by("id")
    values = rows.values_list(*INTERACTION_COLUMNS).iterator(chunk_size=chunk_rows)
    while chunk := list(itertools.islice(values, chunk_rows)):
        users, items, moments, weights, events = zip(*chunk, strict=True)
        builder.add(
            [str(user) for user in users],
            [str(item) for item in items],
            [math.nan if moment is None else moment.timestamp() for moment in moments],
            [math.nan if weight is None else weight for weight in weights],
            [str(event) for event in events],
        )
    return builder.build()


def _dtype(name):
    return "float64" if name in ("timestamp", "value") else str


def _with_features(frame, features, keys):
    """``frame`` with one column per feature (decrypted); names that clash get a ``feature_`` prefix."""
    expanded = pd.DataFrame([keys.decrypt_all(document) for document in features], index=frame.index)
    expanded.columns = [f"feature_{name}" if name in frame.columns else name for name in expanded.columns]
    return pd.concat([frame, expanded], axis=1)


def items_frame(tenant) -> pd.DataFrame:
    """The catalogue: ``item_id``, ``title``, ``categories`` ('|'-joined), ``is_active``, then each feature."""
    rows = list(
        Item.objects.for_tenant(tenant)
        .order_by("item_id")
        .values_list("item_id", "title", "categories", "is_active", "features")
    )
    frame = pd.DataFrame(
        {
            "item_id": [row[0] for row in rows],
            "title": [row[1] for row in rows],
            "categories": ["|".join(row[2] or []) for row in rows],
            "is_active": pd.Series([row[3] for row in rows], dtype=bool),
        }
    )
    return _with_features(frame, [row[4] for row in rows], tenant_keys(tenant))


def users_frame(tenant) -> pd.DataFrame:
    """End-user features: ``user_id`` (stored key), then one column per feature, sensitive ones decrypted."""
    rows = list(EndUser.objects.for_tenant(tenant).order_by("user_id").values_list("user_id", "features"))
    frame = pd.DataFrame({"user_id": [row[0] for row in rows]})
    return _with_features(frame, [row[1] for row in rows], tenant_keys(tenant))


def tabular_frame(dataset) -> pd.DataFrame:
    """A tabular dataset's rows in arrival order, one column per field, sensitive values decrypted."""
    keys = tenant_keys(dataset.tenant)
    documents = (
        TabularRow.objects.for_tenant(dataset.tenant)
        .filter(dataset=dataset)
        .order_by("id")
        .values_list("data", flat=True)
        .iterator(chunk_size=FETCH_CHUNK)
    )
    return pd.DataFrame([keys.decrypt_all(document) for document in documents])
