"""Writing validated rows: batch writers for the APIs, and the loaders of imports.

An import changes the real tables in one transaction, so a failed import leaves
them untouched. On PostgreSQL, interactions without event ids (nothing can
conflict) stream straight into their table through one binary ``COPY`` that
runs in the import's transaction while the next chunks are read and validated
(:class:`InteractionCopy`). Everything else is first staged away from the real
tables and merged at the end: on PostgreSQL in a temporary table filled with
``COPY`` and merged with ``INSERT … SELECT`` (``ON CONFLICT`` for upserts and
event ids); elsewhere validated chunks wait in a temporary file and are merged
with the ORM batch writers below, which the events and catalogue APIs use
directly.
"""

import io
import json
import logging
import pickle
import queue
import tempfile
import threading
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as arrow_csv
from django.db import connection
from django.utils import timezone

from ..models import Dataset, EndUser, Interaction, Item, TabularRow
from . import binary_copy

logger = logging.getLogger(__name__)

WRITE_BATCH = 2000
LOOKUP_BATCH = 5000


@dataclass
class MergeResult:
    """What a write did: rows stored, rows skipped as already-seen events, upserts that created rows."""

    loaded: int = 0
    duplicates: int = 0
    created: int = 0

    def __add__(self, other):
        return MergeResult(self.loaded + other.loaded, self.duplicates + other.duplicates, self.created + other.created)


def _in_batches(values, size=LOOKUP_BATCH):
    values = list(values)
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _datetimes(seconds: pd.Series):
    # Float seconds carry sub-microsecond noise; the database keeps microseconds, so round to them here
    # (Python datetimes would otherwise drop the nanoseconds with a warning per value).
    moments = pd.to_datetime(seconds, unit="s", utc=True).dt.round("us")
    return [None if pd.isna(moment) else moment.to_pydatetime() for moment in moments]


def _none_if_nan(value):
    return None if pd.isna(value) else value


# --- ORM batch writers -----------------------------------------------------------------------------


def insert_interactions(dataset, rows: pd.DataFrame) -> MergeResult:
    """Insert interactions; an event id seen before (in this batch or stored) is skipped, not doubled."""
    with_ids = rows["event_id"].notna()
    event_ids = rows["event_id"].astype(object).where(with_ids, None)
    seen = set()
    for batch in _in_batches(event_ids[with_ids].unique()):
        seen.update(
            Interaction.objects.for_tenant(dataset.tenant).filter(event_id__in=batch).values_list("event_id", flat=True)
        )
    duplicate = (with_ids & event_ids.duplicated()) | event_ids.isin(seen)
    fresh = rows.loc[~duplicate.to_numpy()].assign(event_id=event_ids[~duplicate.to_numpy()])
    now = timezone.now()
    interactions = [
        Interaction(
            tenant_id=dataset.tenant_id,
            dataset_id=dataset.pk,
            user_id=user_id,
            item_id=item_id,
            timestamp=moment,
            event_type=event_type,
            value=_none_if_nan(value),
            event_id=event_id,
            recommendation_id=_none_if_nan(recommendation_id),
            created_at=now,
        )
        for user_id, item_id, moment, event_type, value, event_id, recommendation_id in zip(
            fresh["user_id"],
            fresh["item_id"],
            _datetimes(fresh["timestamp"]),
            fresh["event_type"],
            fresh["value"],
            fresh["event_id"],
            fresh["recommendation_id"] if "recommendation_id" in fresh.columns else [None] * len(fresh),
            strict=True,
        )
    ]
    # Ignoring conflicts keeps a concurrent retry of the same events from failing the batch.
    Interaction.objects.bulk_create(interactions, batch_size=WRITE_BATCH, ignore_conflicts=bool(with_ids.any()))
    return MergeResult(loaded=len(interactions), duplicates=len(rows) - len(interactions))


