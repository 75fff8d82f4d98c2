"""Access pages: API keys, members and invitations, usage, the audit log and the organisation's settings."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from tenants.accounts import selectors, services
from tenants.models import ApiKey, Invitation, Membership, Role
from tenants.quotas import limits_of, quota_use
from tenants.scoping import get_tenant_object_or_404
from tenants.selectors import api_keys_of
from tenants.services import TenantError, issue_api_key, revoke_api_key
from tenants.usage import usage_of

from ..access import portal_view
from ..account_forms import ApiKeyForm, AuditFilterForm, DeleteTenantForm, InviteForm, TenantForm

AUDIT_PAGE_SIZE = 50


@portal_view(Role.ADMIN)
def api_keys(request):
    """The tenant's keys and a form for a new one; a new key's full value is shown on this response only."""
    form = ApiKeyForm(request.POST or None)
    issued = None
    if request.method == "POST" and form.is_valid():
        try:
            issued = issue_api_key(
                actor=request.actor,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.cleaned_data["expires_on"],
            )
        except TenantError as exc:
            form.add_error(None, str(exc))
        else:
            form = ApiKeyForm()
    response = render(
        request, "portal/access/api_keys.html", {"form": form, "issued": issued, "keys": api_keys_of(request.tenant)}
    )
    # The full key must not linger in any cache.
    response["Cache-Control"] = "no-store"
    return response


@portal_view(Role.ADMIN)
@require_POST
def api_key_revoke(request, pk):
    """Revoke a key of this tenant; calls with it fail from then on."""
    api_key = get_tenant_object_or_404(ApiKey.objects, request.tenant, pk=pk)
    revoke_api_key(actor=request.actor, api_key=api_key)
    messages.success(request, f"Revoked {api_key}: calls with it now fail.")
    return redirect("portal:api_keys")


def _members_page(request, invite_form):
    context = {
        "members": selectors.members_of(request.tenant),
        "invitations": selectors.pending_invitations_of(request.tenant),
        "invite_form": invite_form,
        "roles": Role.choices,
    }
    return render(request, "portal/access/members.html", context)


@portal_view()
def members(request):
    """Everyone in the organisation and the pending invitations; admins change roles, remove, invite and revoke."""
    return _members_page(request, InviteForm())


def _change_member(request, pk, change, done):
    """Apply ``change`` to a member of this tenant, then report ``done(membership)`` or the refusal."""
    membership = get_tenant_object_or_404(Membership.objects.select_related("user"), request.tenant, pk=pk)
    try:
        change(membership)
    except TenantError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done(membership))
    return redirect("portal:members")


@portal_view(Role.ADMIN)
@require_POST
def member_role(request, pk):
    """Give a member another role (owners only grant or take the owner role)."""
    return _change_member(
        request,
        pk,
        lambda member: services.change_member_role(
            actor=request.actor, membership=member, role=request.POST.get("role")
        ),
        lambda member: f"{member.user.username} is now {member.get_role_display().lower()}.",
    )


@portal_view(Role.ADMIN)
@require_POST
def member_remove(request, pk):
    """Remove a member; the last owner stays."""
    return _change_member(
        request,
        pk,
        lambda member: services.remove_member(actor=request.actor, membership=member),
        lambda member: f"{member.user.username} was removed.",
    )


@portal_view(Role.ADMIN)
@require_POST
def member_invite(request):
    """Email an invitation link with a role; inviting a pending address again replaces its link."""
    form = InviteForm(request.POST)
    if form.is_valid():
        email = form.cleaned_data["email"]
        try:
            sent = services.invite_member(
                actor=request.actor,
                email=email,
                role=form.cleaned_data["role"],
                site_url=request.build_absolute_uri("/"),
            )
        except TenantError as exc:
            messages.error(request, str(exc))
        else:
            if sent.replaced_link:
                messages.success(request, f"Invitation sent again to {email}: the earlier link no longer works.")
            else:
                messages.success(request, f"Invitation sent to {email}.")
            return redirect("portal:members")
    return _members_page(request, form)


@portal_view(Role.ADMIN)
@require_POST
def invitation_revoke(request, pk):
    """Withdraw a pending invitation; its link is refused from then on."""
    invitation = get_tenant_object_or_404(Invitation.objects, request.tenant, pk=pk)
    try:
        services.revoke_invitation(actor=request.actor, invitation=invitation)
    except TenantError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Revoked the invitation to {invitation.email}: its link no longer works.")
    return redirect("portal:members")


@portal_view()
def usage(request):
    """API requests over the last 30 days, by day and by endpoint, beside the plan's quotas."""
    return render(
        request,
        "portal/access/usage.html",
        {
            "usage": usage_of(request.tenant),
            "quotas": quota_use(request.tenant),
            "plan": request.tenant.plan,
            "limits": limits_of(request.tenant.plan),
        },
    )


@portal_view(Role.ADMIN)
def audit_log(request):
    """Every change in the organisation, newest first, filtered by action, actor and dates."""
    form = AuditFilterForm(
        request.GET or None,
        actions=selectors.audit_actions(request.tenant),
        actors=selectors.audit_actors(request.tenant),
    )
    filters = form.cleaned_data if form.is_valid() else {}
    entries = selectors.filtered_audit_log(request.tenant, **filters)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "portal/access/audit_log.html", {"form": form, "page": page, "query": query.urlencode()})


@portal_view(Role.OWNER)
def tenant_settings(request):
    """Rename the organisation, or delete it with everything it owns."""
    form = TenantForm(request.POST or None, initial={"name": request.tenant.name})
    if request.method == "POST" and form.is_valid():
        services.rename_tenant(actor=request.actor, name=form.cleaned_data["name"])
        messages.success(request, "Saved.")
        return redirect("portal:tenant_settings")
    return render(request, "portal/access/settings.html", {"form": form, "delete_form": DeleteTenantForm()})


@portal_view(Role.OWNER)
@require_POST
def tenant_delete(request):
    """Delete the organisation when its slug is typed to confirm."""
    form = DeleteTenantForm(request.POST)
    if form.is_valid():
        name = request.tenant.name
        try:
            services.delete_tenant(actor=request.actor, confirmation=form.cleaned_data["confirmation"])
        except TenantError as exc:
            form.add_error("confirmation", str(exc))
        else:
            messages.success(request, f"{name} and all its data were deleted.")
            # The dashboard falls back to another organisation of the person, or offers to create one.
            return redirect("portal:dashboard")
    tenant_form = TenantForm(initial={"name": request.tenant.name})
    return render(request, "portal/access/settings.html", {"form": tenant_form, "delete_form": form})
