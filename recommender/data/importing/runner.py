"""Carrying out an import job: read the upload in chunks, validate, stage, then merge or fail.

The job row is the progress report: rows read (against an estimated or exact
total), rows rejected with the first problems, and at the end the outcome and
a message for a person. Nothing reaches the real tables before the import's
transaction commits at the end (interactions stream into their table inside it
from the first chunk; other rows wait in staging for one merge), so a job whose
worker died mid-way left nothing behind: on PostgreSQL a worker
holds its job's advisory lock while it imports (the lock goes with the worker's
connection), so a second delivery of the message never imports twice, and
``reap_orphaned_imports`` fails a "running" job nobody holds, instead of it
showing "running" until the broker redelivers its message an hour later.
"""

import contextlib
import logging
import threading

from django.conf import settings
from django.db import DatabaseError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from tenants import audit
from tenants.tenancy import acts_for_tenant
from tenants.turns import has_a_turn, lock_tenant, wait_for_a_turn

from ..limits import NESTED_FEATURES, learn_keys, schema_problem
from ..models import Dataset, ImportJob
from ..privacy import tenant_keys
from ..quotas import row_quota_problem, stored_row_count
from ..retention import delete_upload
from ..statistics import identifier_note, tabular_identifier_columns
from .loaders import staging_for
from .problems import ErrorReport, ImportFailed
from .sources import ImportOptions, UploadReader, local_file
from .validation import POSITIONAL_COLUMNS, validate_batch, validator_for
from .values import suggest_timestamp_format

logger = logging.getLogger(__name__)

# Column names a catalogue file uses for its categories (compared lower-cased), preferred first.
CATEGORY_SYNONYMS = ("category", "genres", "genre", "tags", "tag")


# Advisory-lock keys of import jobs: this prefix above the job id, clear of other users of advisory locks.
IMPORT_LOCK_PREFIX = 0x1A7 << 40
ORPHANED = (
    "The worker carrying out this import stopped before it finished (a restart or a crash), "
    "so nothing was imported. Run the import again."
)


@contextlib.contextmanager
def job_lock(job_id):
    """Take the job's advisory lock if it is free; yields whether this process now holds it.

    Only PostgreSQL has advisory locks; elsewhere (the embedded set-up, one worker) it always yields True.
    """
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [IMPORT_LOCK_PREFIX + int(job_id)])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with contextlib.suppress(DatabaseError):  # a lost connection took the lock with it
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [IMPORT_LOCK_PREFIX + int(job_id)])


@acts_for_tenant
def run_import(job_id, *, tenant_id):
    """Run the import job ``job_id`` of ``tenant_id`` (another tenant's job is left alone) unless it already
    finished or another worker is on it; returns the job, or ``None`` when there is none to run."""
    job = ImportJob.objects.for_tenant(tenant_id).select_related("dataset", "tenant__plan").filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    with job_lock(job.pk) as held:
        if not held:
            logger.info("Import job %s is being carried out by another worker; this delivery is dropped", job.pk)
            return job
        job.refresh_from_db()
        if job.status == ImportJob.Status.QUEUED and not _claim_turn(job):
            from ..tasks import run_import as task

            wait_for_a_turn(task, job.tenant_id, job.pk)
            return job
        if not job.is_finished:
            ImportRun(job).execute()
    job.refresh_from_db()
    return job


def _claim_turn(job):
    """Mark a queued job running if its tenant has a turn (``tenants.turns``: within the plan's imports at
    once, and no other tenant running fewer imports has one waiting); else note it was sent again."""
    with transaction.atomic():
        tenant = lock_tenant(job.tenant_id)
        turn = tenant is not None and has_a_turn(
            tenant=tenant,
            jobs=ImportJob.objects,
            limit_field="max_concurrent_imports",
            waiting=Q(status=ImportJob.Status.QUEUED),
            running=Q(status=ImportJob.Status.RUNNING),
        )
        now = timezone.now()
        if not turn:
            # Its message is alive (sent again to wait): resend_lost_imports leaves it be.
            ImportJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id).update(sent_at=now)
            return False
        ImportJob.objects.filter(pk=job.pk, tenant_id=job.tenant_id, status=ImportJob.Status.QUEUED).update(
            status=ImportJob.Status.RUNNING, started_at=now
        )
    return True


