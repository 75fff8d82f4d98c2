"""Batch recommendations: every known user (or a list) scored on a worker into a CSV or JSON Lines file."""

import csv
import io
import json
import tempfile

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from tenants import audit
from tenants.queueing import NOT_QUEUED, send_on_commit

from .models import BatchJob
from .selectors import user_ids_of
from .services import recommend

MAX_LISTED_USERS = 100_000
# Cells starting with these characters are formulas to a spreadsheet: prefix them so they stay text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Escape a CSV cell that a spreadsheet would run as a formula."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


def request_batch(*, actor, config, user_ids=None, k=10, file_format=BatchJob.Format.CSV):
    """Queue a batch job for ``config``; it runs on a worker."""
    from .tasks import run_batch

    with transaction.atomic():
        job = BatchJob.objects.create(
            tenant=actor.tenant, config=config, user_ids=user_ids, k=k, file_format=file_format
        )
        audit.record(actor, "batch.requested", job, users=len(user_ids) if user_ids else "all")
        send_on_commit(
            lambda: run_batch.delay(job.tenant_id, job.pk),
            lambda: BatchJob.objects.filter(pk=job.pk).update(
                status=BatchJob.Status.FAILED,
                error=f"The batch did not start. {NOT_QUEUED}",
                finished_at=timezone.now(),
            ),
        )
    return job


def batch_file_path(job):
    return f"tenants/{int(job.tenant_id)}/batches/batch-{int(job.pk)}.{job.file_format}"


def _write_batch(job, user_ids, out):
    """Write each user's recommendations to the text stream ``out``; progress is saved every 500 users."""
    writer = csv.writer(out) if job.file_format == BatchJob.Format.CSV else None
    if writer:
        writer.writerow(["user_id", "rank", "item_id", "score", "fallback"])
    for done, user_id in enumerate(user_ids, start=1):
        answer = recommend(job.tenant, job.config.slug, str(user_id), k=job.k)
        fallback = (answer["fallback"] or {}).get("reason", "")
        if writer:
            for rank, item in enumerate(answer["items"], start=1):
                writer.writerow(
                    [spreadsheet_safe(user_id), rank, spreadsheet_safe(item["item_id"]), item["score"], fallback]
                )
        else:
            out.write(json.dumps({"user_id": user_id, "items": answer["items"], "fallback": fallback}) + "\n")
        if done % 500 == 0:
            BatchJob.objects.filter(pk=job.pk).update(users_done=done)
    out.flush()
    out.detach()  # hand the file back to the caller open


def execute_batch(tenant_id, job_id):
    """Score the job's users and store the file; progress is saved as it goes."""
    job = BatchJob.objects.filter(pk=job_id, tenant_id=tenant_id).select_related("config", "tenant").first()
    if job is None or job.status != BatchJob.Status.QUEUED:
        return
    user_ids = job.user_ids or user_ids_of(job.config.dataset)
    BatchJob.objects.filter(pk=job.pk).update(status=BatchJob.Status.RUNNING, users_total=len(user_ids))
    # The file is spooled to a temporary file on disk, not held in memory: a
    # batch over every user of a large tenant can run to gigabytes.
    with tempfile.TemporaryFile() as spool:
        try:
            _write_batch(job, user_ids, io.TextIOWrapper(spool, encoding="utf-8", newline=""))
            spool.seek(0)
            path = default_storage.save(batch_file_path(job), File(spool))
        except Exception as exc:
            BatchJob.objects.filter(pk=job.pk).update(
                status=BatchJob.Status.FAILED, error=f"The batch failed: {exc}", finished_at=timezone.now()
            )
            raise
    BatchJob.objects.filter(pk=job.pk).update(
        status=BatchJob.Status.SUCCEEDED, users_done=len(user_ids), file_path=path, finished_at=timezone.now()
    )
