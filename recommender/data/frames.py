"""The tenant's data as pandas frames, for training.

Only workers call these, so web processes, which never train, do not import
pandas (about 90 MB of memory each). User ids in the frames are *stored* keys
(pseudonymised where the tenant asks for it).
"""

import tempfile

import pandas as pd
from django.db import connection

from .models import EndUser, Interaction, Item, TabularRow
from .privacy import tenant_keys

INTERACTION_COLUMNS = ["user_id", "item_id", "timestamp", "value", "event_type"]
FETCH_CHUNK = 20_000


def interactions_frame(dataset) -> pd.DataFrame:
    """The dataset's interactions in storage order: import by import (grouped by user within each batch of
    rows an import sorts, a user's rows in file order), events as they arrived.

    Columns: ``user_id``, ``item_id`` (str), ``timestamp`` (float Unix seconds,
    NaN when unknown), ``value`` (float, NaN when absent), ``event_type`` (str).
    """
    if connection.vendor == "postgresql":
        return _interactions_by_copy(dataset)
    rows = Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset)
    values = rows.order_by("id").values_list(*INTERACTION_COLUMNS).iterator(chunk_size=FETCH_CHUNK)
    frame = pd.DataFrame.from_records(list(values), columns=INTERACTION_COLUMNS)
    moments = pd.to_datetime(frame["timestamp"], utc=True)
    frame["timestamp"] = (moments - pd.Timestamp(0, tz="UTC")).dt.total_seconds()
    frame["value"] = frame["value"].astype("float64")
    return frame.astype({"user_id": str, "item_id": str, "event_type": str})


def _interactions_by_copy(dataset):
    """PostgreSQL streams the rows as CSV through a temporary file: far faster than fetching tuples."""
    sql = (
        'COPY (SELECT user_id, item_id, extract(epoch FROM "timestamp")::float8, value, event_type '  # noqa: S608
        f"FROM {Interaction._meta.db_table} WHERE tenant_id = {int(dataset.tenant_id)} "
        f"AND dataset_id = {int(dataset.pk)} ORDER BY id) TO STDOUT WITH (FORMAT csv)"
    )
    with tempfile.TemporaryFile() as buffer, connection.cursor() as cursor:
        cursor.copy_expert(sql, buffer)
        if not buffer.tell():
            return pd.DataFrame({name: pd.Series(dtype=_dtype(name)) for name in INTERACTION_COLUMNS})
        buffer.seek(0)
        return pd.read_csv(
            buffer,
            names=INTERACTION_COLUMNS,
            dtype={name: _dtype(name) for name in INTERACTION_COLUMNS},
            keep_default_na=False,
            na_values={"timestamp": [""], "value": [""]},
        )


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
