"""Reads for tenants: memberships of a person, keys of a tenant, key look-up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db.models import QuerySet

from core.cache import TtlCache

from .keys import key_matches, split_key
from .models import ApiKey, AuditLog, Membership

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from .models import Tenant


def memberships_of(user: User) -> QuerySet[Membership]:
    """A person's memberships, with their tenants, ordered by tenant name."""
    # cross-tenant: a person's memberships span their tenants (the portal's switcher, sign-in).
    return Membership.objects.unscoped().filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_for(user: User | None, tenant_id: int) -> Membership | None:
    """The person's membership in the tenant ``tenant_id``, or ``None`` (always for no person: an API key)."""
    return Membership.objects.filter(user=user, tenant_id=tenant_id).select_related("tenant", "tenant__plan").first()


def api_keys_of(tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_tenant(tenant).select_related("created_by").order_by("-created_at")


def audit_log_of(tenant: Tenant) -> QuerySet[AuditLog]:
    return AuditLog.objects.for_tenant(tenant).select_related("actor_user", "actor_api_key")


def _local_cache_seconds() -> float:
    return settings.PLATFORM["LOCAL_CACHE_SECONDS"]


# A per-process cache of recently seen keys (prefix -> key or None): the database is asked again
# after LOCAL_CACHE_SECONDS, so a revocation is seen everywhere within that delay.
_key_cache: TtlCache[ApiKey | None] = TtlCache(_local_cache_seconds, max_entries=10_000)


def find_api_key(full_key: str) -> ApiKey | None:
    """Return the stored key matching ``full_key`` (with its tenant and plan), or ``None``.

    Revoked and expired keys are returned too; callers decide what to answer.
    """
    prefix = split_key(full_key)
    if prefix is None:
        return None
    # cross-tenant: the key names its tenant; no tenant is known before it is found.
    api_key = _key_cache.get(
        prefix,
        lambda: ApiKey.objects.unscoped().select_related("tenant", "tenant__plan").filter(prefix=prefix).first(),
    )
    if api_key is None or not key_matches(full_key, api_key.hashed_key):
        return None
    return api_key


def forget_cached_key(prefix: str | None = None) -> None:
    """Drop one key (or, with no prefix, all keys) from this process's cache."""
    if prefix is None:
        _key_cache.clear()
    else:
        _key_cache.forget(prefix)
