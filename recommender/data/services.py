"""Writes of the data layer: datasets, imports, events, the catalogue, erasure and privacy settings.

Every change a person or API key makes is audited, except the events stream
itself: it is data, arriving thousands of rows a second, and the dataset's row
count and statistics account for it.

pandas and the validation and loading code (some 90 MB of memory) are
imported inside the functions that check rows: a web process that only serves
recommendations never loads them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from core.errors import Conflict, InvalidInput, PayloadTooLarge, QuotaExceeded
from core.queueing import NOT_QUEUED, resend_lost, send_best_effort_on_commit, send_on_commit
from tenants import audit
from tenants.models import Tenant
from tenants.quotas import check_storage
from tenants.turns import lock_tenant

from .limits import FeatureKeyBound, learn_keys, learned_keys
from .models import Dataset, EndUser, ErasedUser, ImportJob, Interaction
from .privacy import data_settings, tenant_keys
from .quotas import row_quota_problem
from .retention import delete_kept_uploads

if TYPE_CHECKING:
    import pandas as pd
    from django.core.files.base import File

    from .importing.problems import ChunkCheck
    from .models import Item, TenantDataSettings

EVENT_STREAM_NAME = "events"


@transaction.atomic
def create_dataset(
    *,
    actor: audit.Actor,
    name: str,
    kind: str,
    description: str = "",
    target_column: str = "",
    sensitive_columns: Iterable[str] = (),
) -> Dataset:
    """Create a dataset in the actor's tenant."""
    dataset = Dataset.objects.create(
        tenant=actor.tenant,
        name=name,
        kind=kind,
        description=description,
        target_column=target_column,
        sensitive_columns=list(dict.fromkeys(sensitive_columns)),
    )
    audit.record(actor, "dataset.created", dataset, kind=kind)
    return dataset


def event_stream_dataset(tenant: Tenant) -> Dataset:
    """The interactions dataset the events API writes to when a request names none (made on first use)."""
    dataset, _ = Dataset.objects.get_or_create(
        tenant=tenant,
        is_event_stream=True,
        defaults={
            "name": EVENT_STREAM_NAME,
            "kind": Dataset.Kind.INTERACTIONS,
            "description": "Events sent through the events API.",
        },
    )
    return dataset


# --- Imports -----------------------------------------------------------------------------------------


def _enqueue_import(job: ImportJob) -> None:
    from .tasks import run_import

    def not_queued() -> None:
        # Only while queued: a job sent again (resend_lost_imports) may have been started by its first message.
        ImportJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id, status=ImportJob.Status.QUEUED).update(
            status=ImportJob.Status.FAILED,
            message=f"The import did not start. {NOT_QUEUED}",
            finished_at=timezone.now(),
        )

    send_on_commit(lambda: run_import.delay(job.tenant_id, job.pk), not_queued)
    # What resend_lost_imports goes by: a job still queued long after this lost its message.
    ImportJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(sent_at=timezone.now())


def _check_waiting_imports(tenant: Tenant) -> None:
    """Refuse one more import while the tenant has ``WAITING_IMPORTS`` queued or running (call under its lock)."""
    limit = settings.PLATFORM["LIMITS"]["WAITING_IMPORTS"]
    waiting = ImportJob.objects.for_tenant(tenant).filter(
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]
    )
    count = waiting.count()
    if count >= limit:
        raise QuotaExceeded(
            f"{count} imports of this organisation are queued or running; at most {limit} may be at once "
            "(LIMIT_WAITING_IMPORTS). Send this file when some have finished.",
            details={"limit": limit, "used": count},
        )


