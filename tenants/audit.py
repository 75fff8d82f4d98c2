"""Writing the audit log: one call for every change a person or an API key makes."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .context import get_request_tenant
from .models import ApiKey, AuditLog, Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import User


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, an API key, or the system itself."""

    tenant: Tenant
    user: "User | None" = None
    api_key: ApiKey | None = None

    @classmethod
    def from_request(cls, request):
        api_key = request.auth if isinstance(getattr(request, "auth", None), ApiKey) else None
        user = request.user if api_key is None and getattr(request.user, "is_authenticated", False) else None
        return cls(tenant=get_request_tenant(request), user=user, api_key=api_key)

    @classmethod
    def system(cls, tenant):
        return cls(tenant=tenant)


def record(actor, action, obj=None, **details):
    """Append an audit entry for ``action`` on ``obj`` in the actor's tenant."""
    return AuditLog.objects.create(
        tenant=actor.tenant,
        actor_user=actor.user if getattr(actor.user, "pk", None) else None,
        actor_api_key=actor.api_key,
        action=action,
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=str(getattr(obj, "pk", "") or "") if obj is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        details=details,
    )
