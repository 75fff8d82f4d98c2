"""The operators' admin for batch jobs."""

from django.contrib import admin

from tenants.operator_admin import OperatorAdmin

from .models import BatchJob


@admin.register(BatchJob)
class BatchJobAdmin(OperatorAdmin):
    list_display = ["id", "config", "tenant", "status", "file_format", "users_done", "users_total", "created_at"]
    list_filter = ["status", "file_format"]
    search_fields = ["config__name", "tenant__name"]
    readonly_fields = [field.name for field in BatchJob._meta.fields]

    def has_add_permission(self, request):
        return False