@transaction.atomic
def start_import(*, actor: audit.Actor, dataset: Dataset, upload: File, options: dict[str, Any]) -> ImportJob:
    """Store an upload privately and queue its import into ``dataset``; the import runs on a worker."""
    # Counted under the tenant's row lock, so concurrent uploads cannot pass the bound together.
    _check_waiting_imports(lock_tenant(actor.tenant.pk))
    plan = actor.tenant.plan
    if upload.size > plan.max_upload_bytes:
        raise PayloadTooLarge(
            f"The file is {upload.size} bytes; the {plan.name} plan accepts uploads of up to "
            f"{plan.max_upload_bytes} bytes."
        )
    if not upload.size:
        raise InvalidInput.for_fields({"file": "The file is empty."})
    # Everything the tenant stores counts (uploads, batch files, trained models), checked before storing.
    check_storage(actor.tenant, adding=upload.size, what=f"The file is {upload.size} bytes. ", error=PayloadTooLarge)
    # Never a name the caller chose: a random one in the tenant's own folder.
    path = default_storage.save(f"tenants/{actor.tenant.pk}/uploads/{uuid.uuid4().hex}", upload)
    job = ImportJob.objects.create(
        tenant=actor.tenant,
        dataset=dataset,
        file_name=os.path.basename(upload.name or "upload")[:255],
        file_path=path,
        file_size=upload.size,
        format=options.get("format") or "",
        options=options,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    audit.record(actor, "import.queued", job, dataset=dataset.pk, file_name=job.file_name)
    _enqueue_import(job)
    return job


@transaction.atomic
def rerun_import(*, actor: audit.Actor, job: ImportJob) -> ImportJob:
    """Queue a failed import again, as a new job over the same stored upload."""
    if job.status != ImportJob.Status.FAILED:
        raise Conflict("Only a failed import can be run again.")
    if not job.file_path or not default_storage.exists(job.file_path):
        raise Conflict("The uploaded file of this import is gone; upload it again.")
    _check_waiting_imports(lock_tenant(job.tenant_id))
    again = ImportJob.objects.create(
        tenant=job.tenant,
        dataset=job.dataset,
        file_name=job.file_name,
        file_path=job.file_path,
        file_size=job.file_size,
        format=job.format,
        options=job.options,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    audit.record(actor, "import.rerun", again, previous=job.pk)
    _enqueue_import(again)
    return again


def resend_lost_imports(resend_after: timedelta | None = None) -> list[Any]:
    """Send again the task of import jobs still queued ``resend_after`` after it was last sent; returns their ids.

    Redis keeps no messages across a restart, so such a job's message may be gone. If it was only
    waiting behind a busy worker, the second message is harmless: the runner drops a delivery of a
    finished job or of one another worker holds. Not on the embedded set-up: its file-system broker
    keeps its messages, and without PostgreSQL's advisory locks a duplicate could import twice.
    """
    if connection.vendor != "postgresql":
        return []
    resend_after = resend_after or timedelta(seconds=settings.PLATFORM["QUEUED_RESEND_AFTER_SECONDS"])
    cutoff = timezone.now() - resend_after
    # Jobs created before sent_at existed go by when they were created.
    lost = Q(sent_at__lt=cutoff) | Q(sent_at__isnull=True, created_at__lt=cutoff)
    # cross-tenant: a periodic sweep over every tenant's queued imports.
    queued = ImportJob.objects.unscoped().filter(status=ImportJob.Status.QUEUED).select_related("tenant")

    def send(job: ImportJob) -> None:
        audit.record(audit.Actor.system(job.tenant), "import.resent", job)
        _enqueue_import(job)

    return resend_lost(queued, lost, send, "Import job")


def schedule_stats_refresh(dataset: Dataset) -> None:
    """Recompute the dataset's statistics on a worker once the current transaction commits."""
    from .tasks import refresh_stats

    # Best effort: an import that just merged must not fail because its statistics could not be queued.
    send_best_effort_on_commit(
        lambda: refresh_stats.delay(dataset.tenant_id, dataset.pk), f"statistics of dataset {dataset.pk}"
    )


def refresh_dataset_stats(dataset: Dataset) -> dict[str, Any]:
    """Recompute and store the dataset's statistics (its row count too); returns them."""
    from .statistics import dataset_statistics

    stats = dataset_statistics(dataset)
    Dataset.objects.filter(pk=dataset.pk, tenant_id=dataset.tenant_id).update(
        stats=stats, stats_updated_at=timezone.now(), row_count=stats["rows"]
    )
    dataset.refresh_from_db(fields=["stats", "stats_updated_at", "row_count"])
    return stats


# --- Events and catalogue (JSON batches) --------------------------------------------------------------


@dataclass
class BatchOutcome:
    """What became of a JSON batch: rows stored, events seen before, and why each rejected one was."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list = field(default_factory=list)


def _bound_feature_keys(
    records: Sequence[object], *, field_name: str, noun: str, what: str | None = None, known: Iterable[str] = ()
) -> set[str]:
    """Refuse (400) a batch whose records use more distinct keys than the limit (with ``known``: the keys
    already stored, the learned schema), before any frame is built; returns the keys seen."""
    bound = FeatureKeyBound(what or f"batch of {field_name}", known=known)
    for index, record in enumerate(records):
        if isinstance(record, dict) and (problem := bound.problem(record, f"{noun} {index}")):
            raise InvalidInput.for_fields({field_name: f"{problem} Nothing was stored."})
    return bound.seen


def _batch_frame(records: Sequence[object]) -> tuple[pd.DataFrame, np.ndarray, list[dict[str, Any]]]:
    """The JSON objects of a batch as a frame (their indexes as lines) and the entries that are not objects.

    Callers bound the batch's distinct keys first (:func:`_bound_feature_keys`): the frame costs rows × keys.
    """
    import pandas as pd

    indexes = [index for index, record in enumerate(records) if isinstance(record, dict)]
    not_objects = [
        {"index": index, "field": "", "reason": "is not a JSON object"}
        for index, record in enumerate(records)
        if not isinstance(record, dict)
    ]
    # An explicit index keeps a batch of empty objects as rows (to be rejected), not an empty frame.
    objects = [records[index] for index in indexes]
    frame = pd.DataFrame.from_records(objects, index=pd.RangeIndex(len(objects))) if objects else pd.DataFrame()
    frame = frame.astype(object)
    return frame, np.array(indexes, dtype=np.int64), not_objects


def _first_problem_per_index(check: ChunkCheck, not_objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    firsts: dict[int, dict[str, object]] = {}
    for error in check.errors():
        firsts.setdefault(error.line, {"index": error.line, "field": error.column, "reason": error.reason})
    return sorted([*firsts.values(), *not_objects], key=lambda rejection: rejection["index"])


def record_events(*, actor: audit.Actor, events: list[dict], dataset: Dataset | None = None) -> BatchOutcome:
    """Validate each event on its own and store the good ones in one insert; event ids make retries idempotent."""
    from .importing.loaders import insert_interactions
    from .importing.validation import InteractionValidator, validate_batch

    tenant = actor.tenant
    dataset = dataset or event_stream_dataset(tenant)
    if dataset.kind != Dataset.Kind.INTERACTIONS:
        raise InvalidInput.for_fields({"dataset": f"Dataset {dataset.pk} holds {dataset.kind}, not interactions."})
    _bound_feature_keys(events, field_name="events", noun="Event")
    frame, indexes, not_objects = _batch_frame(events)
    validator = InteractionValidator(dataset, tenant_keys(tenant), frame.columns)
    clean, check = validate_batch(validator, frame, indexes)
    outcome = BatchOutcome(rejected=_first_problem_per_index(check, not_objects))
    if not len(clean):
        return outcome
    problem = row_quota_problem(tenant, adding=len(clean))
    if problem:
        raise QuotaExceeded(f"{problem} No events were stored.")
    with transaction.atomic():
        result = insert_interactions(dataset, clean)
        Dataset.objects.filter(pk=dataset.pk, tenant_id=dataset.tenant_id).update(
            row_count=F("row_count") + result.loaded
        )
    outcome.accepted, outcome.duplicates = result.loaded, result.duplicates
    return outcome


def _sensitive_item_features(tenant: Tenant) -> list[str]:
    """Feature names marked sensitive on any of the tenant's item datasets."""
    names = (
        Dataset.objects.for_tenant(tenant).filter(kind=Dataset.Kind.ITEMS).values_list("sensitive_columns", flat=True)
    )
    return sorted({name for columns in names for name in columns or []})


@transaction.atomic
def upsert_catalogue_items(*, actor: audit.Actor, items: list[dict]) -> dict:
    """Create or update catalogue items, all or none; fields an item leaves out keep their values."""
    from .importing.loaders import upsert_items
    from .importing.validation import ItemValidator, validate_batch

    tenant = actor.tenant
    # The catalogue's learned schema bounds the keys across every batch, not only this one.
    keys = _bound_feature_keys(
        items, field_name="items", noun="Item", what="catalogue", known=learned_keys(tenant, "items")
    )
    frame, indexes, not_objects = _batch_frame(items)
    validator = ItemValidator(None, tenant_keys(tenant), frame.columns, _sensitive_item_features(tenant))
    clean, check = validate_batch(validator, frame, indexes)
    rejected = _first_problem_per_index(check, not_objects)
    if rejected:
        raise InvalidInput.for_fields(
            {
                "items": {
                    str(problem["index"]): {problem["field"] or "item": [problem["reason"]]} for problem in rejected
                }
            }
        )
    result = upsert_items(tenant, clean, validator.fields)
    problem = row_quota_problem(tenant)
    if problem:
        raise QuotaExceeded(problem)
    learn_keys(tenant, "items", keys)
    audit.record(actor, "items.upserted", None, created=result.created, updated=result.loaded - result.created)
    return {"created": result.created, "updated": result.loaded - result.created}


def _set_item_active(actor: audit.Actor, item: Item, active: bool, action: str) -> Item:
    """Switch the item's state and audit it as ``action``; an item already in that state is left as it is."""
    if item.is_active != active:
        item.is_active = active
        item.updated_at = timezone.now()
        item.save(update_fields=["is_active", "updated_at"])
        audit.record(actor, action, item)
    return item


@transaction.atomic
def deactivate_item(*, actor: audit.Actor, item: Item) -> Item:
    """Take an item out of recommendations; it stays in the catalogue (and in past interactions)."""
    return _set_item_active(actor, item, False, "item.deactivated")


@transaction.atomic
def reactivate_item(*, actor: audit.Actor, item: Item) -> Item:
    """Put a deactivated item back into recommendations; an active item is left as it is."""
    return _set_item_active(actor, item, True, "item.reactivated")


# --- Erasure and privacy -------------------------------------------------------------------------------


@transaction.atomic
def erase_end_user(*, actor: audit.Actor, raw_user_id: str) -> dict:
    """Delete an end user's interactions and features, and mark them erased so serving stops personalising.

    ``raw_user_id`` is the id the tenant uses (it is pseudonymised here when the
    tenant pseudonymises). Erasing an unknown id is not an error: it answers zero
    counts and still leaves the marker. Events that arrive later for the same id
    are stored as new data; the marker stays, so serving keeps the fallback for them.
    """
    tenant = actor.tenant
    keys = tenant_keys(tenant)
    user_key = keys.user_key(str(raw_user_id))
    interactions = Interaction.objects.for_tenant(tenant).filter(user_id=user_key)
    per_dataset = dict(interactions.values_list("dataset").annotate(count=Count("id")).values_list("dataset", "count"))
    interactions_deleted = interactions.delete()[0]
    for dataset_id, count in per_dataset.items():
        Dataset.objects.for_tenant(tenant).filter(pk=dataset_id).update(row_count=F("row_count") - count)
    features_deleted = EndUser.objects.for_tenant(tenant).filter(user_id=user_key).delete()[0]
    if features_deleted:
        Dataset.objects.for_tenant(tenant).filter(kind=Dataset.Kind.USERS).update(row_count=F("row_count") - 1)
    from recommender.feedback.models import Impression  # what was shown to them goes too

    Impression.objects.for_tenant(tenant).filter(user_id=user_key).delete()
    digest = keys.digest(user_key)
    ErasedUser.objects.update_or_create(tenant=tenant, user_digest=digest, defaults={"erased_at": timezone.now()})
    counts = {
        "interactions_deleted": interactions_deleted,
        "features_deleted": features_deleted,
        **_erase_from_files(tenant, [str(raw_user_id), user_key]),
    }
    # The audit entry names the user by digest only: the log must not keep what was erased.
    audit.record(actor, "end_user.erased", None, user_digest=digest[:16], **counts)
    return counts


def _erase_from_files(tenant: Tenant, ids: list[str]) -> dict[str, int]:
    """Stored files that may hold the user: kept uploads of failed imports (their content is not searched:
    all go) and batch files that name the user. Trained model versions are not files of rows: serving
    stops personalising for the user at once (the erasure marker), and the next training leaves them out."""
    from recommender.serving.batch import delete_batch_files_naming

    return {
        "uploads_deleted": delete_kept_uploads(tenant),
        "batch_files_deleted": delete_batch_files_naming(tenant, ids),
    }


@transaction.atomic
def update_data_settings(*, actor: audit.Actor, pseudonymize_user_ids: bool) -> TenantDataSettings:
    """Switch pseudonymisation of user ids; only while the tenant stores no user data, so ids stay consistent."""
    tenant = actor.tenant
    found = data_settings(tenant)
    if found.pseudonymize_user_ids != pseudonymize_user_ids:
        if Interaction.objects.for_tenant(tenant).exists() or EndUser.objects.for_tenant(tenant).exists():
            raise Conflict(
                "Pseudonymisation can only be switched while the tenant stores no interactions or user features: "
                "ids already stored would stop matching new ones. Erase the data first."
            )
        found.pseudonymize_user_ids = pseudonymize_user_ids
        found.save(update_fields=["pseudonymize_user_ids", "updated_at"])
        audit.record(actor, "data_settings.updated", found, pseudonymize_user_ids=pseudonymize_user_ids)
    return found
