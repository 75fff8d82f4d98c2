"""Who may call what: API-key scopes, member roles, tenant status."""

from rest_framework import exceptions, permissions

from .context import get_request_tenant
from .models import ROLE_RANK, ApiKey, ApiKeyScope, Role


class TenantSuspended(exceptions.PermissionDenied):
    default_detail = "This tenant is suspended; contact the platform operators."
    default_code = "tenant_suspended"


class InsufficientScope(exceptions.PermissionDenied):
    default_code = "insufficient_scope"


class InsufficientRole(exceptions.PermissionDenied):
    default_code = "insufficient_role"


# The least role a signed-in member needs to use a scope. Reading is open to every member.
ROLE_FOR_SCOPE = {
    ApiKeyScope.RECOMMEND: Role.VIEWER,
    ApiKeyScope.INGEST: Role.ANALYST,
    ApiKeyScope.MANAGE: Role.ANALYST,
}


def _accepted_scopes(view, method, scope):
    """The scopes any one of which lets an API key make this request (empty: any key)."""
    if scope is None:
        return ()
    read_scopes = getattr(view, "read_scopes", ())
    if method in permissions.SAFE_METHODS and read_scopes:
        return tuple(read_scopes)
    return (scope,)


class HasTenantScope(permissions.BasePermission):
    """Allows a request when it acts for an active tenant with the view's scope.

    Views declare ``required_scope`` (an ``ApiKeyScope``, or ``None`` for any
    authenticated caller) and may declare ``required_role`` for what people
    need beyond the scope's default (for example, admin for API keys). Where
    reading and writing differ, ``read_scopes`` lists the scopes any one of which
    is enough for GET, HEAD and OPTIONS (a storefront key with ``recommend`` may
    read the catalogue that only ``ingest`` may write).
    """

    def has_permission(self, request, view):
        tenant = get_request_tenant(request)
        if tenant is None:
            if getattr(request.user, "is_authenticated", False):
                raise exceptions.PermissionDenied(
                    "Select a tenant in the portal before using the API.", code="no_tenant_selected"
                )
            raise exceptions.NotAuthenticated("Send an API key in the header 'Authorization: Api-Key <key>'.")
        if not tenant.is_active:
            raise TenantSuspended()
        scope = getattr(view, "required_scope", ApiKeyScope.MANAGE)
        if isinstance(request.auth, ApiKey):
            accepted = _accepted_scopes(view, request.method, scope)
            if accepted and not any(request.auth.has_scope(each) for each in accepted):
                wanted = "' or '".join(accepted)
                raise InsufficientScope(f"This API key lacks the '{wanted}' scope.")
            return True
        membership = request.membership
        needed = Role.VIEWER
        if request.method not in permissions.SAFE_METHODS and scope is not None:
            needed = ROLE_FOR_SCOPE[ApiKeyScope(scope)]
        needed = max(needed, getattr(view, "required_role", Role.VIEWER), key=lambda role: ROLE_RANK[Role(role)])
        if not membership.has_role(needed):
            raise InsufficientRole(f"This needs the {needed} role or higher; you are {membership.role}.")
        return True
