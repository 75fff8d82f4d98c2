"""Reads of the data layer, always within one tenant.

Training and serving call these. A ``user_id`` argument is the *stored* user key:
where the tenant pseudonymises, map the raw id first with
``recommender.data.privacy.user_key(tenant, raw_id)``. Training reads pandas
frames from ``recommender.data.frames``.
"""

import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Count, Max, Q, QuerySet

from tenants.models import Tenant
from tenants.scoping import get_tenant_object_or_404

from .models import Dataset, EndUser, ErasedUser, ImportJob, Interaction, Item, TabularRow
from .privacy import masked, tenant_keys

# --- Datasets and imports ----------------------------------------------------------------------------


def datasets_of(tenant: Tenant) -> QuerySet[Dataset]:
    """The tenant's datasets, newest first."""
    return Dataset.objects.for_tenant(tenant)


def get_dataset(tenant: Tenant, dataset_id: int) -> Dataset:
    """The tenant's dataset ``dataset_id``; raises ``Dataset.DoesNotExist`` for a missing or foreign one."""
    return datasets_of(tenant).get(pk=dataset_id)


def get_dataset_or_404(tenant: Tenant, dataset_id: int) -> Dataset:
    """Like :func:`get_dataset`, but a missing or foreign dataset is an HTTP 404."""
    return get_tenant_object_or_404(Dataset.objects.all(), tenant, pk=dataset_id)


def import_jobs_of(tenant: Tenant) -> QuerySet[ImportJob]:
    return ImportJob.objects.for_tenant(tenant).select_related("dataset")


def import_progress(job: ImportJob) -> float | None:
    """rows_read / rows_total, between 0 and 1 (1 once the import succeeded); ``None`` while the total is unknown."""
    if job.status == ImportJob.Status.SUCCEEDED:
        return 1.0
    if not job.rows_total:
        return None
    return min(1.0, job.rows_read / job.rows_total)


def data_snapshot(dataset: Dataset) -> dict:
    """What a model trained now would see: ``{"rows", "latest_timestamp" (ISO or None), "latest_id"}``."""
    tenant = dataset.tenant
    if dataset.kind == Dataset.Kind.INTERACTIONS:
        rows, moment_field = Interaction.objects.for_tenant(tenant).filter(dataset=dataset), "timestamp"
    elif dataset.kind == Dataset.Kind.TABULAR:
        rows, moment_field = TabularRow.objects.for_tenant(tenant).filter(dataset=dataset), None
    else:
        model = Item if dataset.kind == Dataset.Kind.ITEMS else EndUser
        rows, moment_field = model.objects.for_tenant(tenant), "updated_at"
    facts = rows.aggregate(
        rows=Count("id"), latest_id=Max("id"), **({"latest": Max(moment_field)} if moment_field else {})
    )
    latest = facts.get("latest")
    return {
        "rows": facts["rows"],
        "latest_timestamp": latest.isoformat() if latest else None,
        "latest_id": facts["latest_id"] or 0,
    }


def interactions_shape(dataset: Dataset) -> dict:
    """``{"users", "items", "interactions"}`` of an interactions dataset: what sizes a training run."""
    facts = (
        Interaction.objects.for_tenant(dataset.tenant)
        .filter(dataset=dataset)
        .aggregate(
            interactions=Count("id"), users=Count("user_id", distinct=True), items=Count("item_id", distinct=True)
        )
    )
    return {name: int(facts[name] or 0) for name in ("users", "items", "interactions")}


# --- Serving look-ups ----------------------------------------------------------------------------------


# The table name comes from the model; every value is a query parameter.
_SEEN_ITEMS_SQL = (
    f"SELECT DISTINCT item_id FROM {Interaction._meta.db_table} "  # noqa: S608
    "WHERE tenant_id = %s AND user_id = %s"
)


