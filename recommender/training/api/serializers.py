"""Serializers for model configurations, runs and versions."""

from rest_framework import serializers

from recommender import ml
from recommender.data.models import Dataset
from tenants.api.fields import TenantScopedPrimaryKeyRelatedField

from ..models import AutoDeploy, ModelConfig, ModelVersion, TrainingRun


class DeploymentSummarySerializer(serializers.Serializer):
    version = serializers.IntegerField(source="version.number")
    deployed_at = serializers.DateTimeField()
    reason = serializers.CharField()


class ModelConfigSerializer(serializers.ModelSerializer):
    """A model configuration. ``recipe`` defaults to the platform's best recommendation recipe."""

    dataset = TenantScopedPrimaryKeyRelatedField(model=Dataset)
    recipe = serializers.CharField(
        required=False, help_text=f"One of the recipes at /api/v1/recipes; default {ml.DEFAULT_RECOMMENDATION_RECIPE}."
    )
    params = serializers.DictField(required=False, help_text="Hyperparameters; omitted ones take their defaults.")
    slug = serializers.SlugField(required=False, max_length=60)
    schedule = serializers.CharField(required=False, allow_blank=True, help_text="Cron, e.g. '0 3 * * *'.")
    auto_deploy = serializers.ChoiceField(choices=AutoDeploy.choices, required=False)
    auto_deploy_metric = serializers.CharField(required=False, allow_blank=True)
    feature_columns = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        max_length=1000,
        help_text="Prediction models: the columns to learn from. Empty (the default): every column but the target "
        "and those that look like identifiers (see the dataset's stats.identifier_columns).",
    )
    retrain_after_events = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=2_000_000_000,
        help_text="Drift: retrain when this many events arrived since the latest version (checked every "
        "TRAINING_DRIFT_CHECK_SECONDS, within the plan's daily runs). null: off.",
    )  # fmt: skip
    retrain_after_new_items_percent = serializers.FloatField(
        required=False, allow_null=True, min_value=0.1, max_value=1000.0,
        help_text="Drift: retrain when items in events since the latest version that it never saw reach this "
        "percent of the items it knows. null: off.",
    )  # fmt: skip
    deployment = serializers.SerializerMethodField()
    latest_run = serializers.SerializerMethodField()

    class Meta:
        model = ModelConfig
        fields = [
            "slug", "name", "recipe", "params", "dataset", "schedule", "auto_deploy", "auto_deploy_metric",
            "feature_columns", "retrain_after_events", "retrain_after_new_items_percent", "deployment",
            "latest_run", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    def get_deployment(self, config) -> dict | None:
        deployment = getattr(config, "deployment", None)
        return DeploymentSummarySerializer(deployment).data if deployment else None

    def get_latest_run(self, config) -> dict | None:
        run = config.runs.order_by("-queued_at", "-id").first()
        return {"id": run.pk, "status": run.status, "progress": run.progress} if run else None


class TrainRequestSerializer(serializers.Serializer):
    tuning_trials = serializers.IntegerField(
        min_value=0, max_value=30, default=0, help_text="Try this many parameter sets from the config's ranges first."
    )


class TrainingRunSerializer(serializers.ModelSerializer):
    model = serializers.SlugRelatedField(source="config", slug_field="slug", read_only=True)
    version = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id", "model", "status", "trigger", "recipe", "params", "tuning_trials", "tuning", "selection", "stage",
            "progress",
            "current_epoch", "total_epochs", "history", "metrics", "error", "deploy_decision", "cancel_requested",
            "attempts", "worker", "queued_at", "started_at", "finished_at", "heartbeat_at", "duration_seconds",
            "version",
        ]  # fmt: skip
        read_only_fields = fields

    def get_version(self, run) -> int | None:
        version = getattr(run, "version", None)
        return version.number if version else None


class ModelVersionSerializer(serializers.ModelSerializer):
    is_deployed = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["number", "recipe", "params", "metrics", "data_snapshot", "artifact_bytes", "run", "created_at",
                  "is_deployed"]  # fmt: skip
        read_only_fields = fields

    def get_is_deployed(self, version) -> bool:
        deployment = getattr(version.config, "deployment", None)
        return deployment is not None and deployment.version_id == version.pk


class DeployResponseSerializer(ModelVersionSerializer):
    warning = serializers.CharField(
        allow_null=True,
        read_only=True,
        help_text="Set when the deployed version scored worse than the one it replaced, on the model's metric.",
    )

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "warning"]
        read_only_fields = fields


class RecipeSerializer(serializers.Serializer):
    name = serializers.CharField()
    task = serializers.CharField()
    description = serializers.CharField()
    supports = serializers.ListField(child=serializers.CharField())
    params = serializers.ListField(child=serializers.DictField())
    is_default = serializers.BooleanField()
