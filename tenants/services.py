"""Writes for tenants: creating tenants and members, issuing and revoking API keys."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.errors import InvalidInput

from . import audit
from .keys import generate_key, hash_key
from .models import ApiKey, ApiKeyScope, Membership, Plan, Role, Tenant
from .selectors import forget_cached_key

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class TenantError(InvalidInput):
    """A request about tenants that cannot be carried out, with a reason for the person."""


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key: ``full_key`` exists only here, never in the database."""

    api_key: ApiKey
    full_key: str


def _unique_slug(name: str) -> str:
    base = slugify(name)[:50] or "tenant"
    slug, n = base, 1
    while Tenant.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def create_tenant(*, name: str, owner: User, slug: str | None = None, plan: Plan | None = None) -> Tenant:
    """Create a tenant with ``owner`` as its owner and return it."""
    if slug and Tenant.objects.filter(slug=slug).exists():
        raise TenantError(f"A tenant with the slug '{slug}' already exists.")
    tenant = Tenant.objects.create(name=name, slug=slug or _unique_slug(name), plan=plan or Plan.get_default())
    Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    audit.record(audit.Actor(tenant=tenant, user=owner), "tenant.created", tenant)
    return tenant


def get_or_create_user(*, username: str, email: str = "", password: str | None = None) -> User:
    """Return the user named ``username``, creating it (with ``password``) if needed."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=username, defaults={"email": email})
    if created:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save()
    return user


def validate_scopes(scopes: Collection[str]) -> list[str]:
    """Return ``scopes`` de-duplicated in a stable order, or raise TenantError naming the bad one."""
    valid = list(ApiKeyScope.values)
    for scope in scopes:
        if scope not in valid:
            raise TenantError(f"Unknown scope '{scope}'; valid scopes are {', '.join(valid)}.")
    if not scopes:
        raise TenantError("An API key needs at least one scope.")
    return [scope for scope in valid if scope in scopes]


@transaction.atomic
def issue_api_key(
    *, actor: audit.Actor, name: str, scopes: Collection[str], expires_at: datetime | None = None
) -> IssuedKey:
    """Create an API key for the actor's tenant; the full key is returned once."""
    if expires_at is not None and expires_at <= timezone.now():
        raise TenantError("The expiry must be in the future.")
    prefix, full_key = generate_key()
    api_key = ApiKey.objects.create(
        tenant=actor.tenant,
        name=name,
        prefix=prefix,
        hashed_key=hash_key(full_key),
        scopes=validate_scopes(scopes),
        expires_at=expires_at,
        created_by=actor.user if getattr(actor.user, "pk", None) else None,
    )
    audit.record(actor, "api_key.created", api_key, scopes=api_key.scopes)
    return IssuedKey(api_key=api_key, full_key=full_key)


@transaction.atomic
def revoke_api_key(*, actor: audit.Actor, api_key: ApiKey) -> ApiKey:
    """Revoke a key of the actor's tenant; revoking twice is harmless."""
    if api_key.tenant_id != actor.tenant.pk:
        raise TenantError("That key belongs to another tenant.")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        forget_cached_key(api_key.prefix)
        audit.record(actor, "api_key.revoked", api_key)
    return api_key


def set_tenant_status(*, actor: audit.Actor, tenant: Tenant, status: str) -> Tenant:
    """Suspend or reactivate a tenant (operators do this from the admin)."""
    if tenant.status != status:
        tenant.status = status
        tenant.save(update_fields=["status"])
        # Cached keys carry their tenant: drop them so the new status applies at once.
        forget_cached_key()
        audit.record(actor, f"tenant.{status}", tenant)
    return tenant


def touch_api_key(api_key: ApiKey, now: datetime | None = None) -> None:
    """Record that a key was used, without rewriting the row on every call."""
    now = now or timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() >= 60:
        ApiKey.objects.filter(pk=api_key.pk, tenant_id=api_key.tenant_id).update(last_used_at=now)
        api_key.last_used_at = now
