"""Exploration: a share of the slots of a recommendation goes to new catalogue items, by Thompson sampling.

A model's policy gives a weight (0-1) and an item-age cut-off. For a list of k
items, ``round(k * weight)`` slots, spread evenly through the list (positions
k/(m+1), 2k/(m+1), ...: never all at the bottom, where nobody looks), go to items
added to the catalogue within the cut-off. Each candidate's attributed click
rate has a Beta(1 + clicks, 1 + shows - clicks) posterior; each request draws
one sample per candidate and takes the best, so a new item is shown until the
evidence says it is clicked less than the others, instead of uniformly at
random. Explored items are flagged ``"explored": true`` in the answer.

Per request: a cached dict look-up and one vectorised numpy Beta draw over the
candidates (at most ``MAX_CANDIDATES``). Candidates and their counts are re-read
at most every ``CANDIDATES_SECONDS`` per process; counts come from
``ItemExposure``, which the periodic aggregation fills.
"""

from datetime import timedelta

import numpy as np
from django.db.models import Sum
from django.utils import timezone

from core.cache import TtlCache
from recommender.data.models import Item

from .models import ExplorationPolicy, ItemExposure

CANDIDATES_SECONDS = 30
MAX_CANDIDATES = 2000

_candidates = TtlCache(CANDIDATES_SECONDS)
_rng = np.random.default_rng()


def _policy_and_candidates(tenant, config_id):
    """``(weight, item ids, clicks, shows)``, or None without a policy (a weight of 0 included)."""

    def read():
        policy = ExplorationPolicy.objects.for_tenant(tenant).filter(config_id=config_id).first()
        if policy is None or policy.weight <= 0:
            return None
        since = timezone.now() - timedelta(days=policy.max_item_age_days)
        items = list(
            Item.objects.for_tenant(tenant).filter(is_active=True, created_at__gte=since)
            .order_by("-created_at").values_list("item_id", flat=True)[:MAX_CANDIDATES]
        )  # fmt: skip
        counts = {
            row["item_id"]: (row["clicks"], row["shows"])
            for row in ItemExposure.objects.for_tenant(tenant)
            .filter(config_id=config_id, start__gte=since, item_id__in=items)
            .values("item_id").annotate(clicks=Sum("clicks"), shows=Sum("shows"))
        }  # fmt: skip
        clicks = np.array([counts.get(item, (0, 0))[0] for item in items], dtype=np.float64)
        shows = np.array([counts.get(item, (0, 0))[1] for item in items], dtype=np.float64)
        return policy.weight, items, clicks, np.maximum(shows, clicks)

    return _candidates.get((tenant.pk, config_id), read)


def explore(tenant, config_id, items, k, *, excluded, allowed=None):
    """``(items, explored ids)``: ``items`` (scored pairs) with some slots given to sampled new items."""
    found = _policy_and_candidates(tenant, config_id)
    if found is None:
        return items, frozenset()
    weight, candidates, clicks, shows = found
    slots = int(round(k * weight))
    if not slots or not candidates:
        return items, frozenset()
    draws = _rng.beta(1.0 + clicks, 1.0 + shows - clicks)
    listed = {item_id for item_id, _ in items}
    chosen = []
    for index in np.argsort(-draws):
        item_id = candidates[index]
        if item_id in excluded or item_id in listed or (allowed is not None and item_id not in allowed):
            continue
        chosen.append(item_id)
        if len(chosen) == slots:
            break
    if not chosen:
        return items, frozenset()
    kept = [pair for pair in items if pair[0] not in chosen][: max(k - len(chosen), 0)]
    total = len(kept) + len(chosen)
    positions = [(j + 1) * total // (len(chosen) + 1) for j in range(len(chosen))]
    result = list(kept)
    for position, item_id in zip(positions, chosen, strict=True):
        result.insert(position, (item_id, None))
    return result, frozenset(chosen)


def candidate_items(tenant) -> dict:
    """``{config_id: set(item ids)}`` whose exposure the aggregation records (models with a policy)."""
    found = {}
    for policy in ExplorationPolicy.objects.for_tenant(tenant).filter(weight__gt=0):
        since = timezone.now() - timedelta(days=policy.max_item_age_days)
        found[policy.config_id] = set(
            Item.objects.for_tenant(tenant).filter(created_at__gte=since).values_list("item_id", flat=True)
        )
    return found
