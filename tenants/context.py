"""Which tenant a request acts for (kept free of DRF imports so anything may use it)."""

from .models import ApiKey


def get_request_tenant(request):
    """Return the tenant the request acts for: its API key's, or the signed-in person's selected one."""
    auth = getattr(request, "auth", None)
    if isinstance(auth, ApiKey):
        return auth.tenant
    membership = getattr(request, "membership", None)
    return membership.tenant if membership is not None else None
