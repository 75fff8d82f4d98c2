"""Bounds on what one tenant's data may make the shared workers do, checked before the work.

The operator sets them (``settings.PLATFORM["LIMITS"]``, see docs/operations.md); a plan's own limits
(rows, upload size) live on :class:`tenants.models.Plan`.
"""

from django.conf import settings

# Keys of a nested ``features`` object count with the record's own keys: they become feature columns too.
NESTED_FEATURES = "features"


def limit(name: str) -> int:
    """The operator's limit ``name`` (for example ``"FEATURE_KEYS"``)."""
    return settings.PLATFORM["LIMITS"][name]


class FeatureKeyBound:
    """Counts the distinct keys of the records of one batch or file, and says when they pass the limit.

    Building a frame costs rows × distinct keys; with both bounded, the cost is linear in the input. Each
    record is looked at once, in O(its keys).
    """

    def __init__(self, what: str, max_keys: int | None = None, known=()):
        self.what = what
        self.max_keys = max_keys if max_keys is not None else limit("FEATURE_KEYS")
        # ``known``: the keys the tenant's catalogue or users already have (the learned schema).
        self.seen: set = set(known)

    def problem(self, record: dict, where: str) -> str | None:
        """Why ``record`` (described by ``where``, e.g. "Event 3") breaks the bound, or None."""
        nested = record.get(NESTED_FEATURES)
        nested = nested if isinstance(nested, dict) else {}
        own = len(record) + len(nested)
        if own > self.max_keys:
            return f"{where} has {own} keys; a record may have at most {self.max_keys} (FEATURE_KEYS)."
        self.seen.update(record)
        self.seen.update(f"{NESTED_FEATURES}.{key}" for key in nested)
        if len(self.seen) > self.max_keys:
            return (
                f"{where} brings the {self.what} to more than {self.max_keys} distinct keys, the most one "
                f"{self.what} may use (FEATURE_KEYS). Send fewer distinct feature names."
            )
        return None


SCHEMA_KINDS = {"items": "catalogue", "users": "user features"}


def learned_keys(tenant, kind: str) -> set:
    """Keys the tenant's catalogue (``kind="items"``) or user features (``"users"``) already use."""
    from .privacy import data_settings

    return set(data_settings(tenant).feature_keys.get(kind, []))


def schema_problem(tenant, kind: str, keys) -> str | None:
    """Why adding ``keys`` to the learned schema would pass FEATURE_KEYS, or None."""
    union = learned_keys(tenant, kind) | set(keys)
    most = limit("FEATURE_KEYS")
    if len(union) <= most:
        return None
    return (
        f"The {SCHEMA_KINDS[kind]} would use {len(union)} distinct keys; a tenant's {SCHEMA_KINDS[kind]} may use "
        f"at most {most} (FEATURE_KEYS). Reuse the feature names already stored."
    )


def learn_keys(tenant, kind: str, keys) -> None:
    """Add ``keys`` to the learned schema (under the settings row's lock, so concurrent writers merge)."""
    from .models import TenantDataSettings
    from .privacy import data_settings

    data_settings(tenant)
    row = TenantDataSettings.objects.for_tenant(tenant).select_for_update().get()
    known = set(row.feature_keys.get(kind, []))
    if not set(keys) <= known:
        row.feature_keys = {**row.feature_keys, kind: sorted(known | set(keys))}
        row.save(update_fields=["feature_keys", "updated_at"])
