"""Request and response shapes of the feedback API: settings, metrics, experiments."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.errors import InvalidInput
from recommender.data.models import MAX_EVENT_TYPE_LENGTH

from ..models import Experiment, FeedbackSettings
from ..selectors import BUCKET_SIZES, MAX_POINTS
from ..validation import MAX_ARMS, MAX_EVENT_TYPES, resolve_arms

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _event_types(help_text):
    return serializers.ListField(
        child=serializers.CharField(max_length=MAX_EVENT_TYPE_LENGTH), max_length=MAX_EVENT_TYPES, help_text=help_text
    )


class FeedbackSettingsSerializer(serializers.ModelSerializer):
    click_event_types = _event_types("Event types that count as a click.")
    conversion_event_types = _event_types("Event types that count as a conversion.")
    revenue_event_types = _event_types("Event types whose value is revenue.")
    estimated_window_minutes = serializers.IntegerField(min_value=1, max_value=1440)
    metrics_retention_days = serializers.IntegerField(min_value=1, max_value=3650)
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True, help_text="Null: never changed.")

    class Meta:
        model = FeedbackSettings
        fields = ["click_event_types", "conversion_event_types", "revenue_event_types", "estimated_window_minutes",
                  "metrics_retention_days", "updated_at"]  # fmt: skip
        read_only_fields = ["updated_at"]


class ExplorationSerializer(serializers.Serializer):
    weight = serializers.FloatField(min_value=0.0, max_value=1.0, help_text="Share of the slots for new items.")
    max_item_age_days = serializers.IntegerField(
        min_value=1, max_value=90, default=7, help_text="Items added to the catalogue this recently are explored."
    )


class MetricsQuerySerializer(serializers.Serializer):
    start = serializers.DateTimeField(required=False, help_text="Default: 24 hours before end.")
    end = serializers.DateTimeField(required=False, help_text="Default: now.")
    bucket = serializers.ChoiceField(choices=list(BUCKET_SIZES), default="1h")
    model = serializers.SlugField(required=False, help_text="Only this model's series.")
    experiment = serializers.IntegerField(required=False, min_value=1, help_text="Only this experiment's arms.")

    def validate(self, attrs):
        for name in ("start", "end", "model", "experiment", "bucket"):
            if name in self.initial_data and not self.initial_data.get(name):
                raise serializers.ValidationError({name: ["Give a value, or leave the parameter out."]})
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or end - timedelta(hours=24)
        # Points start on whole buckets (a 1h point at 14:00, not at 14:07).
        size = BUCKET_SIZES[attrs["bucket"]]
        start -= (start - EPOCH) % size
        if start >= end:
            raise serializers.ValidationError({"start": ["start must be before end."]})
        points = (end - start) / BUCKET_SIZES[attrs["bucket"]]
        if points > MAX_POINTS:
            raise serializers.ValidationError(
                {"bucket": [f"{int(points)} buckets of {attrs['bucket']}; at most {MAX_POINTS}: use a larger bucket."]}
            )
        return {**attrs, "start": start, "end": end}


class ArmRequestSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=60)
    model = serializers.SlugField(required=False, help_text="Default: the experiment's model (between versions).")
    version = serializers.IntegerField(min_value=1, help_text="A version number of the arm's model.")
    split = serializers.IntegerField(min_value=1, max_value=100, help_text="Percent of the users.")
    control = serializers.BooleanField(default=False)


class GuardrailsSerializer(serializers.Serializer):
    max_error_rate_increase = serializers.FloatField(
        min_value=0.0, max_value=1.0, allow_null=True, required=False,
        help_text="Stop an arm whose error rate exceeds the control's by more than this (0.01: one point), "
        "significantly. null: no error guardrail. Default 0.01.",
    )  # fmt: skip
    max_latency_increase = serializers.FloatField(
        min_value=0.0, max_value=100.0, allow_null=True, required=False,
        help_text="Stop an arm whose p95 latency exceeds the control's by more than this share (0.5: +50%) and "
        "by more than 10 ms. null: no latency guardrail. Default 0.5.",
    )  # fmt: skip
    guardrail_min_requests = serializers.IntegerField(
        min_value=20, max_value=1_000_000, required=False,
        help_text="Requests the arm and the control must each have served before the arm is judged. Default 200.",
    )  # fmt: skip


class ExperimentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    model = serializers.SlugField(help_text="The model whose traffic is split.")
    metric = serializers.ChoiceField(choices=Experiment.Metric.choices, default=Experiment.Metric.CTR)
    alpha = serializers.FloatField(min_value=0.001, max_value=0.2, default=0.05)
    arms = ArmRequestSerializer(many=True, min_length=2, max_length=MAX_ARMS)
    guardrails = GuardrailsSerializer(required=False)

    def validate(self, attrs):
        try:
            config, arms = resolve_arms(tenant=self.context["tenant"], model=attrs["model"], arms=attrs["arms"])
        except InvalidInput as exc:
            raise serializers.ValidationError(exc.details) from exc
        return {**attrs, "config": config, "arms": arms}


class ExperimentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    arms = serializers.JSONField(required=False)

    def validate_arms(self, value):
        raise serializers.ValidationError(
            "The split cannot change while an experiment has data: stop it and start a new experiment."
        )


class ArmSerializer(serializers.Serializer):
    name = serializers.CharField()
    model = serializers.CharField(source="config.slug")
    version = serializers.IntegerField(source="version.number")
    split = serializers.IntegerField()
    control = serializers.BooleanField(source="is_control")
    stopped_at = serializers.DateTimeField(allow_null=True, help_text="When a guardrail stopped the arm.")
    stop_reason = serializers.CharField(help_text="Why a guardrail stopped the arm (blank while it runs).")


class ExperimentSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="config.slug")
    arms = ArmSerializer(many=True)
    promoted_arm = serializers.CharField(source="promoted_arm.name", allow_null=True, default=None)
    assignment = serializers.SerializerMethodField()
    guardrails = serializers.SerializerMethodField()

    class Meta:
        model = Experiment
        fields = ["id", "name", "model", "status", "metric", "alpha", "arms", "salt", "assignment", "guardrails",
                  "started_at", "stopped_at", "srm_alert", "srm_p_value", "srm_checked_at", "promoted_arm",
                  "promoted_at"]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(GuardrailsSerializer)
    def get_guardrails(self, experiment) -> dict:
        return {
            "max_error_rate_increase": experiment.max_error_rate_increase,
            "max_latency_increase": experiment.max_latency_increase,
            "guardrail_min_requests": experiment.guardrail_min_requests,
        }

    def get_assignment(self, experiment) -> str:
        return (
            f"slot = int(sha256('{experiment.salt}:' + user_id).hexdigest()[:15], 16) % 100; "
            "arms take consecutive slots by split, in order"
        )


def _interval():
    return serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2, allow_null=True)


class RatesSerializer(serializers.Serializer):
    impressions = serializers.IntegerField(help_text="Answers shown.")
    items_shown = serializers.IntegerField()
    clicked = serializers.IntegerField(help_text="Impressions followed by at least one attributed click.")
    clicks = serializers.IntegerField()
    converted = serializers.IntegerField(help_text="Impressions followed by at least one attributed conversion.")
    conversions = serializers.IntegerField()
    revenue = serializers.FloatField()
    estimated_conversions = serializers.IntegerField(help_text="Conversions without an id, in the window.")
    estimated_revenue = serializers.FloatField()
    ctr = serializers.FloatField(allow_null=True)
    ctr_ci95 = _interval()
    conversion_rate = serializers.FloatField(allow_null=True)
    conversion_rate_ci95 = _interval()
    revenue_per_mille = serializers.FloatField(allow_null=True)
    estimated_revenue_per_mille = serializers.FloatField(allow_null=True)


class PointSerializer(RatesSerializer):
    start = serializers.DateTimeField()


class SeriesSerializer(serializers.Serializer):
    model = serializers.CharField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    experiment = serializers.IntegerField(allow_null=True)
    arm = serializers.CharField(allow_null=True)
    totals = RatesSerializer()
    points = PointSerializer(many=True)


class MetricsResponseSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    bucket = serializers.CharField()
    series = SeriesSerializer(many=True)


class FixedHorizonSerializer(serializers.Serializer):
    test = serializers.CharField()
    z = serializers.FloatField()
    p_value = serializers.FloatField()
    ci = _interval()
    significant = serializers.BooleanField()


class SequentialSerializer(serializers.Serializer):
    test = serializers.CharField()
    always_valid_p = serializers.FloatField()
    significant = serializers.BooleanField()


class VersusControlSerializer(serializers.Serializer):
    difference = serializers.FloatField(allow_null=True)
    fixed_horizon = FixedHorizonSerializer(allow_null=True)
    sequential = SequentialSerializer()


class ArmHealthSerializer(serializers.Serializer):
    requests = serializers.IntegerField()
    errors = serializers.IntegerField(help_text="Requests that failed after they were routed to the arm.")
    error_rate = serializers.FloatField(allow_null=True)
    latency_p95_ms = serializers.FloatField(allow_null=True, help_text="Of the latest 5,000 answers, serving's time.")


class ArmResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    model = serializers.CharField()
    version = serializers.IntegerField()
    split = serializers.IntegerField()
    control = serializers.BooleanField()
    users = serializers.IntegerField()
    impressions = serializers.IntegerField()
    successes = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    rate_ci = _interval()
    health = ArmHealthSerializer(allow_null=True, help_text="What the guardrails judge, from the impressions kept.")
    stopped_at = serializers.DateTimeField(allow_null=True)
    stop_reason = serializers.CharField(allow_null=True)
    versus_control = VersusControlSerializer(required=False)


class DecisionSerializer(serializers.Serializer):
    winner = serializers.CharField(allow_null=True)
    statistic = serializers.CharField(help_text="The statistic the decision goes by.")
    reason = serializers.CharField()


class SampleRatioSerializer(serializers.Serializer):
    p_value = serializers.FloatField(allow_null=True)
    alert = serializers.BooleanField()
    checked_at = serializers.DateTimeField(allow_null=True)


class ExperimentResultsSerializer(serializers.Serializer):
    metric = serializers.CharField()
    alpha = serializers.FloatField()
    arms = ArmResultSerializer(many=True)
    decision = DecisionSerializer()
    sample_ratio = SampleRatioSerializer()