def _upsert(model, tenant, rows, key, fields, build):
    """Create or update ``model`` rows by ``key``; features are merged key by key into what is stored."""
    rows = rows.drop_duplicates(key, keep="last")
    stored = {}
    for batch in _in_batches(rows[key]):
        stored.update(model.objects.for_tenant(tenant).filter(**{f"{key}__in": batch}).values_list(key, "features"))
    now = timezone.now()
    objects = []
    for row in rows.to_dict("records"):
        if "features" in fields:
            row["features"] = {**stored.get(row[key], {}), **row["features"]}
        objects.append(build(row, now))
    model.objects.bulk_create(
        objects,
        batch_size=WRITE_BATCH,
        update_conflicts=True,
        unique_fields=["tenant", key],
        update_fields=[*fields, "updated_at"],
    )
    return MergeResult(loaded=len(objects), created=sum(1 for row_key in rows[key] if row_key not in stored))


def upsert_items(tenant, rows: pd.DataFrame, fields) -> MergeResult:
    """Create or update catalogue items; only ``fields`` change on items that exist."""

    def build(row, now):
        return Item(
            tenant_id=tenant.pk,
            item_id=row["item_id"],
            title=row.get("title") or "",
            categories=row.get("categories") or [],
            features=row.get("features") or {},
            is_active=row.get("is_active", True) is not False,
            updated_at=now,
        )

    return _upsert(Item, tenant, rows, "item_id", fields, build)


def upsert_end_users(tenant, rows: pd.DataFrame) -> MergeResult:
    """Create or update end users, merging their features."""

    def build(row, now):
        return EndUser(tenant_id=tenant.pk, user_id=row["user_id"], features=row["features"], updated_at=now)

    return _upsert(EndUser, tenant, rows, "user_id", ["features"], build)


def insert_tabular_rows(dataset, rows: pd.DataFrame) -> MergeResult:
    tabular_rows = [TabularRow(tenant_id=dataset.tenant_id, dataset_id=dataset.pk, data=data) for data in rows["data"]]
    TabularRow.objects.bulk_create(tabular_rows, batch_size=WRITE_BATCH)
    return MergeResult(loaded=len(tabular_rows))


def write_rows(dataset, rows: pd.DataFrame, fields) -> MergeResult:
    """Store validated rows of ``dataset``'s kind with the ORM writers."""
    kind = dataset.kind
    if kind == Dataset.Kind.INTERACTIONS:
        return insert_interactions(dataset, rows)
    if kind == Dataset.Kind.ITEMS:
        return upsert_items(dataset.tenant, rows, fields)
    if kind == Dataset.Kind.USERS:
        return upsert_end_users(dataset.tenant, rows)
    return insert_tabular_rows(dataset, rows)


# --- Staging for imports ---------------------------------------------------------------------------


class Staging:
    """Validated rows held aside until the import may change the real tables."""

    # Whether ``add`` already writes to the real tables: the import's transaction must then be open
    # from the first chunk (and its progress reported on another connection, see runner.py).
    writes_as_it_goes = False

    def __init__(self, dataset):
        self.dataset = dataset
        self.rows = 0

    def add(self, rows: pd.DataFrame):
        raise NotImplementedError

    def abandon(self):
        """The import will fail: stop writing (what was written is rolled back with the transaction)."""

    def merge(self, fields) -> MergeResult:
        """Move the staged rows into the real tables; call inside the import's transaction."""
        raise NotImplementedError

    def close(self):
        raise NotImplementedError


class FileStaging(Staging):
    """Staging in a temporary file of pickled chunks, merged with the ORM writers (SQLite and others)."""

    def __init__(self, dataset):
        super().__init__(dataset)
        self.file = tempfile.TemporaryFile()
        self.chunks = 0

    def add(self, rows):
        if len(rows):
            pickle.dump(rows, self.file, protocol=pickle.HIGHEST_PROTOCOL)
            self.rows += len(rows)
            self.chunks += 1

    def merge(self, fields):
        self.file.seek(0)
        result = MergeResult()
        for _ in range(self.chunks):
            result += write_rows(self.dataset, pickle.load(self.file), fields)  # noqa: S301 - our own temp file
        return result

    def close(self):
        self.file.close()


