"""Resolves the tenant a signed-in person is working in, from the session."""

from .selectors import membership_for, memberships_of

SESSION_KEY = "current_tenant_id"


def _current_membership(request):
    user = request.user
    if not user.is_authenticated:
        return None
    tenant_id = request.session.get(SESSION_KEY)
    membership = membership_for(user, tenant_id) if tenant_id else None
    if membership is None:
        # First visit, or removed from the selected tenant: fall back to the first one.
        membership = memberships_of(user).select_related("tenant__plan").first()
        if membership is not None:
            request.session[SESSION_KEY] = membership.tenant_id
    return membership


class CurrentTenantMiddleware:
    """Sets ``request.membership``: the signed-in person's role in their selected tenant, or ``None``.

    Requests without a session (API-key calls) cost no query here.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.membership = _current_membership(request)
        return self.get_response(request)
