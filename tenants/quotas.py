"""How much of its plan a tenant uses, for the usage API and the portal, and the storage quota's check.

Other apps register a counter for the quotas they own (rows, models, runs) and for the bytes they store
(uploads, batch files, trained models), so this module needs no import of theirs.
"""

from core.errors import QuotaExceeded

_counters = {}
_stores = {}


def register_quota(name, limit_field, count):
    """Declare quota ``name``: its limit is ``plan.<limit_field>``; ``count(tenant)`` is what is used."""
    _counters[name] = (limit_field, count)


def quota_use(tenant):
    """``{name: {"used": n, "limit": m}}`` for every registered quota."""
    return {
        name: {"used": count(tenant), "limit": getattr(tenant.plan, limit_field)}
        for name, (limit_field, count) in sorted(_counters.items())
    }


def register_storage(what, count):
    """Declare stored files counted against ``Plan.max_storage_bytes``: ``count(tenant)`` is their bytes."""
    _stores[what] = count


def stored_bytes(tenant) -> dict:
    """``{what: bytes}`` of everything the tenant stores (uploads, batch files, trained models)."""
    return {what: count(tenant) for what, count in sorted(_stores.items())}


def check_storage(tenant, *, adding=0, what="", error=QuotaExceeded):
    """Raise ``error`` when the tenant's stored bytes with ``adding`` more would pass its plan's storage
    quota (with ``adding`` 0: when it is already full), naming the limit and what is stored; ``what`` opens
    the message (the work refused)."""
    plan = tenant.plan
    use = stored_bytes(tenant)
    used = sum(use.values())
    if used + adding <= plan.max_storage_bytes and (adding or used < plan.max_storage_bytes):
        return
    parts = "; ".join(f"{count} bytes of {kind} are stored" for kind, count in use.items())
    raise error(
        f"{what}The organisation stores {used} bytes ({parts}); the {plan.name} plan stores up to "
        f"{plan.max_storage_bytes} bytes. Delete model versions, batch files or failed imports you no longer "
        "need, or ask for a larger plan.",
        details={"limit": plan.max_storage_bytes, "used": used, "adding": adding, "stored": use},
    )


def _storage_total(tenant):
    return sum(stored_bytes(tenant).values())


register_quota("storage_bytes", "max_storage_bytes", _storage_total)


# A tenant's limits, as the usage page and GET /api/v1/tenant show them: (field or setting, label).
PLAN_LIMITS = [
    ("max_rows", "Stored data rows"),
    ("max_models", "Model configurations"),
    ("max_training_runs_per_day", "Training runs a day"),
    ("max_concurrent_trainings", "Training runs at once"),
    ("training_time_limit_seconds", "Seconds a training run may take"),
    ("api_requests_per_minute", "API requests a minute per key"),
    ("max_concurrent_imports", "Imports at once"),
    ("max_upload_bytes", "Bytes of one upload"),
    ("max_storage_bytes", "Bytes stored at once (uploads, batch files, models)"),
    ("max_request_body_bytes", "Bytes of one JSON request body"),
    ("max_batch_jobs_per_day", "Batch jobs a day"),
    ("max_batch_users", "Users one batch job may score"),
    ("max_concurrent_batch_jobs", "Batch jobs at once"),
]
PLATFORM_LIMITS = [
    ("FEATURE_KEYS", "Distinct keys of a record, a batch or a file"),
    ("DECOMPRESSED_BYTES", "Bytes a gzip file may decompress to"),
    ("DECOMPRESSION_RATIO", "Times its size a gzip file may decompress to"),
    ("LINE_BYTES", "Bytes of one line of a file"),
    ("FIELD_BYTES", "Bytes of one value of a file"),
    ("WAITING_IMPORTS", "Imports queued or running at once"),
]


def limits_of(plan) -> dict:
    """``{name: {"label", "limit"}}``: the plan's limits, then the platform's own (the same for every plan)."""
    from django.conf import settings

    limits = {name: {"label": label, "limit": getattr(plan, name)} for name, label in PLAN_LIMITS}
    platform = settings.PLATFORM["LIMITS"]
    limits.update({name.lower(): {"label": label, "limit": platform[name]} for name, label in PLATFORM_LIMITS})
    return limits
