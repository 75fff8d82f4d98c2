"""The operators' admin for datasets, imports, the catalogue, end users and privacy settings.

Feature values marked sensitive are stored encrypted and shown here only as a
mask; raw feature documents are never editable from the admin.
"""

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from core.errors import Conflict
from tenants import audit
from tenants.operator_admin import OperatorAdmin

from .models import Dataset, EndUser, ImportJob, Item, TenantDataSettings
from .privacy import masked
from .services import refresh_dataset_stats, rerun_import


def _pretty(document):
    return format_html("<pre>{}</pre>", json.dumps(document, indent=2, ensure_ascii=False, default=str))


class ReadOnlyAdmin(OperatorAdmin):
    """Rows that only the platform writes: operators look, and act through admin actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Dataset)
class DatasetAdmin(OperatorAdmin):
    list_display = ["name", "tenant", "kind", "row_count", "is_event_stream", "stats_updated_at", "created_at"]
    list_filter = ["kind", "created_at"]
    search_fields = ["name", "tenant__name"]
    readonly_fields = ["tenant", "kind", "row_count", "is_event_stream", "statistics", "stats_updated_at", "created_at"]
    exclude = ["stats"]
    actions = ["refresh_statistics"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Statistics")
    def statistics(self, dataset):
        return _pretty(dataset.stats)

    @admin.action(description="Recompute statistics of selected datasets")
    def refresh_statistics(self, request, queryset):
        for dataset in queryset:
            refresh_dataset_stats(dataset)
        self.message_user(request, f"Statistics recomputed for {queryset.count()} dataset(s).", messages.SUCCESS)


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "tenant",
        "dataset",
        "file_name",
        "status",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "error_count",
        "created_at",
    ]
    list_filter = ["status", "format", "created_at"]
    search_fields = ["file_name", "tenant__name", "dataset__name"]
    exclude = ["errors"]
    readonly_fields = ["bad_rows"]
    actions = ["run_again"]

    @admin.display(description="Bad rows (first 100)")
    def bad_rows(self, job):
        return _pretty(job.errors)

    @admin.action(description="Run selected failed imports again")
    def run_again(self, request, queryset):
        queued = 0
        for job in queryset.select_related("tenant", "dataset"):
            try:
                rerun_import(actor=audit.Actor(tenant=job.tenant, user=request.user), job=job)
                queued += 1
            except Conflict as refusal:
                self.message_user(request, f"Import {job.pk}: {refusal.message}", messages.WARNING)
        if queued:
            self.message_user(request, f"{queued} import(s) queued again.", messages.SUCCESS)


class MaskedFeaturesAdmin(ReadOnlyAdmin):
    """Shows feature documents with sensitive values masked."""

    exclude = ["features"]
    readonly_fields = ["shown_features"]

    @admin.display(description="Features")
    def shown_features(self, obj):
        return _pretty(masked(obj.features))


@admin.register(Item)
class ItemAdmin(MaskedFeaturesAdmin):
    list_display = ["item_id", "title", "tenant", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["item_id", "title", "tenant__name"]
    show_full_result_count = False


@admin.register(EndUser)
class EndUserAdmin(MaskedFeaturesAdmin):
    list_display = ["user_id", "tenant", "updated_at"]
    search_fields = ["user_id", "tenant__name"]
    show_full_result_count = False


@admin.register(TenantDataSettings)
class TenantDataSettingsAdmin(OperatorAdmin):
    list_display = ["tenant", "pseudonymize_user_ids", "updated_at"]
    readonly_fields = ["tenant", "pseudonymize_user_ids", "created_at", "updated_at"]

    def has_add_permission(self, request):
        return False
