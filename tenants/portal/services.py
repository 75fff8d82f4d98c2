"""Writes the portal needs beyond ``tenants.services``: sign-up, invitations, members, tenant settings.

Invitations need no table: the link carries a signed token (tenant, email,
role) that expires, and the audit entry written when one is accepted makes
it single-use.
"""

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.db import transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse

from .. import audit
from ..models import AuditLog, Membership, Role, Tenant
from ..selectors import forget_cached_key, membership_for
from ..services import TenantError, create_tenant

logger = logging.getLogger(__name__)

INVITATION_SALT = "tenants.portal.invitation"
INVITATION_MAX_AGE = 7 * 24 * 3600
JOINED_ACTION = "member.joined"

# Sent (with ``tenant`` and ``actor``) inside the transaction that deletes a tenant, before the delete, so
# that apps whose rows the cascade cannot remove alone, or whose files live outside the database, clean up.
tenant_deleting = Signal()


@transaction.atomic
def sign_up(*, username, email, password, organisation):
    """Create a person and a new tenant they own; ``password`` is already validated by the form."""
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    tenant = create_tenant(name=organisation, owner=user)
    return user, tenant


def _role_of(actor):
    membership = membership_for(actor.user, actor.tenant.pk)
    return Role(membership.role) if membership else None


def _check_may_manage(actor, role_wanted, membership=None):
    """Only owners grant the owner role or change an owner."""
    touches_owner = role_wanted == Role.OWNER or (membership is not None and membership.role == Role.OWNER)
    if touches_owner and _role_of(actor) != Role.OWNER:
        raise TenantError("Only an owner can grant the owner role or change an owner.")


def _owner_count(tenant):
    return Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).count()


@transaction.atomic
def change_member_role(*, actor, membership, role):
    """Give a member another role; the last owner keeps theirs."""
    if role not in Role.values:
        raise TenantError(f"Choose one of the roles: {', '.join(Role.values)}.")
    role = Role(role)
    _check_may_manage(actor, role, membership)
    if membership.role == Role.OWNER and role != Role.OWNER and _owner_count(actor.tenant) == 1:
        raise TenantError("The organisation needs an owner: make someone else owner first.")
    previous = membership.role
    if previous != role:
        membership.role = role
        membership.save(update_fields=["role"])
        audit.record(
            actor, "member.role_changed", membership, user=membership.user.username, role=role, previous_role=previous
        )
    return membership


@transaction.atomic
def remove_member(*, actor, membership):
    """Remove a person from the tenant; the last owner cannot be removed."""
    _check_may_manage(actor, None, membership)
    if membership.role == Role.OWNER and _owner_count(actor.tenant) == 1:
        raise TenantError("The last owner cannot be removed.")
    audit.record(actor, "member.removed", membership, user=membership.user.username, role=membership.role)
    membership.delete()


def make_invitation_token(tenant, email, role):
    """A signed, expiring token that lets whoever holds it join ``tenant`` as ``role``."""
    return signing.dumps({"tenant": tenant.pk, "email": email.lower(), "role": Role(role).value}, salt=INVITATION_SALT)


def invite_member(*, actor, email, role, site_url):
    """Email an invitation link to ``email``; ``site_url`` is the portal's address (scheme and host)."""
    _check_may_manage(actor, Role(role))
    if Membership.objects.for_tenant(actor.tenant).filter(user__email__iexact=email).exists():
        raise TenantError(f"{email} is already a member.")
    token = make_invitation_token(actor.tenant, email, role)
    context = {
        "tenant": actor.tenant,
        "inviter": actor.user,
        "role": Role(role).label,
        "url": site_url.rstrip("/") + reverse("accept_invitation", kwargs={"token": token}),
        "days": INVITATION_MAX_AGE // (24 * 3600),
    }
    send_mail(
        subject=f"You are invited to {actor.tenant.name}",
        message=render_to_string("registration/invitation_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )
    audit.record(actor, "member.invited", actor.tenant, email=email.lower(), role=Role(role).value)
    return token


@dataclass(frozen=True)
class Invitation:
    """A verified invitation: which tenant, for whom, with which role."""

    token: str
    tenant: Tenant
    email: str
    role: Role

    @property
    def digest(self):
        """Names the invitation in the audit log without making the token readable there."""
        return hashlib.sha256(self.token.encode()).hexdigest()[:32]

    @property
    def is_used(self):
        joined = AuditLog.objects.for_tenant(self.tenant).filter(action=JOINED_ACTION)
        return joined.filter(details__invitation=self.digest).exists()


def read_invitation(token):
    """Return the :class:`Invitation` in ``token``; raise TenantError when it is forged, expired or used."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_MAX_AGE)
    except signing.SignatureExpired:
        raise TenantError("This invitation has expired; ask for a new one.")
    except signing.BadSignature:
        raise TenantError("This invitation link is not valid.")
    tenant = Tenant.objects.filter(pk=data["tenant"]).first()
    if tenant is None:
        raise TenantError("The organisation of this invitation no longer exists.")
    invitation = Invitation(token, tenant, data["email"], Role(data["role"]))
    if invitation.is_used:
        raise TenantError("This invitation has already been used.")
    return invitation


@transaction.atomic
def accept_invitation(*, invitation, user):
    """Make ``user`` a member with the invitation's role (never lowering a role they already have)."""
    if user.email.lower() != invitation.email:
        raise TenantError(f"This invitation is for {invitation.email}; sign in with that address.")
    membership, created = Membership.objects.get_or_create(
        tenant=invitation.tenant, user=user, defaults={"role": invitation.role}
    )
    if not created and not membership.has_role(invitation.role):
        membership.role = invitation.role
        membership.save(update_fields=["role"])
    actor = audit.Actor(tenant=invitation.tenant, user=user)
    audit.record(actor, JOINED_ACTION, membership, role=membership.role, invitation=invitation.digest)
    return membership


@transaction.atomic
def sign_up_invited(*, invitation, username, password):
    """Create the invited person's account and accept the invitation with it."""
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    accept_invitation(invitation=invitation, user=user)
    return user


def rename_tenant(*, actor, name):
    """Change the organisation's display name; its slug stays, so links and logs keep working."""
    tenant = actor.tenant
    if tenant.name != name:
        previous, tenant.name = tenant.name, name
        tenant.save(update_fields=["name"])
        audit.record(actor, "tenant.renamed", tenant, previous_name=previous)
    return tenant


@transaction.atomic
def delete_tenant(*, actor, confirmation):
    """Delete the tenant and everything it owns, when ``confirmation`` is its slug."""
    tenant = actor.tenant
    if confirmation != tenant.slug:
        raise TenantError(f"Type the organisation's slug, {tenant.slug}, to confirm.")
    if _role_of(actor) != Role.OWNER:
        raise TenantError("Only an owner can delete the organisation.")
    # The audit log goes with the tenant, so the operators' log keeps the trace.
    logger.warning("Tenant %s (%s) deleted by %s", tenant.slug, tenant.pk, actor.user)
    tenant_deleting.send(sender=Tenant, tenant=tenant, actor=actor)
    tenant.delete()
    forget_cached_key()
