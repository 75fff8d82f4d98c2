"""Writes the portal needs beyond ``tenants.services``: sign-up, invitations, members, tenant settings.

An invitation is a stored :class:`~tenants.models.Invitation` and a link whose
signed, expiring token names it (tenant, id and the invitation's current key).
The row decides whether the link still works: accepting or revoking it, or
sending the address a new link, ends the old one.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .. import audit
from ..models import AuditLog, Invitation, Membership, Plan, Role, Tenant
from ..selectors import forget_cached_key, membership_for
from ..services import TenantError, create_tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import User

logger = logging.getLogger(__name__)

# The salt keeps the module's old name: links already sent are signed with it.
INVITATION_SALT = "tenants.portal.invitation"
INVITATION_MAX_AGE = 7 * 24 * 3600
JOINED_ACTION = "member.joined"

# Sent (with ``tenant`` and ``actor``) inside the transaction that deletes a tenant, before the delete, so
# that apps whose rows the cascade cannot remove alone, or whose files live outside the database, clean up.
tenant_deleting = Signal()


@transaction.atomic
def sign_up(*, username: str, email: str, password: str, organisation: str) -> tuple[User, Tenant]:
    """Create a person and a new tenant they own, on the self-service plan; ``password`` is already
    validated by the form."""
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    tenant = create_tenant(name=organisation, owner=user, plan=Plan.get_self_service())
    return user, tenant


@transaction.atomic
def create_organisation(*, user: User, name: str) -> Tenant:
    """A new tenant owned by ``user``, on the self-service plan, within the organisations a person may own.

    More than ``MAX_OWNED_ORGANISATIONS`` needs an operator's approval: the "Can add tenant" permission.
    Counted under the person's row lock, so requests at the same moment cannot pass it together.
    """
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    # cross-tenant: the organisations a person owns span tenants.
    owned = Membership.objects.unscoped().filter(user=user, role=Role.OWNER).count()
    most = settings.MAX_OWNED_ORGANISATIONS
    if owned >= most and not user.has_perm("tenants.add_tenant"):
        raise TenantError(
            f"You own {owned} organisations, the most a person may own without an operator's approval "
            f"(MAX_OWNED_ORGANISATIONS is {most}). Ask the platform's operators to approve more."
        )
    return create_tenant(name=name, owner=user, plan=Plan.get_self_service())


def _role_of(actor: audit.Actor) -> Role | None:
    membership = membership_for(actor.user, actor.tenant.pk)
    return Role(membership.role) if membership else None


def _check_may_manage(
    actor: audit.Actor, role_wanted: Role | None, membership: Membership | Invitation | None = None
) -> None:
    """Only owners grant the owner role or change an owner (``membership`` may be an invitation to one)."""
    touches_owner = role_wanted == Role.OWNER or (membership is not None and membership.role == Role.OWNER)
    if touches_owner and _role_of(actor) != Role.OWNER:
        raise TenantError("Only an owner can grant the owner role or change an owner.")


def _owner_count(tenant: Tenant) -> int:
    return Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).count()


def _lock_owners(tenant: Tenant, membership: Membership) -> None:
    """Lock the tenant's row, then re-read ``membership``: two owners stepping down at the same moment
    each counted two owners and both went, leaving none. Under the lock the second sees one."""
    Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
    membership.refresh_from_db(fields=["role"])


@transaction.atomic
def change_member_role(*, actor: audit.Actor, membership: Membership, role: str) -> Membership:
    """Give a member another role; the last owner keeps theirs."""
    if role not in Role.values:
        raise TenantError(f"Choose one of the roles: {', '.join(Role.values)}.")
    role = Role(role)
    _lock_owners(actor.tenant, membership)
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
def remove_member(*, actor: audit.Actor, membership: Membership) -> None:
    """Remove a person from the tenant; the last owner cannot be removed."""
    _lock_owners(actor.tenant, membership)
    _check_may_manage(actor, None, membership)
    if membership.role == Role.OWNER and _owner_count(actor.tenant) == 1:
        raise TenantError("The last owner cannot be removed.")
    audit.record(actor, "member.removed", membership, user=membership.user.username, role=membership.role)
    membership.delete()


def make_invitation_token(invitation: Invitation) -> str:
    """A signed token that lets whoever holds it accept ``invitation`` while it is pending and unexpired."""
    payload = {"tenant": invitation.tenant_id, "invitation": invitation.pk, "key": invitation.key}
    return signing.dumps(payload, salt=INVITATION_SALT)


@dataclass(frozen=True)
class SentInvitation:
    """What :func:`invite_member` sent: the invitation, its link's token, whether a live link was replaced."""

    invitation: Invitation
    token: str
    replaced_link: bool


