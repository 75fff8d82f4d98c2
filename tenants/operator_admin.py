"""Base classes of the operators' admin: operators see every tenant, so its querysets are unscoped.

Only platform operators (staff) reach the admin. Every admin of a tenant-owned model derives from
:class:`OperatorAdmin` (inlines from :class:`OperatorInline`), which releases the tenant check of
the default manager explicitly (``.unscoped()``) for its lists, its objects and the choices of its
foreign keys.
"""

from django.contrib import admin

from .models import TenantOwnedModel


def _is_tenant_owned(model):
    return issubclass(model, TenantOwnedModel)


class OperatorQuerysetsMixin:
    """Every tenant's rows for the admin's lists, objects and foreign-key choices."""

    def get_queryset(self, request):
        if not _is_tenant_owned(self.model):
            return super().get_queryset(request)
        # cross-tenant: operators administer every tenant.
        queryset = self.model._default_manager.unscoped()
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.remote_field.model
        if "queryset" not in kwargs and _is_tenant_owned(related):
            # cross-tenant: an operator may pick any tenant's row.
            kwargs["queryset"] = related._default_manager.unscoped()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OperatorAdmin(OperatorQuerysetsMixin, admin.ModelAdmin):
    """The admin of one model, across tenants."""


class OperatorInline(OperatorQuerysetsMixin, admin.TabularInline):
    """A tabular inline, across tenants."""
