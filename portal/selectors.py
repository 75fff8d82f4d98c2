"""Reads the portal pages need that the data and training apps do not offer (yet).

Each takes a tenant-owned object and stays inside its tenant.
"""

from django.db.models import QuerySet

from recommender.data.models import Dataset, Interaction
from recommender.serving.selectors import popular_items

CURVE_POINTS = 60
RECENT_EVENTS = 20


def item_popularity_curve(dataset: Dataset, points: int = CURVE_POINTS) -> list[dict[str, int]]:
    """The long tail: interactions per item from the most to the least popular, thinned to about ``points`` ranks.

    Returns ``[{"rank": r, "interactions": n}]``; the first and last ranks are always kept.
    """
    counts = [count for _, count in popular_items(dataset, limit=None)]
    if not counts:
        return []
    step = max(1, len(counts) // points)
    ranks = sorted({*range(0, len(counts), step), len(counts) - 1})
    return [{"rank": rank + 1, "interactions": counts[rank]} for rank in ranks]


def recent_interactions(dataset: Dataset, limit: int = RECENT_EVENTS) -> QuerySet[Interaction]:
    """The interactions that reached the dataset last (by arrival, not by their own timestamp)."""
    return Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset).order_by("-created_at", "-id")[:limit]
