"""The operators' admin for tenants, plans, members, invitations, API keys and the audit log."""

from django.contrib import admin, messages
from django.db.models import Count

from . import audit
from .accounts.signin import AdminLoginForm
from .models import ApiKey, AuditLog, Invitation, Membership, Plan, Tenant
from .operator_admin import OperatorAdmin, OperatorInline
from .services import revoke_api_key, set_tenant_status

# The admin's sign-in shares the portal's lock after repeated failures.
admin.site.login_form = AdminLoginForm


class ReadOnlyAdmin(OperatorAdmin):
    """Operators look, never add, change or delete: these records are written by audited services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MembershipInline(OperatorInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Plan)
class PlanAdmin(OperatorAdmin):
    list_display = ["name", "max_rows", "max_models", "max_training_runs_per_day", "api_requests_per_minute"]


@admin.register(Tenant)
class TenantAdmin(OperatorAdmin):
    list_display = ["name", "slug", "status", "plan", "member_count", "created_at"]
    list_filter = ["status", "plan", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]
    inlines = [MembershipInline]
    actions = ["suspend", "activate"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("plan")
            .annotate(_member_count=Count("memberships", distinct=True))
        )

    @admin.display(description="Members", ordering="_member_count")
    def member_count(self, tenant):
        return tenant._member_count

    def _set_status(self, request, queryset, status):
        for tenant in queryset:
            set_tenant_status(actor=audit.Actor(tenant=tenant, user=request.user), tenant=tenant, status=status)
        self.message_user(request, f"{queryset.count()} tenant(s) now {status}.", messages.SUCCESS)

    @admin.action(description="Suspend selected tenants")
    def suspend(self, request, queryset):
        self._set_status(request, queryset, Tenant.Status.SUSPENDED)

    @admin.action(description="Activate selected tenants")
    def activate(self, request, queryset):
        self._set_status(request, queryset, Tenant.Status.ACTIVE)


@admin.register(Membership)
class MembershipAdmin(OperatorAdmin):
    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Read-only: invitations are sent, accepted and revoked in the portal, where each change is audited."""

    list_display = ["email", "tenant", "role", "state", "invited_by", "sent_at", "expires_at"]
    list_filter = ["state", "role", "sent_at"]
    search_fields = ["email", "tenant__name", "tenant__slug"]
    list_select_related = ["tenant", "invited_by"]
    # Part of the emailed link; operators have no use for it.
    exclude = ["key"]


@admin.register(ApiKey)
class ApiKeyAdmin(OperatorAdmin):
    list_display = ["name", "prefix", "tenant", "scopes", "is_active", "expires_at", "last_used_at", "created_at"]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["name", "prefix", "tenant__name"]
    # The hash is never shown; keys are created through the API, the portal or create_tenant.
    exclude = ["hashed_key"]
    readonly_fields = ["tenant", "prefix", "scopes", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.display(boolean=True, description="Active")
    def is_active(self, api_key):
        return not api_key.is_revoked and not api_key.is_expired()

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset.select_related("tenant"):
            revoke_api_key(actor=audit.Actor(tenant=api_key.tenant, user=request.user), api_key=api_key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", messages.SUCCESS)


@admin.register(AuditLog)
class AuditLogAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "tenant", "action", "object_type", "object_repr", "actor"]
    list_filter = ["action", "created_at"]
    search_fields = ["action", "object_repr", "tenant__name", "actor_user__username"]
    date_hierarchy = "created_at"

    @admin.display(description="Actor")
    def actor(self, entry):
        return entry.actor_display
