"""Dataset statistics: what a person checks before training on a dataset.

Interactions: users, items, interactions, density, time span, events per day
(the 90 days up to the latest event), the 20 most popular items, event types
and a users-by-activity histogram. Catalogue, user and tabular datasets get the
counts and columns that matter for them.
"""

from datetime import timedelta

import pandas as pd
from django.db import connection
from django.db.models import Count, Max, Min
from django.db.models.functions import TruncDate

from recommender.ml.data import identifier_columns

from .models import Dataset, EndUser, Interaction, Item, TabularRow

TOP = 20
DAYS_SERIES = 90
SAMPLED_ROWS = 10_000
# Users-by-activity buckets: (label, least interactions, most interactions or None).
ACTIVITY_BUCKETS = [
    ("1", 1, 1),
    ("2-4", 2, 4),
    ("5-9", 5, 9),
    ("10-19", 10, 19),
    ("20-49", 20, 49),
    ("50-99", 50, 99),
    ("100+", 100, None),
]


def dataset_statistics(dataset) -> dict:
    """Fresh statistics of ``dataset``, computed in the database."""
    compute = {
        Dataset.Kind.INTERACTIONS: _interaction_statistics,
        Dataset.Kind.ITEMS: _item_statistics,
        Dataset.Kind.USERS: _user_statistics,
        Dataset.Kind.TABULAR: _tabular_statistics,
    }[dataset.kind]
    return {"kind": dataset.kind, **compute(dataset)}


def _counted(queryset, field, limit=TOP):
    rows = queryset.values(field).annotate(count=Count("id")).order_by("-count", field)[:limit]
    return [{field: row[field], "count": row["count"]} for row in rows]


def _interaction_statistics(dataset):
    rows = Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset)
    facts = rows.aggregate(
        interactions=Count("id"),
        users=Count("user_id", distinct=True),
        items=Count("item_id", distinct=True),
        first=Min("timestamp"),
        last=Max("timestamp"),
    )
    cells = facts["users"] * facts["items"]
    return {
        "rows": facts["interactions"],
        "interactions": facts["interactions"],
        "users": facts["users"],
        "items": facts["items"],
        "density": facts["interactions"] / cells if cells else 0.0,
        "without_timestamp": rows.filter(timestamp__isnull=True).count(),
        "time_span": _time_span(facts["first"], facts["last"]),
        "events_per_day": _events_per_day(rows, facts["last"]),
        "top_items": _counted(rows, "item_id"),
        "event_types": _counted(rows, "event_type"),
        "users_by_activity": _users_by_activity(rows),
    }


def _time_span(first, last):
    if first is None:
        return None
    return {"first": first.isoformat(), "last": last.isoformat(), "days": (last - first).total_seconds() / 86400}


def _events_per_day(rows, last):
    if last is None:
        return []
    first_day = last.date() - timedelta(days=DAYS_SERIES - 1)
    counted = dict(
        rows.filter(timestamp__date__gte=first_day)
        .annotate(day=TruncDate("timestamp"))
        .values("day")
        .annotate(count=Count("id"))
        .values_list("day", "count")
    )
    days = [first_day + timedelta(days=offset) for offset in range(DAYS_SERIES)]
    return [{"date": day.isoformat(), "count": counted.get(day, 0)} for day in days]


def _users_by_activity(rows):
    """How many users have 1, 2-4, … interactions: bucketed in the database, not by fetching every user."""
    per_user, params = rows.values("user_id").annotate(count=Count("id")).values("count").query.sql_with_params()
    buckets, bucket_params = [], []
    for _, least, most in ACTIVITY_BUCKETS:
        buckets.append(
            f"SUM(CASE WHEN per_user.count >= %s{' AND per_user.count <= %s' if most else ''} THEN 1 ELSE 0 END)"
        )
        bucket_params.extend([least, most] if most else [least])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(buckets)} FROM ({per_user}) AS per_user", [*bucket_params, *params])  # noqa: S608
        counts = cursor.fetchone()
    return [
        {"interactions": label, "users": int(count or 0)}
        for (label, _, _), count in zip(ACTIVITY_BUCKETS, counts, strict=True)
    ]


def _feature_names(documents):
    names = {}
    for document in documents:
        names.update(dict.fromkeys(document))
    return sorted(names)


def _item_statistics(dataset):
    items = Item.objects.for_tenant(dataset.tenant)
    categories = pd.Series(
        [name for names in items.values_list("categories", flat=True).iterator() for name in names], dtype=object
    )
    return {
        "rows": items.count(),
        "items": items.count(),
        "active_items": items.filter(is_active=True).count(),
        "top_categories": [
            {"category": name, "count": int(count)} for name, count in categories.value_counts().head(TOP).items()
        ],
        "features": _feature_names(items.values_list("features", flat=True)[:SAMPLED_ROWS]),
    }


def _user_statistics(dataset):
    users = EndUser.objects.for_tenant(dataset.tenant)
    return {
        "rows": users.count(),
        "users": users.count(),
        "features": _feature_names(users.values_list("features", flat=True)[:SAMPLED_ROWS]),
    }


def _tabular_sample(dataset):
    rows = TabularRow.objects.for_tenant(dataset.tenant).filter(dataset=dataset)
    return rows, list(rows.order_by("id").values_list("data", flat=True)[:SAMPLED_ROWS])


def tabular_identifier_columns(dataset) -> list[str]:
    """Columns of a tabular dataset that look like row identifiers (see ``ml.identifier_columns``), from a sample."""
    _, sample = _tabular_sample(dataset)
    return identifier_columns(pd.DataFrame(sample), dataset.target_column) if sample else []


def identifier_note(columns) -> list[str]:
    """The sentence an import result says about identifier columns (none when there are none)."""
    if not columns:
        return []
    named = ", ".join(columns)
    verb = "looks" if len(columns) == 1 else "look"
    return [
        f"{named} {verb} like an identifier (by its name, or a different value on nearly every row), so models "
        "leave it out of their features unless you choose it in the model's feature columns."
    ]


def _tabular_statistics(dataset):
    rows, sample = _tabular_sample(dataset)
    target = dataset.target_column
    targets = pd.Series([document.get(target) for document in sample], dtype=object) if target else None
    return {
        "rows": rows.count(),
        "columns": _feature_names(sample),
        "identifier_columns": identifier_columns(pd.DataFrame(sample), target) if sample else [],
        "target_column": target or None,
        "target_values": [
            {"value": value, "count": int(count)}
            for value, count in (targets.value_counts().head(TOP).items() if targets is not None else [])
        ],
    }