# Columns of the PostgreSQL staging table for each kind: (name, SQL type).
STAGE_COLUMNS = {
    Dataset.Kind.INTERACTIONS: [
        ("seq", "bigint"),
        ("user_id", "text"),
        ("item_id", "text"),
        ("timestamp", "float8"),
        ("event_type", "text"),
        ("value", "float8"),
        ("event_id", "text"),
        ("recommendation_id", "text"),
    ],
    Dataset.Kind.ITEMS: [
        ("seq", "bigint"),
        ("item_id", "text"),
        ("title", "text"),
        ("categories", "jsonb"),
        ("is_active", "boolean"),
        ("features", "jsonb"),
    ],
    Dataset.Kind.USERS: [("seq", "bigint"), ("user_id", "text"), ("features", "jsonb")],
    Dataset.Kind.TABULAR: [("data", "jsonb")],
}
ARROW_TYPES = {"text": pa.string(), "float8": pa.float64(), "bigint": pa.int64(), "boolean": pa.bool_()}


class PostgresStaging(Staging):
    """Staging in a temporary table filled by ``COPY``; merged by one ``INSERT … SELECT``."""

    def __init__(self, dataset):
        super().__init__(dataset)
        self.columns = STAGE_COLUMNS[dataset.kind]
        self.table = f"data_stage_{uuid.uuid4().hex[:16]}"
        self.has_event_ids = False
        with connection.cursor() as cursor:
            columns = ", ".join(f'"{name}" {sql_type}' for name, sql_type in self.columns)
            cursor.execute(f"CREATE TEMPORARY TABLE {self.table} ({columns})")  # noqa: S608 - our own names

    def add(self, rows):
        if not len(rows):
            return
        arrays = [self._arrow_column(rows, name, sql_type) for name, sql_type in self.columns]
        table = pa.Table.from_arrays(arrays, names=[name for name, _ in self.columns])
        buffer = io.BytesIO()
        # Arrow quotes every string and leaves nulls bare, which COPY's CSV format reads as '' and NULL.
        arrow_csv.write_csv(table, buffer, write_options=arrow_csv.WriteOptions(include_header=False))
        buffer.seek(0)
        names = ", ".join(f'"{name}"' for name, _ in self.columns)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {self.table} ({names}) FROM STDIN WITH (FORMAT csv)", buffer)
        self.rows += len(rows)
        if "event_id" in rows.columns:
            self.has_event_ids = self.has_event_ids or bool(rows["event_id"].notna().any())

    def _arrow_column(self, rows, name, sql_type):
        if name == "seq":
            return pa.array(range(self.rows, self.rows + len(rows)), type=pa.int64())
        if name not in rows.columns:
            return pa.nulls(len(rows), type=pa.string() if sql_type == "jsonb" else ARROW_TYPES[sql_type])
        if sql_type == "jsonb":
            return pa.array([json.dumps(value) for value in rows[name]], type=pa.string())
        return pa.array(rows[name], type=ARROW_TYPES[sql_type], from_pandas=True)

    def merge(self, fields):
        tenant_id, dataset_id = self.dataset.tenant_id, self.dataset.pk
        kind = self.dataset.kind
        with connection.cursor() as cursor:
            if kind == Dataset.Kind.INTERACTIONS:
                # In user order (file order within a user): the (tenant, user_id) index then grows in runs
                # instead of at random, twice as fast, and each user's rows share heap pages for serving.
                # Only event ids can conflict; without them a plain insert skips the speculative one.
                on_conflict = "ON CONFLICT DO NOTHING" if self.has_event_ids else ""
                cursor.execute(
                    f"""INSERT INTO {Interaction._meta.db_table}
                        (tenant_id, dataset_id, user_id, item_id, "timestamp", event_type, value, event_id,
                         recommendation_id, created_at)
                        SELECT %s, %s, user_id, item_id, to_timestamp("timestamp"), COALESCE(event_type, ''),
                               value, event_id, recommendation_id, now()
                        FROM {self.table} ORDER BY user_id, seq {on_conflict}""",  # noqa: S608 - our own names
                    [tenant_id, dataset_id],
                )
                return MergeResult(loaded=cursor.rowcount, duplicates=self.rows - cursor.rowcount)
            if kind == Dataset.Kind.TABULAR:
                cursor.execute(
                    f"""INSERT INTO {TabularRow._meta.db_table} (tenant_id, dataset_id, data)
                        SELECT %s, %s, data FROM {self.table}""",  # noqa: S608 - our own names
                    [tenant_id, dataset_id],
                )
                return MergeResult(loaded=cursor.rowcount)
            return self._merge_upsert(cursor, kind, fields)

    def _merge_upsert(self, cursor, kind, fields):
        if kind == Dataset.Kind.ITEMS:
            model, key = Item, "item_id"
            values = {
                "title": "COALESCE(title, '')",
                "categories": "COALESCE(categories, '[]'::jsonb)",
                "features": "COALESCE(features, '{}'::jsonb)",
                "is_active": "COALESCE(is_active, true)",
            }
            extra_columns = ["created_at"]
        else:
            model, key = EndUser, "user_id"
            values = {"features": "COALESCE(features, '{}'::jsonb)"}
            extra_columns = []
        table = model._meta.db_table
        updates = [
            "features = stored.features || EXCLUDED.features" if name == "features" else f"{name} = EXCLUDED.{name}"
            for name in fields
        ]
        columns = ", ".join(["tenant_id", key, *values, *extra_columns, "updated_at"])
        selected = ", ".join(["%s", key, *values.values(), *(["now()"] * len(extra_columns)), "now()"])
        cursor.execute(
            f"""WITH incoming AS (
                    SELECT DISTINCT ON ({key}) * FROM {self.table} ORDER BY {key}, seq DESC
                ), upserted AS (
                    INSERT INTO {table} AS stored ({columns})
                    SELECT {selected} FROM incoming
                    ON CONFLICT (tenant_id, {key}) DO UPDATE SET {", ".join([*updates, "updated_at = now()"])}
                    RETURNING (xmax = 0) AS created
                )
                SELECT count(*), count(*) FILTER (WHERE created) FROM upserted""",  # noqa: S608 - our own names
            [self.dataset.tenant_id],
        )
        loaded, created = cursor.fetchone()
        return MergeResult(loaded=loaded, created=created)

    def close(self):
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


