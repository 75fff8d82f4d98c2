"""Batch recommendations: every known user (or a list, or anonymous sessions) scored on a worker into a CSV or
JSON Lines file."""

import csv
import io
import json
import os
import shutil
import tempfile
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import QuotaExceeded
from core.queueing import NOT_QUEUED, send_on_commit
from tenants import audit
from tenants.quotas import check_storage
from tenants.tenancy import acts_for_tenant
from tenants.turns import has_a_turn, lock_tenant, next_turn, wait_for_a_turn

from .models import BatchJob
from .selectors import count_users_of, user_ids_after
from .services import recommend, recommend_session

MAX_LISTED_USERS = 100_000
# Cells starting with these characters are formulas to a spreadsheet: prefix them so they stay text.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value):
    """Escape a CSV cell that a spreadsheet would run as a formula."""
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_PREFIXES) else text


def _count_users(config, user_ids):
    if user_ids is not None:
        return len(user_ids)
    return count_users_of(config.dataset)


def request_batch(*, actor, config, user_ids=None, sessions=None, k=10, file_format=BatchJob.Format.CSV):
    """Queue a batch job for ``config`` within the plan's batch quotas (jobs a day, users a job, storage); it runs on a
    worker in turns with other tenants' jobs (see ``tenants.turns``). ``sessions`` (``[{session_id,
    item_ids}]``) scores anonymous sessions instead of users; each counts as a user against the quota."""
    from .tasks import run_batch

    with transaction.atomic():
        tenant = lock_tenant(actor.tenant.pk)  # the day's count holds under concurrent requests
        plan = tenant.plan
        today = BatchJob.objects.for_tenant(tenant).filter(created_at__gte=timezone.now() - timedelta(days=1))
        if today.count() >= plan.max_batch_jobs_per_day:
            raise QuotaExceeded(f"The {plan.name} plan allows {plan.max_batch_jobs_per_day} batch jobs a day.")
        check_storage(tenant, what="No batch job was queued. ")
        users = len(sessions) if sessions else _count_users(config, user_ids)
        if users > plan.max_batch_users:
            raise QuotaExceeded(
                f"This batch would score {users} users; the {plan.name} plan allows {plan.max_batch_users} "
                "users a batch job. Send a list of user_ids in several jobs."
            )
        job = BatchJob.objects.create(
            tenant=actor.tenant, config=config, user_ids=user_ids, sessions=sessions, k=k, file_format=file_format
        )
        scope = {"sessions": len(sessions)} if sessions else {"users": len(user_ids) if user_ids else "all"}
        audit.record(actor, "batch.requested", job, **scope)
        send_on_commit(
            lambda: run_batch.delay(job.tenant_id, job.pk),
            lambda: BatchJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(
                status=BatchJob.Status.FAILED,
                error=f"The batch did not start. {NOT_QUEUED}",
                finished_at=timezone.now(),
            ),
        )
    return job


def batch_file_path(job):
    return f"tenants/{int(job.tenant_id)}/batches/batch-{int(job.pk)}.{job.file_format}"


def _part_path(job, first_user):
    return f"{batch_file_path(job)}.part-{int(first_user):09d}"


def _write_batch(job, user_ids, out, header=True):
    """Write each user's recommendations to the text stream ``out``."""
    writer = csv.writer(out) if job.file_format == BatchJob.Format.CSV else None
    if writer and header:
        writer.writerow(["user_id", "rank", "item_id", "score", "fallback", "recommendation_id"])
    for user_id in user_ids:
        answer = recommend(job.tenant, job.config.slug, str(user_id), k=job.k)
        fallback = (answer["fallback"] or {}).get("reason", "")
        if writer:
            for rank, item in enumerate(answer["items"], start=1):
                writer.writerow(
                    [
                        spreadsheet_safe(user_id), rank, spreadsheet_safe(item["item_id"]), item["score"], fallback,
                        answer["recommendation_id"],
                    ]
                )  # fmt: skip
        else:
            line = {"user_id": user_id, "items": answer["items"], "fallback": fallback}
            out.write(json.dumps({**line, "recommendation_id": answer["recommendation_id"]}) + "\n")
    out.flush()
    out.detach()  # hand the file back to the caller open


