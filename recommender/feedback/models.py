"""What was shown, how the tenant counts what followed, the metrics of each 15 minutes, and experiments.

Impressions arrive in batches from the serving processes' buffers (see
``impressions.py``); metric buckets are recomputed from impressions and events by
a periodic task (``services.aggregate_metrics``), never on a request.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import TenantOwnedModel

BUCKET_MINUTES = 15


def default_click_types():
    return ["click"]


def default_conversion_types():
    return ["purchase"]


class FeedbackSettings(TenantOwnedModel):
    """Which event types count as a click, a conversion and revenue, and how long metrics are kept."""

    click_event_types = models.JSONField(default=default_click_types, blank=True)
    conversion_event_types = models.JSONField(default=default_conversion_types, blank=True)
    # Revenue is the sum of the ``value`` of these events (for example the price on a purchase).
    revenue_event_types = models.JSONField(default=default_conversion_types, blank=True)
    estimated_window_minutes = models.PositiveIntegerField(
        default=60, help_text="A conversion without a recommendation_id this soon after an impression is estimated."
    )
    metrics_retention_days = models.PositiveIntegerField(default=90, help_text="Metric buckets older are deleted.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "feedback settings"
        verbose_name_plural = "feedback settings"
        constraints = [models.UniqueConstraint(fields=["tenant"], name="one_feedback_settings_per_tenant")]

    def __str__(self):
        return f"Feedback settings of tenant {self.tenant_id}"


class Experiment(TenantOwnedModel):
    """An A/B/n test on the traffic of one model: each user is assigned an arm by a stable hash."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class Metric(models.TextChoices):
        CTR = "ctr", "Click-through rate"
        CONVERSION_RATE = "conversion_rate", "Conversion rate"

    name = models.CharField(max_length=200)
    config = models.ForeignKey("training.ModelConfig", on_delete=models.CASCADE, related_name="experiments")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    metric = models.CharField(max_length=30, choices=Metric.choices, default=Metric.CTR)
    alpha = models.FloatField(default=0.05)
    # Hashed with each user id to assign arms; fixed at creation so assignment can be reproduced.
    salt = models.CharField(max_length=32, editable=False)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    srm_p_value = models.FloatField(null=True, blank=True)
    srm_alert = models.BooleanField(default=False)
    srm_checked_at = models.DateTimeField(null=True, blank=True)
    # Guardrails: an arm whose error rate or latency degrades beyond these, against the control, is stopped
    # by the periodic check (its users go to the control). None switches that guardrail off.
    max_error_rate_increase = models.FloatField(
        null=True, blank=True, default=0.01, help_text="Largest error-rate increase over the control (0.01: 1 point)."
    )
    max_latency_increase = models.FloatField(
        null=True, blank=True, default=0.5, help_text="Largest p95 latency increase over the control (0.5: +50%)."
    )
    guardrail_min_requests = models.PositiveIntegerField(
        default=200, help_text="Requests each of the arm and the control must have served before it is judged."
    )
    promoted_arm = models.ForeignKey(
        "ExperimentArm", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    promoted_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["config"], condition=Q(status="running"), name="one_running_experiment_per_model"
            )
        ]

    def __str__(self):
        return self.name


class ExperimentArm(TenantOwnedModel):
    """One arm: a version of a model and its share of the users (whole percent)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    name = models.SlugField(max_length=60)
    config = models.ForeignKey("training.ModelConfig", on_delete=models.CASCADE, related_name="+")
    version = models.ForeignKey("training.ModelVersion", on_delete=models.CASCADE, related_name="+")
    split = models.PositiveSmallIntegerField(help_text="Percent of the users.")
    is_control = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)
    # Set when a guardrail stopped the arm: from then on its users are served by the control.
    stopped_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["experiment", "position"]
        constraints = [models.UniqueConstraint(fields=["experiment", "name"], name="unique_arm_name")]

    def __str__(self):
        return f"{self.name} ({self.split}%)"


class Impression(TenantOwnedModel):
    """One answer as it was shown: its id, when, by which model, version and arm, to whom, which items."""

    recommendation_id = models.CharField(max_length=64)
    served_at = models.DateTimeField()
    config = models.ForeignKey("training.ModelConfig", on_delete=models.CASCADE, related_name="+")
    version_number = models.PositiveIntegerField(null=True, blank=True)
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    arm = models.CharField(max_length=60, blank=True)
    # The stored user key (pseudonymised when the tenant pseudonymises), as events store it; blank for similar items.
    user_id = models.CharField(max_length=256, blank=True)
    # Item ids in the order shown: the position of an item is its index plus one.
    items = models.JSONField(default=list)
    # Milliseconds from routing the request to its answer (serving's own time, not the network's).
    latency_ms = models.FloatField(null=True, blank=True)
    # The request failed after it was routed (an unexpected error, a 500): no answer was shown.
    error = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "recommendation_id"], name="unique_recommendation_id")]
        indexes = [models.Index(fields=["tenant", "served_at"], name="feedback_impression_time")]

    def __str__(self):
        return self.recommendation_id


class MetricBucket(TenantOwnedModel):
    """What followed the impressions served in one 15-minute bucket, by model, version and arm.

    ``clicked`` and ``converted`` count impressions with at least one attributed click or conversion (the
    proportions' numerators); ``clicks`` and ``conversions`` count the events. Estimated conversions are
    those without a recommendation_id, within the tenant's window after an impression of the item to the user.
    """

    start = models.DateTimeField()
    config = models.ForeignKey("training.ModelConfig", on_delete=models.CASCADE, related_name="+")
    version_number = models.PositiveIntegerField(null=True, blank=True)
    experiment = models.ForeignKey(Experiment, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    arm = models.CharField(max_length=60, blank=True)
    impressions = models.PositiveBigIntegerField(default=0)
    items_shown = models.PositiveBigIntegerField(default=0)
    clicked = models.PositiveBigIntegerField(default=0)
    clicks = models.PositiveBigIntegerField(default=0)
    converted = models.PositiveBigIntegerField(default=0)
    conversions = models.PositiveBigIntegerField(default=0)
    revenue = models.FloatField(default=0.0)
    estimated_conversions = models.PositiveBigIntegerField(default=0)
    estimated_revenue = models.FloatField(default=0.0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["tenant", "start"], name="feedback_bucket_time")]

    def __str__(self):
        return f"{self.start:%Y-%m-%d %H:%M} {self.config_id} v{self.version_number} {self.arm}"


class ExplorationPolicy(TenantOwnedModel):
    """A share of a model's recommendation slots given to new catalogue items, chosen by Thompson sampling."""

    config = models.OneToOneField("training.ModelConfig", on_delete=models.CASCADE, related_name="exploration")
    weight = models.FloatField(default=0.0, help_text="Share of the slots (0-1) for new items; 0: none.")
    max_item_age_days = models.PositiveIntegerField(
        default=7, help_text="Items added to the catalogue this recently are explored."
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Exploration of {self.config_id}: {self.weight}"


class ItemExposure(TenantOwnedModel):
    """How often one explorable item was shown and clicked (attributed) in one bucket, by one model."""

    start = models.DateTimeField()
    config = models.ForeignKey("training.ModelConfig", on_delete=models.CASCADE, related_name="+")
    item_id = models.CharField(max_length=256)
    shows = models.PositiveIntegerField(default=0)
    clicks = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["tenant", "config", "start"], name="feedback_exposure_time")]

    def __str__(self):
        return f"{self.item_id}: {self.clicks}/{self.shows}"
