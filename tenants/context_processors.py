"""Template context: the current membership and the tenants a person can switch to."""

from .selectors import memberships_of


def current_tenant(request):
    membership = getattr(request, "membership", None)
    if membership is None:
        return {}
    return {
        "membership": membership,
        "current_tenant": membership.tenant,
        "tenant_choices": lambda: memberships_of(request.user),
    }
