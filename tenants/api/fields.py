"""Serializer fields that resolve references only within the request's tenant."""

from rest_framework import serializers

from ..context import get_request_tenant


class TenantScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A primary-key reference that only finds objects of the request's tenant.

    Another tenant's id reads exactly like a missing one ("does not exist").
    """

    def __init__(self, model=None, **kwargs):
        self.model = model
        if not kwargs.get("read_only"):
            kwargs.setdefault("queryset", model.objects.none())
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        tenant = get_request_tenant(request) if request is not None else None
        if tenant is None:
            return self.model.objects.none()
        return self.model.objects.for_tenant(tenant)