def _write_session_batch(job, sessions, out, header=True):
    """Like ``_write_batch``, one anonymous session per ``session_id`` instead of one user."""
    writer = csv.writer(out) if job.file_format == BatchJob.Format.CSV else None
    if writer and header:
        writer.writerow(["session_id", "rank", "item_id", "score", "fallback", "recommendation_id"])
    for session in sessions:
        answer = recommend_session(job.tenant, job.config.slug, session["item_ids"], k=job.k)
        fallback = (answer["fallback"] or {}).get("reason", "")
        session_id = session["session_id"]
        if writer:
            for rank, item in enumerate(answer["items"], start=1):
                writer.writerow(
                    [
                        spreadsheet_safe(session_id), rank, spreadsheet_safe(item["item_id"]), item["score"], fallback,
                        answer["recommendation_id"],
                    ]
                )  # fmt: skip
        else:
            record = {"session_id": session_id, "items": answer["items"], "fallback": fallback}
            record["recommendation_id"] = answer["recommendation_id"]
            out.write(json.dumps({**record, "session": answer["session"]}) + "\n")
    out.flush()
    out.detach()


def _start(tenant_id, job_id):
    """Start a queued job if its tenant has a turn (``tenants.turns.has_a_turn``: within its plan's batch
    jobs at once, and no other tenant running fewer is waiting); returns the job (running, with its users
    fixed) or None when it must wait for a turn."""
    with transaction.atomic():
        tenant = lock_tenant(tenant_id)
        job = BatchJob.objects.for_tenant(tenant).select_for_update().filter(pk=job_id).first() if tenant else None
        if job is None or job.status != BatchJob.Status.QUEUED:
            return job
        turn = has_a_turn(
            tenant=tenant,
            jobs=BatchJob.objects,
            limit_field="max_concurrent_batch_jobs",
            waiting=Q(status=BatchJob.Status.QUEUED),
            running=Q(status=BatchJob.Status.RUNNING),
        )
        if not turn:
            return None
        # A job over every user counts them now and reads them a slice at a time (``_next_slice``).
        total = count_users_of(job.config.dataset) if _every_user(job) else len(job.sessions or job.user_ids)
        job.status, job.users_total, job.users_done, job.cursor = BatchJob.Status.RUNNING, total, 0, ""
        job.save(update_fields=["status", "users_total", "users_done", "cursor"])
        return job


def _every_user(job):
    return not job.sessions and not job.user_ids


def _next_slice(job, size):
    """The next ``size`` users or sessions of the job, and whether they are its last."""
    first = job.users_done
    if not _every_user(job):
        listed = job.sessions or job.user_ids
        return listed[first : first + size], first + size >= len(listed)
    users = user_ids_after(job.config.dataset, job.cursor, limit=size)
    return users, len(users) < size


