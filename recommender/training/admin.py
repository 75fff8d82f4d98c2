"""The operators' admin for model configurations, runs, versions and deployments."""

from django.contrib import admin, messages

from tenants.audit import Actor
from tenants.operator_admin import OperatorAdmin

from .models import Deployment, ModelConfig, ModelVersion, TrainingRun
from .services import runs


@admin.register(ModelConfig)
class ModelConfigAdmin(OperatorAdmin):
    list_display = ["name", "slug", "tenant", "recipe", "schedule", "auto_deploy", "updated_at"]
    list_filter = ["recipe", "auto_deploy"]
    search_fields = ["name", "slug", "tenant__name"]
    readonly_fields = ["tenant", "periodic_task", "created_by", "created_at", "updated_at"]


@admin.register(TrainingRun)
class TrainingRunAdmin(OperatorAdmin):
    list_display = ["id", "config", "tenant", "status", "trigger", "progress", "attempts", "worker", "queued_at"]
    list_filter = ["status", "trigger", "recipe"]
    search_fields = ["config__name", "tenant__name", "worker"]
    readonly_fields = [field.name for field in TrainingRun._meta.fields]
    actions = ["retry", "cancel"]

    def has_add_permission(self, request):
        return False

    def _each(self, request, queryset, service, verb):
        done = 0
        for run in queryset.select_related("tenant", "config"):
            try:
                service(actor=Actor(tenant=run.tenant, user=request.user), run=run)
                done += 1
            except runs.RunError as exc:
                self.message_user(request, f"Run {run.pk}: {exc}", messages.WARNING)
        self.message_user(request, f"{done} run(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Retry selected runs")
    def retry(self, request, queryset):
        self._each(request, queryset, runs.retry_run, "queued again")

    @admin.action(description="Cancel selected runs")
    def cancel(self, request, queryset):
        self._each(request, queryset, runs.cancel_run, "cancelled")


@admin.register(ModelVersion)
class ModelVersionAdmin(OperatorAdmin):
    list_display = ["config", "number", "tenant", "recipe", "artifact_bytes", "created_at"]
    list_filter = ["recipe"]
    search_fields = ["config__name", "tenant__name"]
    readonly_fields = [field.name for field in ModelVersion._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(Deployment)
class DeploymentAdmin(OperatorAdmin):
    list_display = ["config", "version", "tenant", "deployed_at", "reason"]
    search_fields = ["config__name", "tenant__name"]
    readonly_fields = ["tenant", "config", "deployed_at"]

    def has_add_permission(self, request):
        return False