@transaction.atomic
def invite_member(*, actor: audit.Actor, email: str, role: str, site_url: str) -> SentInvitation:
    """Email an invitation link to ``email``; ``site_url`` is the portal's address (scheme and host).

    Inviting an address that already has a pending invitation sends it again:
    the stored invitation takes the new role, sender and expiry, and the
    earlier link stops working. Returns a :class:`SentInvitation`.
    """
    role, email = Role(role), email.strip().lower()
    _check_may_manage(actor, role)
    if Membership.objects.for_tenant(actor.tenant).filter(user__email__iexact=email).exists():
        raise TenantError(f"{email} is already a member.")
    now = timezone.now()
    pending = Invitation.objects.select_for_update().for_tenant(actor.tenant).filter(state=Invitation.State.PENDING)
    invitation = pending.filter(email=email).first()
    previous_role = invitation.role if invitation else None
    replaced_link = invitation is not None and not invitation.is_expired(now)
    if invitation is None:
        invitation = Invitation(tenant=actor.tenant, email=email)
    else:
        _check_may_manage(actor, role, invitation)
    invitation.role = role
    invitation.invited_by = actor.user
    invitation.sent_at = now
    invitation.expires_at = now + timedelta(seconds=INVITATION_MAX_AGE)
    invitation.key = secrets.token_hex(16)
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        # Another admin invited the same address at the same moment; theirs is the pending one.
        raise TenantError(f"An invitation to {email} was sent a moment ago; reload the page to see it.") from None
    token = make_invitation_token(invitation)
    if previous_role is None:
        audit.record(actor, "member.invited", invitation, email=email, role=role.value)
    else:
        audit.record(
            actor, "member.invitation_resent", invitation, email=email, role=role.value, previous_role=previous_role
        )
    context = {
        "tenant": actor.tenant,
        "inviter": actor.user,
        "role": role.label,
        "url": site_url.rstrip("/") + reverse("accept_invitation", kwargs={"token": token}),
        "days": INVITATION_MAX_AGE // (24 * 3600),
    }
    # Sent last, inside the transaction: a failed send records no invitation that nobody received.
    send_mail(
        subject=f"You are invited to {actor.tenant.name}",
        message=render_to_string("registration/invitation_email.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[email],
    )
    return SentInvitation(invitation, token, replaced_link)


@transaction.atomic
def revoke_invitation(*, actor: audit.Actor, invitation: Invitation) -> Invitation:
    """Withdraw a pending invitation of the actor's tenant; its link is refused from then on."""
    invitation = Invitation.objects.select_for_update().for_tenant(actor.tenant).get(pk=invitation.pk)
    if invitation.state == Invitation.State.ACCEPTED:
        raise TenantError(
            f"{invitation.email} has already accepted this invitation; remove them from the members instead."
        )
    if invitation.state == Invitation.State.REVOKED:
        raise TenantError(f"The invitation to {invitation.email} was already revoked.")
    _check_may_manage(actor, None, invitation)
    invitation.state = Invitation.State.REVOKED
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["state", "revoked_at"])
    audit.record(actor, "member.invitation_revoked", invitation, email=invitation.email, role=invitation.role)
    return invitation


def _legacy_link_is_used(tenant: Tenant, token: str) -> bool:
    """Whether a link issued before invitations were stored was accepted (its join was audited by digest)."""
    digest = hashlib.sha256(token.encode()).hexdigest()[:32]
    joined = AuditLog.objects.for_tenant(tenant).filter(action=JOINED_ACTION)
    return joined.filter(details__invitation=digest).exists()