def reap_orphaned_imports():
    """Fail the "running" imports whose worker is gone (nobody holds their lock); returns their ids."""
    if connection.vendor != "postgresql":
        return []
    reaped = []
    # cross-tenant: a periodic sweep over every tenant's running imports (and below, the sweep's own ids).
    running = ImportJob.objects.unscoped().filter(status=ImportJob.Status.RUNNING)
    for job_id in running.values_list("pk", flat=True):
        with job_lock(job_id) as held:
            if not held:
                continue  # a live worker is on it
            failed = running.filter(pk=job_id).update(
                status=ImportJob.Status.FAILED, message=ORPHANED, rows_loaded=0, finished_at=timezone.now()
            )
            if failed:
                # cross-tenant: the sweep's own id, of any tenant.
                job = ImportJob.objects.unscoped().select_related("tenant").get(pk=job_id)
                audit.record(audit.Actor.system(job.tenant), "import.failed", job, message="worker stopped")
                logger.warning("Import job %s lost its worker; marked failed", job_id)
                reaped.append(job_id)
    return reaped


class SideProgress:
    """Writes a job's progress from a thread with a connection of its own.

    While a loader writes inside the import's transaction, that connection is busy and what it writes
    is seen by nobody until the end; progress has to go another way to be seen while the import runs.
    Best effort: only the latest figures are written, and a failed write is logged, not raised.
    """

    def __init__(self, tenant_id, job_id):
        self.tenant_id, self.job_id = tenant_id, job_id
        self.latest = None
        self.closing = False
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"import-{job_id}-progress", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        with self.lock:
            self.closing = True
        self.wake.set()
        self.thread.join()

    def report(self, **fields):
        with self.lock:
            self.latest = fields
        self.wake.set()

    def _run(self):
        try:
            while True:
                self.wake.wait()
                self.wake.clear()
                with self.lock:
                    fields, self.latest, closing = self.latest, None, self.closing
                if fields:
                    try:
                        # This thread has no bound tenant (context variables stay in their thread).
                        ImportJob.objects.for_tenant(self.tenant_id).filter(pk=self.job_id).update(**fields)
                    except DatabaseError:
                        logger.warning("Could not write the progress of import job %s", self.job_id, exc_info=True)
                if closing:
                    return
        finally:
            connections.close_all()  # this thread's own connection