def seen_item_ids(tenant: Tenant, user_id: str, dataset: Dataset | None = None) -> set[str]:
    """Items the user (stored key) interacted with, in ``dataset`` or in any of the tenant's datasets.

    Serving asks this on every recommendation, so it is plain SQL: building
    the same query through the ORM cost more than running it (docs/benchmarks.md).
    """
    if dataset is None and connection.vendor == "postgresql" and not connection.in_atomic_block:
        return {item_id for (item_id,) in _seen_items_in_one_round_trip(tenant.pk, user_id)}
    sql = _SEEN_ITEMS_SQL
    params: list[int | str] = [tenant.pk, user_id]
    if dataset is not None:
        sql += " AND dataset_id = %s"
        params.append(dataset.pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {item_id for (item_id,) in cursor.fetchall()}


_NUMBERED_SEEN_ITEMS_SQL = _SEEN_ITEMS_SQL.replace("%s", "$1", 1).replace("%s", "$2", 1)
_PREPARE_SEEN_ITEMS = f"PREPARE serving_seen_items (bigint, text) AS {_NUMBERED_SEEN_ITEMS_SQL}"
_EXECUTE_SEEN_ITEMS = "EXECUTE serving_seen_items (%s, %s)"
_prepared_on: weakref.WeakSet[Any] = weakref.WeakSet()  # this process's database connections that have the statement


def _seen_items_in_one_round_trip(tenant_id: int, user_id: str) -> list[tuple[Any, ...]]:
    """The items query of every recommendation, as one round trip to PostgreSQL with little planning.

    - With ``conn_health_checks`` Django sends ``SELECT 1`` before a request's
      first query on a reused connection: a second round trip that took as long
      as the query (docs/benchmarks.md, "Serving"). Here the query goes first;
      if it finds the connection dead (the server restarted), this reconnects
      and asks once more, as the check would have.
    - Planning the query cost PostgreSQL more than running it (0.23 against
      0.08 ms), so it is a statement prepared once per connection. (A pooler in
      transaction mode between web processes and PostgreSQL would not keep it:
      docs/operations.md.)
    """
    # django-stubs does not declare health_check_done (Django 4.1's connection health checks) yet.
    checked_first = connection.connection is None or connection.health_check_done  # type: ignore[attr-defined]
    connection.health_check_done = True  # type: ignore[attr-defined]
    try:
        return _execute_seen_items(tenant_id, user_id)
    except (OperationalError, InterfaceError):
        if checked_first or connection.is_usable():
            raise  # the query failed, not the connection
    connection.close()
    return _execute_seen_items(tenant_id, user_id)


def _execute_seen_items(tenant_id: int, user_id: str) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        if connection.connection not in _prepared_on:
            cursor.execute(_PREPARE_SEEN_ITEMS)
            _prepared_on.add(connection.connection)
        try:
            cursor.execute(_EXECUTE_SEEN_ITEMS, [tenant_id, user_id])
        except OperationalError as exc:
            if getattr(exc.__cause__, "pgcode", None) != "26000":  # invalid_sql_statement_name
                raise
            cursor.execute(_PREPARE_SEEN_ITEMS)  # the session was reset (DISCARD ALL): prepare it again
            cursor.execute(_EXECUTE_SEEN_ITEMS, [tenant_id, user_id])
        return cursor.fetchall()


# Latest first by the event's own time (arrival time when it has none), then by arrival order.
_RECENT_ITEMS_SQL = (
    f"SELECT item_id, COUNT(*) OVER () FROM {Interaction._meta.db_table} "  # noqa: S608
    "WHERE tenant_id = %s AND user_id = %s ORDER BY COALESCE(timestamp, created_at) DESC, id DESC LIMIT %s"
)


def recent_item_ids(tenant: Tenant, user_id: str, *, limit: int) -> tuple[list[str], int]:
    """``(item ids of the user's latest ``limit`` events, oldest first; the user's total event count)``.

    Sequence-aware models read these on every recommendation, so events sent
    after training count at once; repeats stay (a re-view is an event).
    """
    with connection.cursor() as cursor:
        cursor.execute(_RECENT_ITEMS_SQL, [tenant.pk, user_id, int(limit)])
        rows = cursor.fetchall()
    return [item_id for item_id, _ in reversed(rows)], (rows[0][1] if rows else 0)


_RECENT_EVENTS_SQL = (
    f"SELECT item_id, event_type, COALESCE(timestamp, created_at), COUNT(*) OVER () "  # noqa: S608
    f"FROM {Interaction._meta.db_table} "
    "WHERE tenant_id = %s AND user_id = %s ORDER BY COALESCE(timestamp, created_at) DESC, id DESC LIMIT %s"
)


def recent_events(tenant: Tenant, user_id: str, *, limit: int) -> tuple[list[str], list[str], list[float], int]:
    """Like :func:`recent_item_ids`, with each event's type and time (unix seconds) beside its item:
    ``(item ids, event types, times, total)``, oldest first. For models that read types and time gaps.
    """
    with connection.cursor() as cursor:
        cursor.execute(_RECENT_EVENTS_SQL, [tenant.pk, user_id, int(limit)])
        rows = cursor.fetchall()[::-1]
    times = [_unix_seconds(when) for _, _, when, _ in rows]
    return [row[0] for row in rows], [row[1] or "" for row in rows], times, (rows[0][3] if rows else 0)


def _unix_seconds(when: Any) -> float:
    if isinstance(when, str):  # SQLite hands raw queries' datetimes back as text
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def inactive_item_ids(tenant: Tenant) -> set[str]:
    """Catalogue items that were deactivated: never recommend them."""
    return set(Item.objects.for_tenant(tenant).filter(is_active=False).values_list("item_id", flat=True))


def item_ids_in_categories(tenant: Tenant, categories: Iterable[str]) -> set[str]:
    """Items in any of ``categories`` (active or not)."""
    wanted = {str(name) for name in categories if str(name)}
    if not wanted:
        return set()
    items = Item.objects.for_tenant(tenant)
    if connection.features.supports_json_field_contains:  # PostgreSQL: answered from the GIN index
        any_of = Q()
        for name in wanted:
            any_of |= Q(categories__contains=[name])
        return set(items.filter(any_of).values_list("item_id", flat=True))
    return {item_id for item_id, names in items.values_list("item_id", "categories") if wanted.intersection(names)}


def items_added_since(tenant: Tenant, *, since: datetime, limit: int) -> list[tuple[str, dict]]:
    """The newest ``limit`` catalogue items created at or after ``since``, as ``(item_id, row)``.

    A row is the item as training reads the catalogue (``frames.items_frame``):
    ``title``, ``categories``, ``is_active`` and each feature (sensitive ones
    decrypted; a name that clashes gets the ``feature_`` prefix), without pandas:
    serving places these items by their text without retraining.
    """
    keys = tenant_keys(tenant)
    rows = (
        Item.objects.for_tenant(tenant)
        .filter(created_at__gte=since)
        .order_by("-created_at")
        .values_list("item_id", "title", "categories", "is_active", "features")[: int(limit)]
    )
    placed = []
    for item_id, title, categories, is_active, features in rows:
        row = {"title": title, "categories": list(categories or []), "is_active": is_active}
        for name, value in keys.decrypt_all(features or {}).items():
            row[f"feature_{name}" if name in ("item_id", "title", "categories", "is_active") else name] = value
        placed.append((item_id, row))
    return placed


def item_titles(tenant: Tenant, item_ids: Iterable[str]) -> dict[str, str]:
    """``{item_id: title}`` for the given catalogue items (unknown ids are left out)."""
    return dict(Item.objects.for_tenant(tenant).filter(item_id__in=list(item_ids)).values_list("item_id", "title"))


def is_erased_user(tenant: Tenant, user_id: str) -> bool:
    """Whether the end user (stored key) was erased: serve them the non-personal fallback."""
    digest = tenant_keys(tenant).digest(str(user_id))
    return ErasedUser.objects.for_tenant(tenant).filter(user_digest=digest).exists()


# --- Catalogue for the API, the admin and the portal -------------------------------------------------


def catalogue_items(tenant: Tenant) -> QuerySet[Item]:
    return Item.objects.for_tenant(tenant)


def search_catalogue(tenant: Tenant, *, text: str = "", is_active: bool | None = None) -> QuerySet[Item]:
    """The tenant's items whose id or title holds ``text`` (any case), ordered by item id.

    ``is_active`` keeps only active (``True``) or deactivated (``False``) items; ``None`` keeps both.
    """
    items = catalogue_items(tenant)
    if text:
        items = items.filter(Q(item_id__icontains=text) | Q(title__icontains=text))
    if is_active is not None:
        items = items.filter(is_active=is_active)
    return items.order_by("item_id")


def get_item_or_404(tenant: Tenant, item_id: str) -> Item:
    return get_tenant_object_or_404(Item.objects.all(), tenant, item_id=item_id)


def shown_features(document: dict) -> dict:
    """Features as people may see them: sensitive values masked."""
    return masked(document)
