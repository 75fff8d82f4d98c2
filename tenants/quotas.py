"""How much of its plan a tenant uses, for the usage API and the portal.

Other apps register a counter for the quotas they own (rows, models, runs), so
this module needs no import of theirs.
"""

_counters = {}


def register_quota(name, limit_field, count):
    """Declare quota ``name``: its limit is ``plan.<limit_field>``; ``count(tenant)`` is what is used."""
    _counters[name] = (limit_field, count)


def quota_use(tenant):
    """``{name: {"used": n, "limit": m}}`` for every registered quota."""
    return {
        name: {"used": count(tenant), "limit": getattr(tenant.plan, limit_field)}
        for name, (limit_field, count) in sorted(_counters.items())
    }


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
    ("max_storage_bytes", "Bytes of uploads stored at once"),
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
]


def limits_of(plan) -> dict:
    """``{name: {"label", "limit"}}``: the plan's limits, then the platform's own (the same for every plan)."""
    from django.conf import settings

    limits = {name: {"label": label, "limit": getattr(plan, name)} for name, label in PLAN_LIMITS}
    platform = settings.PLATFORM["LIMITS"]
    limits.update({name.lower(): {"label": label, "limit": platform[name]} for name, label in PLATFORM_LIMITS})
    return limits