class CopyAborted(Exception):
    """Raised into the COPY to end it with an error, so the server discards it."""


class _Payloads(io.RawIOBase):
    """The file the COPY reads: binary rows handed over by the import, then the trailer."""

    def __init__(self, handed_over):
        super().__init__()
        self.handed_over = handed_over
        self.started = False

    def readable(self):
        return True

    def read(self, size=-1):
        payload = self.handed_over.get()
        if payload is InteractionCopy.ABORT:
            raise CopyAborted("the import stopped")
        if payload is InteractionCopy.END:
            return b""
        if not self.started:
            self.started = True
            return binary_copy.HEADER + payload
        return payload


class InteractionCopy(Staging):
    """Interactions written straight into their table by one binary ``COPY`` in the import's transaction.

    A thread runs the COPY on the import's connection while the import reads and validates the next
    chunks: the server stores rows on one core while Python prepares more on the other (psycopg2 lets
    go of the GIL while it sends). A failed import rolls the transaction back, so it still changes
    nothing, but its rows were written and leave dead tuples for autovacuum.
    """

    writes_as_it_goes = True
    END = object()
    ABORT = object()
    # Rows sorted by user together: the (tenant, user_id) index then grows in runs rather than at
    # random, and a user's rows share heap pages for serving.
    SORT_ROWS = 100_000
    ENCODE_ROWS = 25_000
    # Payloads waiting for the COPY: enough to keep the server busy, few enough to keep memory flat.
    QUEUED_PAYLOADS = 2
    COLUMNS = ("tenant_id", "dataset_id", "created_at", "user_id", "item_id", "timestamp", "event_type", "value")

    def __init__(self, dataset):
        super().__init__(dataset)
        # Every row of an import gets the same created_at, as it did from the merge's now().
        self.prefix = (
            binary_copy.row_count_field(len(self.COLUMNS))
            + binary_copy.bigint_field(dataset.tenant_id)
            + binary_copy.bigint_field(dataset.pk)
            + binary_copy.timestamptz_field(timezone.now().timestamp())
        )
        self.pending = []
        self.pending_rows = 0
        self.handed_over = queue.Queue(maxsize=self.QUEUED_PAYLOADS)
        self.thread = None
        self.failure = None
        self.aborted = False

    def add(self, rows):
        if not len(rows):
            return
        if rows["event_id"].notna().any():
            raise ValueError("Rows with event ids need the staged merge (see staging_for).")
        self.pending.append(
            pa.table(
                {
                    "user_id": pa.array(rows["user_id"], type=pa.string(), from_pandas=True),
                    "item_id": pa.array(rows["item_id"], type=pa.string(), from_pandas=True),
                    "timestamp": rows["timestamp"].to_numpy(dtype="float64", na_value=np.nan),
                    "event_type": pa.array(rows["event_type"], type=pa.string(), from_pandas=True),
                    "value": rows["value"].to_numpy(dtype="float64", na_value=np.nan),
                }
            )
        )
        self.pending_rows += len(rows)
        self.rows += len(rows)
        if self.pending_rows >= self.SORT_ROWS:
            self._send_pending()

    def _send_pending(self):
        if not self.pending_rows:
            return
        table = pa.concat_tables(self.pending).combine_chunks()
        self.pending, self.pending_rows = [], 0
        # Stable: a user's rows keep their order in the file.
        table = table.take(pc.sort_indices(table["user_id"]))
        if self.thread is None:
            self._start_copy()
        # Encoded a slice at a time: the intermediate arrays of the encoding stay small.
        for start in range(0, len(table), self.ENCODE_ROWS):
            part = table.slice(start, self.ENCODE_ROWS)
            self._hand_over(
                binary_copy.rows(
                    self.prefix,
                    [
                        binary_copy.text_fields(part["user_id"].chunk(0)),
                        binary_copy.text_fields(part["item_id"].chunk(0)),
                        binary_copy.timestamptz_fields(part["timestamp"].to_numpy()),
                        binary_copy.text_fields(part["event_type"].chunk(0)),
                        binary_copy.float8_fields(part["value"].to_numpy()),
                    ],
                )
            )

    def _start_copy(self):
        connection.ensure_connection()
        # The raw cursor: Django's wrapper may only be used by the thread that made it. The import's own
        # thread leaves the connection alone until the COPY ends (see ``merge`` and ``abandon``).
        cursor = connection.connection.cursor()
        names = ", ".join(f'"{name}"' for name in self.COLUMNS)
        sql = f"COPY {Interaction._meta.db_table} ({names}) FROM STDIN WITH (FORMAT binary)"
        self.thread = threading.Thread(target=self._copy, args=(cursor, sql), name="import-copy", daemon=True)
        self.thread.start()

    def _copy(self, cursor, sql):
        try:
            with cursor:
                cursor.copy_expert(sql, _Payloads(self.handed_over))
        except BaseException as exc:  # handed to the import's thread, which raises it
            self.failure = exc

    def _put(self, item):
        """Queue ``item`` for the COPY thread; False when the thread ended before taking it."""
        while self.thread.is_alive():
            try:
                self.handed_over.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def _hand_over(self, payload):
        if not self._put(payload):
            self._raise_failure()
            raise RuntimeError("The COPY of the import ended before its rows were all sent.")

    def _raise_failure(self):
        if self.failure is not None and not self.aborted:
            raise self.failure

    def _stop(self, signal):
        if self.thread is None:
            return
        if signal is self.ABORT:
            self.aborted = True
            while not self.handed_over.empty():  # what was not sent yet is not needed
                self.handed_over.get_nowait()
        self._put(signal)
        self.thread.join()

    def abandon(self):
        self.pending, self.pending_rows = [], 0
        self._stop(self.ABORT)

    def merge(self, fields):
        self._send_pending()
        self._stop(self.END)
        self._raise_failure()
        return MergeResult(loaded=self.rows)

    def close(self):
        if self.thread is not None and self.thread.is_alive():
            self._stop(self.ABORT)


def staging_for(dataset, fields=(), columns_fixed=True) -> Staging:
    """The fastest loader the database offers for rows of ``dataset`` that set ``fields``.

    Interactions go straight into their table when no row can carry an event id (which may conflict
    and needs the staged merge) or a recommendation id (a column the binary COPY does not write): the
    file sets neither and cannot add one later (``columns_fixed``: a header or schema, not JSON Lines).
    """
    if connection.vendor != "postgresql":
        return FileStaging(dataset)
    direct = "event_id" not in fields and "recommendation_id" not in fields
    if dataset.kind == Dataset.Kind.INTERACTIONS and columns_fixed and direct:
        return InteractionCopy(dataset)
    return PostgresStaging(dataset)
