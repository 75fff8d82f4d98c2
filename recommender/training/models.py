"""Model configurations, training runs, versions and deployments of a tenant.

ModelConfig (what to train) → TrainingRun (one attempt, on a worker) →
ModelVersion (a trained artifact with its metrics) → Deployment (the version
that serves; rolling back is deploying an older version).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenants.models import TenantOwnedModel


class AutoDeploy(models.TextChoices):
    NEVER = "never", "Never"
    ALWAYS = "always", "Always"
    IF_BETTER = "if_better", "If better on the chosen metric"


class ModelConfig(TenantOwnedModel):
    """What a tenant wants trained: a recipe, its parameters, the data, when, and how to deploy."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60)
    recipe = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    feature_columns = models.JSONField(
        default=list,
        blank=True,
        help_text="Prediction models: the columns to learn from; empty: all but the target and identifier columns.",
    )
    # RESTRICT: a dataset in use cannot be deleted on its own, but goes when its tenant goes.
    dataset = models.ForeignKey("data.Dataset", on_delete=models.RESTRICT, related_name="model_configs")
    schedule = models.CharField(
        max_length=100, blank=True, help_text="Cron expression (minute hour day month weekday) for retraining."
    )
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    auto_deploy = models.CharField(max_length=20, choices=AutoDeploy.choices, default=AutoDeploy.IF_BETTER)
    # Retraining on drift (the periodic check): after this many events since the latest version, or when
    # items the latest version never saw reach this percent of those it knows. None: that trigger is off.
    retrain_after_events = models.PositiveIntegerField(null=True, blank=True)
    retrain_after_new_items_percent = models.FloatField(null=True, blank=True)
    auto_deploy_metric = models.CharField(max_length=30, default="", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="unique_model_slug_per_tenant")]

    def __str__(self):
        return self.name


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED)


class TrainingRun(TenantOwnedModel):
    """One attempt to train a config, with its progress, history, metrics and outcome."""

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        RETRY = "retry", "Retry"
        DRIFT = "drift", "Drift"

    config = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="runs")
    status = models.CharField(max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    recipe = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    tuning_trials = models.PositiveIntegerField(default=0)
    tuning = models.JSONField(default=dict, blank=True)
    selection = models.JSONField(
        default=dict, blank=True, help_text="For recipe 'auto': what was chosen and why, with every candidate's score."
    )
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=50, blank=True)
    current_epoch = models.PositiveIntegerField(default=0)
    total_epochs = models.PositiveIntegerField(default=0)
    history = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    deploy_decision = models.CharField(max_length=300, blank=True)
    cancel_requested = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task was last sent to the queue (sent again if it was lost)."
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["tenant", "status"])]

    def __str__(self):
        return f"Run {self.pk} of {self.config_id} ({self.status})"

    @property
    def is_finished(self):
        return self.status in FINISHED_STATUSES

    @property
    def duration_seconds(self):
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class ModelVersion(TenantOwnedModel):
    """A trained model: its artifact in storage, metrics and the data it saw."""

    config = models.ForeignKey(ModelConfig, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    run = models.OneToOneField(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="version")
    recipe = models.CharField(max_length=50)
    params = models.JSONField(default=dict)
    metrics = models.JSONField(default=dict)
    data_snapshot = models.JSONField(default=dict)
    artifact_path = models.CharField(max_length=300)
    artifact_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    # Not a field: set by ``deploy_version`` on the version it returns (a declaration only, no default).
    warning: str | None

    class Meta:
        ordering = ["config", "-number"]
        constraints = [models.UniqueConstraint(fields=["config", "number"], name="unique_version_number")]

    def __str__(self):
        return f"{self.config} v{self.number}"


class Deployment(TenantOwnedModel):
    """The version a config serves. One row per config; every switch is audited."""

    config = models.OneToOneField(ModelConfig, on_delete=models.CASCADE, related_name="deployment")
    version = models.ForeignKey(ModelVersion, on_delete=models.RESTRICT, related_name="+")
    deployed_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=300, blank=True)

    def __str__(self):
        return f"{self.config} → v{self.version.number}"
