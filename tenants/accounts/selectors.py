"""Reads of the account and access pages: members, pending invitations and the filtered audit log."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.utils import timezone

from ..models import ROLE_RANK, Invitation, Membership, Role
from ..selectors import api_keys_of, audit_log_of

if TYPE_CHECKING:
    from ..models import AuditLog, Tenant


def members_of(tenant: Tenant) -> list[Membership]:
    """The tenant's memberships with their people: most powerful roles first, then by username."""
    memberships = Membership.objects.for_tenant(tenant).select_related("user")
    return sorted(memberships, key=lambda m: (-ROLE_RANK[Role(m.role)], m.user.username.lower()))


def pending_invitations_of(tenant: Tenant) -> QuerySet[Invitation]:
    """Invitations of the tenant whose links still work (not accepted, revoked or expired), newest first."""
    return (
        Invitation.objects.for_tenant(tenant)
        .filter(state=Invitation.State.PENDING, expires_at__gt=timezone.now())
        .select_related("invited_by")
        .order_by("-sent_at", "-id")
    )


def audit_actions(tenant: Tenant) -> QuerySet[AuditLog, str]:
    """The distinct actions in the tenant's audit log, for the filter."""
    return audit_log_of(tenant).order_by("action").values_list("action", flat=True).distinct()


def audit_actors(tenant: Tenant) -> list[tuple[str, str]]:
    """``(value, label)`` pairs for the actor filter: the members, then the API keys."""
    people = [(f"user:{m.user_id}", m.user.username) for m in members_of(tenant)]
    keys = [(f"key:{key.pk}", f"API key {key}") for key in api_keys_of(tenant)]
    return people + keys


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def filtered_audit_log(
    tenant: Tenant, *, action: str = "", actor: str = "", since: date | None = None, until: date | None = None
) -> QuerySet[AuditLog]:
    """The tenant's audit entries, newest first, narrowed by action, actor (``user:<id>``/``key:<id>``) and days."""
    entries = audit_log_of(tenant)
    if action:
        entries = entries.filter(action=action)
    kind, _, pk = actor.partition(":")
    if kind == "user":
        entries = entries.filter(actor_user_id=int(pk))
    elif kind == "key":
        entries = entries.filter(actor_api_key_id=int(pk))
    if since:
        entries = entries.filter(created_at__gte=_start_of(since))
    # The last representable day has no next day to stop before (and needs no upper bound).
    if until and until < date.max:
        entries = entries.filter(created_at__lt=_start_of(until + timedelta(days=1)))
    return entries