@acts_for_tenant
def execute_batch(tenant_id, job_id):
    """Score the job's next slice of users into a part file; the last slice joins the parts into the file.

    Each slice is one task, and the next goes to the back of the queue: another tenant's small job waits
    at most one slice (``BATCH_SLICE_USERS``), not for a whole large job. A slice's answers are spooled to
    a temporary file and stored as a part, and a job over every user reads its users a slice at a time
    (keyset on the user id), so the worker holds one slice whatever the job's size.
    """
    from .tasks import run_batch

    job = BatchJob.objects.filter(pk=job_id, tenant_id=tenant_id).select_related("config", "tenant").first()
    if job is None or job.status not in (BatchJob.Status.QUEUED, BatchJob.Status.RUNNING):
        return
    if job.status == BatchJob.Status.QUEUED:
        started = _start(tenant_id, job_id)
        if started is None:
            wait_for_a_turn(run_batch, tenant_id, job_id)
            return
        if started.status != BatchJob.Status.RUNNING:
            return
        job.users_total, job.users_done, job.cursor = started.users_total, started.users_done, started.cursor
    first = job.users_done
    users, last = _next_slice(job, settings.PLATFORM["LIMITS"]["BATCH_SLICE_USERS"])
    write = _write_session_batch if job.sessions else _write_batch
    try:
        # Spooled to a temporary file on disk, not held in memory.
        with tempfile.TemporaryFile() as spool:
            write(job, users, io.TextIOWrapper(spool, encoding="utf-8", newline=""), header=first == 0)
            spool.seek(0)
            default_storage.save(_part_path(job, first), File(spool))
        done = first + len(users)
        if not last:
            cursor = str(users[-1]) if _every_user(job) else ""
            with transaction.atomic():
                BatchJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(users_done=done, cursor=cursor)
                next_turn(run_batch, tenant_id, job_id)
            return
        path = _join_parts(job)
    except Exception as exc:
        _delete_parts(job)
        BatchJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(
            status=BatchJob.Status.FAILED, error=f"The batch failed: {exc}", finished_at=timezone.now()
        )
        raise
    BatchJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(
        status=BatchJob.Status.SUCCEEDED,
        users_done=done,
        users_total=max(done, job.users_total),  # users who arrived during the job are in the file too
        file_path=path,
        file_bytes=default_storage.size(path),
        finished_at=timezone.now(),
    )


def expire_batch_files(now=None) -> int:
    """Delete the files of batch jobs finished more than ``BATCH_FILE_HOURS`` ago; returns how many."""
    hours = settings.PLATFORM["RETENTION"]["BATCH_FILE_HOURS"]
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    # cross-tenant: a periodic sweep over every tenant's batch files.
    expired = BatchJob.objects.unscoped().exclude(file_path="").filter(finished_at__lt=cutoff)
    count = 0
    for job in expired:
        default_storage.delete(job.file_path)
        BatchJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(
            file_path="", error=f"The file expired {hours} hours after it was made."
        )
        count += 1
    return count


def _names_a_user(path, file_format, ids):
    """Whether a batch file has a line for one of ``ids`` (read line by line, never whole)."""
    if file_format == BatchJob.Format.CSV:
        starts = tuple(f"{prefix}{user_id}," for user_id in ids for prefix in ("", "'"))
        found = lambda line: line.startswith(starts)  # noqa: E731
    else:
        found = lambda line: json.loads(line).get("user_id") in ids  # noqa: E731
    try:
        with default_storage.open(path, "rb") as stored:
            return any(found(line.decode("utf-8")) for line in stored)
    except FileNotFoundError:
        return False  # already gone (expired, or deleted by an earlier erasure): nothing of the user is left


def delete_batch_files_naming(tenant, ids) -> int:
    """Erasure: delete the tenant's batch files that hold one of ``ids`` (raw and stored user ids).

    The rows forget their files at once; the files go when the transaction commits, so an erasure that
    rolls back leaves every file where its row says it is.
    """
    ids = {str(user_id) for user_id in ids}
    count = 0
    for job in BatchJob.objects.for_tenant(tenant).exclude(file_path=""):
        if _names_a_user(job.file_path, job.file_format, ids):
            transaction.on_commit(lambda path=job.file_path: default_storage.delete(path))
            BatchJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(
                file_path="", error="The file was deleted by an erasure."
            )
            count += 1
    return count


def _parts(job):
    folder, _ = os.path.split(batch_file_path(job))
    prefix = os.path.basename(batch_file_path(job)) + ".part-"
    try:
        names = default_storage.listdir(folder)[1]
    except FileNotFoundError:
        return []
    return [f"{folder}/{name}" for name in sorted(names) if name.startswith(prefix)]


def _join_parts(job):
    """The parts, in order, as the job's one file; the parts are deleted."""
    with tempfile.TemporaryFile() as spool:
        for part in _parts(job):
            with default_storage.open(part, "rb") as stored:
                shutil.copyfileobj(stored, spool)
        spool.seek(0)
        path = default_storage.save(batch_file_path(job), File(spool))
    _delete_parts(job)
    return path


def _delete_parts(job):
    for part in _parts(job):
        default_storage.delete(part)
