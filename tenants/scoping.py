"""The one way into tenant-owned data.

``tenants.context.get_request_tenant`` tells which tenant a request acts for.
Every API view binds that tenant (``tenants.tenancy``) once the request is
authenticated, and unbinds it when the view returns, so the default
manager of tenant-owned models is restricted to it for the whole request.
``TenantScopedAPIView`` / ``TenantScopedViewSet`` also filter every queryset by
that tenant in ``get_queryset`` itself, so a subclass that forgets cannot leak
another tenant's rows: it declares ``scoped_queryset()`` on the model's
queryset and the base class adds the tenant filter after it.
"""

from django.http import Http404
from rest_framework import generics, viewsets
from rest_framework.views import APIView

from .context import get_request_tenant
from .tenancy import enter_tenant, leave_tenant


def get_tenant_object_or_404(queryset, tenant, **lookup):
    """Fetch one object of ``tenant``; another tenant's object is a 404, like a missing one."""
    try:
        return queryset.for_tenant(tenant).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.") from None


class TenantContextMixin:
    """Gives a DRF view the request's tenant and declares the scope it needs."""

    # The scope an API key needs (see tenants.permissions for session users).
    required_scope = "manage"

    @property
    def tenant(self):
        return get_request_tenant(self.request)

    def perform_authentication(self, request):
        # Bind the request's tenant as soon as it is known, so permissions, throttles and the handler
        # all run inside it; dispatch unbinds it on every way out, an unhandled exception included.
        super().perform_authentication(request)
        tenant = get_request_tenant(request)
        if tenant is not None:
            self._tenant_binding = enter_tenant(tenant)

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        finally:
            token = self.__dict__.pop("_tenant_binding", None)
            if token is not None:
                leave_tenant(token)


class TenantAPIView(TenantContextMixin, APIView):
    """Base for API views that act for a tenant but list no model of their own."""


class TenantScopedMixin(TenantContextMixin):
    """Restricts every queryset a DRF view uses to the request's tenant.

    Subclasses set ``model`` and may override ``scoped_queryset`` to add
    select_related/ordering; they must not override ``get_queryset``.
    """

    model = None

    def scoped_queryset(self):
        return self.model.objects.all()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            # Schema generation has no request tenant; it only needs the model.
            return self.model.objects.none()
        return self.scoped_queryset().for_tenant(self.tenant)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must override scoped_queryset(), not get_queryset().")


class TenantScopedAPIView(TenantScopedMixin, generics.GenericAPIView):
    """Base for single API views over one tenant-owned model."""


class TenantScopedViewSet(TenantScopedMixin, viewsets.GenericViewSet):
    """Base for API view sets over one tenant-owned model."""
