"""Datasets, import jobs and the rows they hold: interactions, catalogue items, end users, tabular rows.

Items and end users are per tenant, not per dataset: an ``items`` dataset upserts
the tenant's catalogue and a ``users`` dataset its end-user features, so serving
sees one catalogue whatever file it came from. Interactions and tabular rows
belong to their dataset.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Tenant, TenantOwnedModel

MAX_ID_LENGTH = 256
MAX_EVENT_TYPE_LENGTH = 64
MAX_TITLE_LENGTH = 500
MAX_CATEGORY_LENGTH = 100
MAX_RECOMMENDATION_ID_LENGTH = 64


class Dataset(TenantOwnedModel):
    """A named collection of a tenant's data of one kind."""

    class Kind(models.TextChoices):
        INTERACTIONS = "interactions", "Interactions"
        ITEMS = "items", "Items (catalogue)"
        USERS = "users", "Users (features)"
        TABULAR = "tabular", "Tabular"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField(blank=True)
    target_column = models.CharField(
        max_length=200, blank=True, help_text="Tabular datasets: the column a prediction model learns."
    )
    sensitive_columns = models.JSONField(
        default=list, blank=True, help_text="Feature columns stored encrypted and shown masked."
    )
    # The dataset the events API writes to when a request names none (one per tenant).
    is_event_stream = models.BooleanField(default=False, editable=False)
    row_count = models.PositiveBigIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True)
    stats_updated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant"], condition=Q(is_event_stream=True), name="one_event_stream"),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind})"


class ImportJob(TenantOwnedModel):
    """One uploaded file being loaded into a dataset, with its progress and the rows it rejected."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        JSONL = "jsonl", "JSON Lines"
        PARQUET = "parquet", "Parquet"

    class OnError(models.TextChoices):
        FAIL = "fail", "Fail: import nothing when any row is bad"
        SKIP = "skip", "Skip bad rows and import the rest"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="imports")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED, db_index=True)
    file_name = models.CharField(max_length=255, help_text="The uploaded file's name, for people.")
    file_path = models.CharField(max_length=500, editable=False, help_text="Where the upload is stored.")
    file_size = models.PositiveBigIntegerField(default=0)
    format = models.CharField(max_length=20, choices=Format.choices, blank=True)
    options = models.JSONField(default=dict, blank=True)
    rows_read = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(null=True, blank=True)
    rows_total_is_estimate = models.BooleanField(default=True)
    rows_loaded = models.PositiveBigIntegerField(default=0)
    rows_rejected = models.PositiveBigIntegerField(default=0)
    rows_duplicate = models.PositiveBigIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first bad rows: line, column, reason.")
    error_count = models.PositiveBigIntegerField(default=0)
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task was last sent to the queue (sent again if it was lost)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at"], name="data_import_tenant_recent")]

    def __str__(self):
        return f"Import {self.pk} of {self.file_name} ({self.status})"

    @property
    def is_finished(self):
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)


class Interaction(TenantOwnedModel):
    """One thing an end user did with an item: a view, a purchase, a rating.

    The biggest table by far, so its keys are lean: the tenant is indexed by the
    (tenant, user_id) index and the dataset by the (dataset, id) one, and
    neither key has a database constraint, whose per-row checks cost more than
    the insert itself on bulk loads (measured in docs/benchmarks.md). Django still
    cascades deletes of tenants and datasets, and rows are only written by the
    data layer, which takes both keys from rows it has just read.
    """

    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="interactions", db_index=False, db_constraint=False
    )
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="interactions", db_index=False, db_constraint=False
    )
    user_id = models.CharField(max_length=MAX_ID_LENGTH)
    item_id = models.CharField(max_length=MAX_ID_LENGTH)
    timestamp = models.DateTimeField(null=True, blank=True)
    event_type = models.CharField(max_length=MAX_EVENT_TYPE_LENGTH, blank=True, default="")
    value = models.FloatField(null=True, blank=True)
    event_id = models.CharField(max_length=MAX_ID_LENGTH, null=True, blank=True)
    # The recommendation_id of the answer this event followed, as sent (checked by recommender.feedback).
    recommendation_id = models.CharField(max_length=MAX_RECOMMENDATION_ID_LENGTH, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # (dataset, id) rather than (dataset, timestamp): ids only grow, so bulk loads append to this
            # index instead of inserting at random, and it gives the training frame its order.
            models.Index(fields=["dataset", "id"], name="data_interaction_dataset_id"),
            models.Index(fields=["tenant", "user_id"], name="data_interaction_tenant_user"),
            # Only events that name a recommendation are indexed: attribution looks them up by id.
            models.Index(
                fields=["tenant", "recommendation_id"],
                condition=Q(recommendation_id__isnull=False),
                name="data_interaction_recommended",
            ),
        ]
        constraints = [
            # A retried event with the same id is stored once.
            models.UniqueConstraint(
                fields=["tenant", "event_id"], condition=Q(event_id__isnull=False), name="unique_event_id"
            ),
        ]

    def __str__(self):
        return f"{self.user_id} → {self.item_id}"


class Item(TenantOwnedModel):
    """An entry of the tenant's catalogue. Deactivated items are never recommended."""

    item_id = models.CharField(max_length=MAX_ID_LENGTH)
    title = models.CharField(max_length=MAX_TITLE_LENGTH, blank=True, default="")
    # A JSON list of strings: PostgreSQL answers "in any of these categories" from a GIN index.
    categories = models.JSONField(default=list, blank=True)
    features = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["item_id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "item_id"], name="unique_item_per_tenant")]
        indexes = [
            models.Index(fields=["tenant"], condition=Q(is_active=False), name="data_item_inactive"),
        ]

    def __str__(self):
        return self.title or self.item_id


class EndUser(TenantOwnedModel):
    """Features of one of the tenant's own users (the people recommendations are for)."""

    user_id = models.CharField(max_length=MAX_ID_LENGTH)
    features = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["user_id"]
        verbose_name = "end user"
        constraints = [models.UniqueConstraint(fields=["tenant", "user_id"], name="unique_end_user_per_tenant")]

    def __str__(self):
        return self.user_id


class TabularRow(TenantOwnedModel):
    """One row of a tabular dataset: any columns, one of them the target."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="tabular_rows")
    data = models.JSONField(default=dict)

    def __str__(self):
        return f"Row {self.pk} of dataset {self.dataset_id}"


class ErasedUser(TenantOwnedModel):
    """Remembers that an end user was erased, so serving stops personalising for them.

    Only a keyed digest of the id is kept: the marker itself holds no personal data.
    """

    user_digest = models.CharField(max_length=64)
    erased_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user_digest"], name="unique_erased_user")]

    def __str__(self):
        return f"Erased user {self.user_digest[:12]}…"


class TenantDataSettings(TenantOwnedModel):
    """A tenant's privacy settings and its data secret (created on first use)."""

    pseudonymize_user_ids = models.BooleanField(
        default=False, help_text="Replace user ids by a keyed hash on arrival; raw ids are never stored."
    )
    # A random per-tenant secret, encrypted with a key derived from SECRET_KEY (see privacy.py).
    encrypted_secret = models.TextField(editable=False)
    # The learned schema: keys seen in the tenant's catalogue and user features, bounded by FEATURE_KEYS.
    feature_keys = models.JSONField(default=dict, blank=True, help_text='{"items": [...], "users": [...]}')
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "tenant data settings"
        verbose_name_plural = "tenant data settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_data_settings_per_tenant")]

    def __str__(self):
        return f"Data settings of tenant {self.tenant_id}"
