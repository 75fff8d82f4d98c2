"""Attribution of one 15-minute bucket: which events followed which impressions.

An event is **attributed** when it names a recommendation_id of the tenant (looked up only among the
tenant's own impressions, so another tenant's id never matches), its item was in that answer, and it
happened within the id's lifetime (FEEDBACK_ATTRIBUTION_HOURS) after the answer. Anything else that
names an id (forged, unknown, expired, another tenant's) is an unattributed event.

A conversion that is not attributed is **estimated** to the latest earlier impression that showed its
item to its user, if that was within the tenant's ``estimated_window_minutes``. Estimated conversions are
counted apart and never mixed into the attributed rates.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q

from recommender.data.models import Interaction

from .models import Impression

LOOKUP_BATCH = 2000
# Events timestamped this long before their answer are taken as clock skew, not as impossible.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass
class Counts:
    impressions: int = 0
    items_shown: int = 0
    clicked: int = 0
    clicks: int = 0
    converted: int = 0
    conversions: int = 0
    revenue: float = 0.0
    estimated_conversions: int = 0
    estimated_revenue: float = 0.0


@dataclass
class _Shown:
    row: tuple  # (pk, recommendation_id, served_at, config_id, version_number, experiment_id, arm, user_id, items)
    clicked: bool = False
    converted: bool = False
    keys: set = field(default_factory=set)


def _batches(values):
    values = list(values)
    for start in range(0, len(values), LOOKUP_BATCH):
        yield values[start : start + LOOKUP_BATCH]


def _moment(timestamp, created_at):
    return timestamp or created_at


def bucket_counts(tenant, start, end, *, rules, lifetime, explorable=None):
    """``{(config_id, version_number, experiment_id, arm): Counts}`` for impressions served in [start, end),
    and ``{(config_id, item_id): [shows, clicks]}`` for the items of ``explorable`` (``{config_id: ids}``)."""
    fields = ("pk", "recommendation_id", "served_at", "config_id", "version_number", "experiment_id", "arm",
              "user_id", "items")  # fmt: skip
    shown = [
        _Shown(row)
        for row in Impression.objects.for_tenant(tenant)
        .filter(served_at__gte=start, served_at__lt=end, error=False)
        .values_list(*fields)
    ]  # fmt: skip
    counts = defaultdict(Counts)
    exposures = defaultdict(lambda: [0, 0])
    explorable = explorable or {}
    if not shown:
        return counts, exposures
    by_id = {entry.row[1]: entry for entry in shown}
    click_types, conversion_types, revenue_types = rules
    followed = click_types | conversion_types | revenue_types
    for ids in _batches(by_id):
        events = (
            Interaction.objects.for_tenant(tenant)
            .filter(recommendation_id__in=ids, event_type__in=followed)
            .values_list("recommendation_id", "item_id", "event_type", "value", "timestamp", "created_at")
        )
        for recommendation_id, item_id, event_type, value, timestamp, created_at in events:
            entry = by_id[recommendation_id]
            served_at, items = entry.row[2], entry.row[8]
            moment = _moment(timestamp, created_at)
            if item_id not in items or not (served_at - CLOCK_SKEW <= moment <= served_at + lifetime):
                continue  # expired, or about an item this answer did not show: unattributed
            key = entry.row[3:7]
            if event_type in click_types:
                counts[key].clicks += 1
                entry.clicked = True
                if item_id in explorable.get(key[0], ()):
                    exposures[(key[0], item_id)][1] += 1
            if event_type in conversion_types:
                counts[key].conversions += 1
                entry.converted = True
            if event_type in revenue_types and value is not None:
                counts[key].revenue += value
    for entry in shown:
        key = entry.row[3:7]
        counts[key].impressions += 1
        counts[key].items_shown += len(entry.row[8])
        counts[key].clicked += entry.clicked
        counts[key].converted += entry.converted
        for item_id in explorable.get(key[0], frozenset()).intersection(entry.row[8]):
            exposures[(key[0], item_id)][0] += 1
    _estimate(tenant, shown, start, end, counts, rules)
    return counts, exposures


def _estimate(tenant, shown, start, end, counts, rules):
    """Add estimated conversions: unattributed conversions after an impression of the item to the user."""
    _, conversion_types, revenue_types = rules
    window = rules.window
    users = {entry.row[7] for entry in shown if entry.row[7]}
    if not users or not conversion_types:
        return
    # Later impressions of the same users decide which impression is the latest before a conversion.
    later = defaultdict(list)
    for ids in _batches(users):
        rows = (
            Impression.objects.for_tenant(tenant)
            .filter(user_id__in=ids, served_at__gte=start, served_at__lt=end + window)
            .values_list("user_id", "served_at", "items")
        )
        for user_id, served_at, items in rows:
            later[user_id].append((served_at, set(items)))
    in_bucket = defaultdict(list)
    for entry in shown:
        if entry.row[7]:
            in_bucket[entry.row[7]].append(entry)
    for ids in _batches(users):
        conversions = (
            Interaction.objects.for_tenant(tenant)
            .filter(user_id__in=ids, event_type__in=conversion_types)
            .filter(
                Q(timestamp__gte=start - CLOCK_SKEW, timestamp__lt=end + window)
                | Q(timestamp__isnull=True, created_at__gte=start, created_at__lt=end + window)
            )
            .values_list("user_id", "item_id", "event_type", "value", "timestamp", "created_at", "recommendation_id")
        )
        conversions = list(conversions)
        named = {row[6] for row in conversions if row[6]}
        resolved = set()
        for batch in _batches(named):
            resolved.update(
                Impression.objects.for_tenant(tenant).filter(recommendation_id__in=batch)
                .values_list("recommendation_id", flat=True)
            )  # fmt: skip
        for user_id, item_id, event_type, value, timestamp, created_at, recommendation_id in conversions:
            if recommendation_id in resolved:
                continue  # attributed (to this bucket or another): never also estimated
            moment = _moment(timestamp, created_at)
            before = [served_at for served_at, items in later[user_id] if item_id in items and served_at <= moment]
            if not before:
                continue
            latest = max(before)
            if moment - latest > window:
                continue
            for entry in in_bucket[user_id]:
                if entry.row[2] == latest and item_id in entry.row[8]:
                    key = entry.row[3:7]
                    counts[key].estimated_conversions += 1
                    if event_type in revenue_types and value is not None:
                        counts[key].estimated_revenue += value
                    break


class Rules(tuple):
    """``(click types, conversion types, revenue types)`` as sets, and the estimated window."""

    window: timedelta

    def __new__(cls, clicks, conversions, revenue, window):
        rules = super().__new__(cls, (frozenset(clicks), frozenset(conversions), frozenset(revenue)))
        rules.window = window
        return rules
