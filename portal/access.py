"""Who may open a portal page: a signed-in member of the selected tenant with a minimum role."""

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from tenants.audit import Actor
from tenants.models import Role
from tenants.tenancy import bind_tenant

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def portal_view(role=Role.VIEWER):
    """Decorate a view that acts for the selected tenant and needs at least ``role``.

    Anonymous visitors are sent to the login page and people without any
    tenant to the page that creates one; a lower role is a 403. The view finds
    ``request.tenant`` and ``request.actor`` (for services' audit entries), and
    runs with that tenant bound (``tenants.tenancy``), its pages rendered included.
    A suspended tenant's pages stay readable but nothing in it can change.
    """

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(request, *args, **kwargs):
            membership = request.membership
            if membership is None:
                return redirect("portal:tenant_create")
            if not membership.has_role(role):
                raise PermissionDenied(f"This needs the {Role(role).label.lower()} role or higher.")
            tenant = membership.tenant
            if not tenant.is_active and request.method not in SAFE_METHODS:
                raise PermissionDenied("This organisation is suspended; contact the platform operators.")
            request.tenant = tenant
            request.actor = Actor(tenant=tenant, user=request.user)
            with bind_tenant(tenant):
                return view(request, *args, **kwargs)

        wrapped.required_role = Role(role)
        return wrapped

    return decorator