class ImportRun:
    """One attempt at an import job."""

    def __init__(self, job):
        self.job = job
        self.dataset = job.dataset
        self.options = ImportOptions.from_dict(job.options)
        self.report = ErrorReport()
        self.mapping = dict(self.options.column_mapping)
        self.source_names = {}
        self.fields = set()
        self.ignored_columns = set()
        self.rows_read = 0
        self.rows_total = None
        self.keys = None
        self.staging = None
        self.progress = None
        self.scope = None
        self.row_budget = None
        self.schema_kind = {Dataset.Kind.ITEMS: "items", Dataset.Kind.USERS: "users"}.get(job.dataset.kind)
        self.schema_keys = set()
        self.timestamp_sample = []
        self.notes = []

    def execute(self):
        ImportJob.objects.filter(pk=self.job.pk, tenant_id=self.job.tenant_id).update(
            status=ImportJob.Status.RUNNING, started_at=timezone.now(), finished_at=None, message=""
        )
        try:
            # The scope holds what a loader that writes as it goes needs (see _open_staging); it ends,
            # committing or rolling back, before the outcome is written.
            with local_file(self.job.file_path) as path, contextlib.ExitStack() as self.scope:
                reader = UploadReader(path, self.job.file_name, self.options, self._header_words())
                self.rows_total, is_estimate = reader.estimated_rows()
                ImportJob.objects.filter(pk=self.job.pk, tenant_id=self.job.tenant_id).update(
                    format=reader.format, rows_total=self.rows_total, rows_total_is_estimate=is_estimate
                )
                self.keys = tenant_keys(self.dataset.tenant)
                self.row_budget = self._row_budget()
                if not is_estimate and self.rows_total > self.row_budget:
                    raise ImportFailed(self._over_quota(f"The file has {self.rows_total} rows"))
                for number, chunk in enumerate(reader.chunks()):
                    self._stage(chunk, reader, first=number == 0)
                result = self._merge()
            self._finish(result)
        except ImportFailed as failure:
            self._fail(str(failure))
        except Exception:
            logger.exception("Import job %s failed unexpectedly", self.job.pk)
            self._fail(
                "The import stopped on an unexpected error, so nothing was imported. The operators have been told."
            )
        finally:
            if self.staging is not None:
                self.staging.close()

    def _header_words(self):
        """Names that mark a CSV's first line as a header: the kind's columns and the mapping's keys."""
        validator = validator_for(self.dataset, None, [])
        return [*validator.required, *validator.known, *self.mapping]

    def _open_staging(self, fields, reader):
        # A file's columns are fixed by its header or schema, except in JSON Lines (any line may add one).
        self.staging = staging_for(self.dataset, fields, columns_fixed=reader.format != "jsonl")
        if self.staging.writes_as_it_goes:
            self.scope.enter_context(transaction.atomic())
            self.scope.callback(self.staging.close)  # the loader lets go of the connection first
            self.progress = self.scope.enter_context(SideProgress(self.job.tenant_id, self.job.pk))

    def _report_progress(self, **fields):
        if self.progress is not None:
            self.progress.report(**fields)
        else:
            ImportJob.objects.filter(pk=self.job.pk, tenant_id=self.job.tenant_id).update(**fields)

    def _row_budget(self):
        """Rows this file may hold within the plan: the rows left, plus (for items and users, which are
        upserted) the rows it may overwrite. Checked as the file streams, so a file over it stops there."""
        tenant = self.dataset.tenant
        left = tenant.plan.max_rows - stored_row_count(tenant)
        if self.dataset.kind == Dataset.Kind.ITEMS:
            left += tenant.items.count()
        elif self.dataset.kind == Dataset.Kind.USERS:
            left += tenant.endusers.count()
        return max(left, 0)

    def _over_quota(self, what):
        plan = self.dataset.tenant.plan
        return (
            f"{what}, over the {plan.name} plan's limit of {plan.max_rows} rows (it leaves room for "
            f"{self.row_budget} more). Nothing was imported."
        )

    def _bound_rows(self, chunk):
        """Fail at the first row over the plan's row budget, before its chunk is staged."""
        rows = len(chunk.frame)
        if self.rows_read + rows > self.row_budget:
            line = chunk.lines[max(self.row_budget - self.rows_read, 0)]
            raise ImportFailed(self._over_quota(f"Line {line} is row {self.row_budget + 1} of the file"))

    def _bound_schema(self, chunk):
        """Catalogue and user features: the keys of this file with those already stored stay within
        FEATURE_KEYS (a file alone is bounded by the reader; many files must not add up past it)."""
        if self.schema_kind is None:
            return
        self.schema_keys.update(self.mapping.get(name, name) for name in chunk.frame.columns)
        if NESTED_FEATURES in chunk.frame.columns:
            for features in chunk.frame[NESTED_FEATURES]:
                if isinstance(features, dict):
                    self.schema_keys.update(f"{NESTED_FEATURES}.{key}" for key in features)
        problem = schema_problem(self.dataset.tenant, self.schema_kind, self.schema_keys)
        if problem:
            raise ImportFailed(f"{problem} Nothing was imported.")

    def _stage(self, chunk, reader, first):
        self._bound_rows(chunk)
        self._bound_schema(chunk)
        if first:
            self._settle_columns(list(chunk.frame.columns), reader)
        frame = chunk.frame.rename(columns=self.mapping)
        validator = validator_for(self.dataset, self.keys, frame.columns, self.options.timestamp_format)
        if first:
            validator.check_columns(self.source_names)
            if "timestamp" in frame.columns:
                # Kept to suggest a timestamp_format should every row's timestamp fail.
                self.timestamp_sample = [value for value in frame["timestamp"].head(50).tolist() if value]
        clean, check = validate_batch(validator, frame, chunk.lines, self.source_names, chunk.parse_errors)
        self.report.add(check)
        self.fields.update(validator.fields)
        self.ignored_columns.update(self.source_names.get(name, name) for name in validator.ignored_columns)
        self.rows_read += len(frame) + len(chunk.parse_errors)
        if self.staging is None:
            self._open_staging(validator.fields, reader)
        # With on_error=fail one bad row dooms the import: keep validating to report, stop loading.
        if self.options.on_error == ImportJob.OnError.SKIP or not self.report.error_count:
            self.staging.add(clean)
        else:
            self.staging.abandon()
        self._report_progress(**self._figures(), rows_total=max(self.rows_total or 0, self.rows_read))

    def _figures(self):
        return {
            "rows_read": self.rows_read,
            "rows_rejected": self.report.rows_rejected,
            "error_count": self.report.error_count,
            "errors": self.report.as_list(),
        }

    def _settle_columns(self, columns, reader):
        headerless = reader.format == "csv" and not reader.has_header
        if not self.mapping and headerless:
            self.mapping = dict(zip(columns, POSITIONAL_COLUMNS.get(self.dataset.kind, ()), strict=False))
        unknown = [name for name in self.mapping if name not in columns]
        if unknown:
            raise ImportFailed(
                f"column_mapping names the column '{unknown[0]}', which the file does not have "
                f"(its columns: {', '.join(columns)})."
            )
        self._read_category_synonym(columns)
        self.source_names = {self.mapping.get(name, name): f"column {name}" if headerless else name for name in columns}

    def _read_category_synonym(self, columns):
        """A catalogue's ``category``, ``genres`` or ``tags`` column holds its categories: map it, and say so."""
        if self.dataset.kind != Dataset.Kind.ITEMS or "categories" in columns or "categories" in self.mapping.values():
            return
        unmapped = {name.strip().lower(): name for name in columns if name not in self.mapping}
        found = next((unmapped[word] for word in CATEGORY_SYNONYMS if word in unmapped), None)
        if found is not None:
            self.mapping[found] = "categories"
            self.notes.append(
                f"Read the column '{found}' as the items' categories "
                f'(to keep it a feature instead, import with column_mapping {{"{found}": "{found}_feature"}}).'
            )

    def _merge(self):
        if self.report.error_count and self.options.on_error != ImportJob.OnError.SKIP:
            first = self.report.kept[0]
            raise ImportFailed(
                f"{self.report.rows_rejected} of {self.rows_read} rows have problems, so nothing was imported "
                f"(on_error=fail). The first: line {first.line}, column '{first.column}': {first.reason}. "
                + (self._timestamp_hint() or "Fix the file, or import with on_error=skip to load the good rows.")
            )
        if self.staging is None or not self.staging.rows:
            if not self.rows_read:
                raise ImportFailed("The file has no data rows.")
            hint = self._timestamp_hint()
            raise ImportFailed(f"None of the {self.rows_read} rows could be imported; {hint or 'see the errors.'}")
        # A loader that writes as it goes is inside the import's transaction already, and its COPY must
        # end before anything else is said on the connection: no savepoint here.
        with contextlib.nullcontext() if self.staging.writes_as_it_goes else transaction.atomic():
            result = self.staging.merge(sorted(self.fields))
            self._count_rows(result)
            problem = row_quota_problem(self.dataset.tenant)
            if problem:
                raise ImportFailed(f"{problem} Nothing was imported.")
            if self.schema_kind is not None:
                learn_keys(self.dataset.tenant, self.schema_kind, self.schema_keys)
        return result

    def _timestamp_hint(self):
        """When every row failed on its timestamp alone, the timestamp_format that would read them (else None)."""
        column = self.source_names.get("timestamp", "timestamp")
        every_row = self.report.rows_rejected == self.rows_read
        only_timestamps = all(error.column == column for error in self.report.kept)
        if not (every_row and only_timestamps and self.timestamp_sample) or self.options.timestamp_format:
            return None
        suggestion = suggest_timestamp_format(self.timestamp_sample)
        if suggestion is None:
            return None
        return f"Every row's {column} is written as spreadsheets write dates: import again with {suggestion}."

    def _count_rows(self, result):
        dataset = self.dataset
        if dataset.kind in (Dataset.Kind.INTERACTIONS, Dataset.Kind.TABULAR):
            Dataset.objects.filter(pk=dataset.pk, tenant_id=dataset.tenant_id).update(
                row_count=F("row_count") + result.loaded
            )
        else:
            holder = dataset.tenant.items if dataset.kind == Dataset.Kind.ITEMS else dataset.tenant.endusers
            Dataset.objects.filter(pk=dataset.pk, tenant_id=dataset.tenant_id).update(row_count=holder.count())

    def _finish(self, result):
        from ..services import schedule_stats_refresh

        parts = [f"Imported {result.loaded} of {self.rows_read} rows."]
        if result.duplicates:
            parts.append(f"{result.duplicates} rows repeated an event id already stored and were skipped.")
        if self.report.rows_rejected:
            parts.append(f"{self.report.rows_rejected} bad rows were skipped (on_error=skip); see the errors.")
        if self.ignored_columns:
            parts.append(f"Ignored columns: {', '.join(sorted(self.ignored_columns))}.")
        parts.extend(self.notes)
        if self.dataset.kind == Dataset.Kind.TABULAR:
            parts.extend(identifier_note(tabular_identifier_columns(self.dataset)))
        ImportJob.objects.filter(pk=self.job.pk, tenant_id=self.job.tenant_id).update(
            **self._figures(),
            status=ImportJob.Status.SUCCEEDED,
            rows_total=self.rows_read,
            rows_total_is_estimate=False,
            rows_loaded=result.loaded,
            rows_duplicate=result.duplicates,
            message=" ".join(parts),
            finished_at=timezone.now(),
        )
        delete_upload(self.job.file_path)
        audit.record(audit.Actor.system(self.dataset.tenant), "import.succeeded", self.job, rows_loaded=result.loaded)
        schedule_stats_refresh(self.dataset)

    def _fail(self, message):
        ImportJob.objects.filter(pk=self.job.pk, tenant_id=self.job.tenant_id).update(
            **self._figures(),
            status=ImportJob.Status.FAILED,
            message=message,
            rows_loaded=0,
            finished_at=timezone.now(),
        )
        # The upload stays for a rerun for KEPT_UPLOAD_HOURS (retention.sweep_kept_uploads), or not at all.
        if not settings.PLATFORM["RETENTION"]["KEPT_UPLOAD_HOURS"]:
            delete_upload(self.job.file_path)
        audit.record(audit.Actor.system(self.dataset.tenant), "import.failed", self.job, message=message[:300])