def _refuse_unless_open(invitation: Invitation) -> None:
    """Raise TenantError, in words for the person holding the link, unless ``invitation`` is pending and unexpired."""
    if invitation.state == Invitation.State.ACCEPTED:
        raise TenantError("This invitation has already been used.")
    if invitation.state == Invitation.State.REVOKED:
        raise TenantError(
            f"{invitation.tenant.name} withdrew this invitation; ask them for a new one if you still need access."
        )
    if invitation.is_expired():
        raise TenantError("This invitation has expired; ask for a new one.")


REPLACED_MESSAGE = "A newer invitation was sent to this address; use the link in the latest email."


def read_invitation(token: str) -> Invitation:
    """Return the pending :class:`~tenants.models.Invitation` that ``token`` names.

    Raise TenantError, with a message for the person who opened the link, when
    the token is forged or expired, or the invitation was accepted, revoked or
    sent again with a newer link.
    """
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=INVITATION_MAX_AGE)
    except signing.SignatureExpired:
        raise TenantError("This invitation has expired; ask for a new one.")
    except signing.BadSignature:
        raise TenantError("This invitation link is not valid.")
    tenant = Tenant.objects.filter(pk=data.get("tenant")).first()
    if tenant is None:
        raise TenantError("The organisation of this invitation no longer exists.")
    invitations = Invitation.objects.for_tenant(tenant).select_related("tenant")
    if "invitation" in data:
        invitation = invitations.filter(pk=data["invitation"]).first()
        key = data.get("key")
    else:
        # A link sent before invitations were stored names only the address; the migration recorded
        # its invitation with a blank key, and a later invitation to the address replaces it.
        if _legacy_link_is_used(tenant, token):
            raise TenantError("This invitation has already been used.")
        invitation = invitations.filter(email=data.get("email", "")).order_by("-sent_at", "-id").first()
        key = ""
    if invitation is None:
        raise TenantError("This invitation no longer exists; ask for a new one.")
    _refuse_unless_open(invitation)
    if invitation.key != key:
        raise TenantError(REPLACED_MESSAGE)
    return invitation


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User) -> Membership:
    """Make ``user`` a member with the invitation's role (never lowering a role they already have)."""
    if user.email.lower() != invitation.email:
        raise TenantError(f"This invitation is for {invitation.email}; sign in with that address.")
    # Lock and look again: it may have been revoked, accepted or sent again since the link was read.
    current = Invitation.objects.select_for_update().for_tenant(invitation.tenant).get(pk=invitation.pk)
    current.tenant = invitation.tenant
    _refuse_unless_open(current)
    if current.key != invitation.key:
        raise TenantError(REPLACED_MESSAGE)
    membership, created = Membership.objects.get_or_create(
        tenant=current.tenant, user=user, defaults={"role": current.role}
    )
    if not created and not membership.has_role(current.role):
        membership.role = current.role
        membership.save(update_fields=["role"])
    current.state = Invitation.State.ACCEPTED
    current.accepted_by = user
    current.accepted_at = timezone.now()
    current.save(update_fields=["state", "accepted_by", "accepted_at"])
    actor = audit.Actor(tenant=current.tenant, user=user)
    audit.record(actor, JOINED_ACTION, membership, role=membership.role, invitation=current.pk)
    return membership


@transaction.atomic
def sign_up_invited(*, invitation: Invitation, username: str, password: str) -> User:
    """Create the invited person's account and accept the invitation with it."""
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    accept_invitation(invitation=invitation, user=user)
    return user


def rename_tenant(*, actor: audit.Actor, name: str) -> Tenant:
    """Change the organisation's display name; its slug stays, so links and logs keep working."""
    tenant = actor.tenant
    if tenant.name != name:
        previous, tenant.name = tenant.name, name
        tenant.save(update_fields=["name"])
        audit.record(actor, "tenant.renamed", tenant, previous_name=previous)
    return tenant


@transaction.atomic
def delete_tenant(*, actor: audit.Actor, confirmation: str) -> None:
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
