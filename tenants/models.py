"""Tenants, plans, memberships, invitations, API keys and the audit log.

Every model that belongs to a tenant inherits :class:`TenantOwnedModel`, which
gives it a non-null, indexed ``tenant`` key and the tenant-scoped default manager that is the
one way to reach its rows (see ``tenants.tenancy`` and ``tenants.scoping``).
"""

import builtins

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import timezone

from .tenancy import TenantScopeError, bind_tenant, current_tenant_id


class Plan(models.Model):
    """The quotas a tenant may use; operators edit plans in the admin."""

    name = models.CharField(max_length=100, unique=True)
    max_rows = models.PositiveBigIntegerField(default=10_000_000, help_text="Stored data rows across all datasets.")
    max_models = models.PositiveIntegerField(default=20, help_text="Model configurations.")
    max_training_runs_per_day = models.PositiveIntegerField(default=50)
    max_concurrent_trainings = models.PositiveIntegerField(default=2)
    training_time_limit_seconds = models.PositiveIntegerField(default=3600)
    api_requests_per_minute = models.PositiveIntegerField(default=6000)
    max_upload_bytes = models.PositiveBigIntegerField(default=1024 * 1024 * 1024)
    max_request_body_bytes = models.PositiveIntegerField(
        default=2 * 1024 * 1024, help_text="Largest JSON body of one API request (events, batches, rows)."
    )
    max_batch_jobs_per_day = models.PositiveIntegerField(default=20, help_text="Batch recommendation files.")
    max_batch_users = models.PositiveIntegerField(default=100_000, help_text="Users one batch job may score.")
    max_concurrent_batch_jobs = models.PositiveIntegerField(default=1)
    max_concurrent_imports = models.PositiveIntegerField(
        default=2, help_text="Imports running at once; more wait their turn without holding a worker."
    )
    max_storage_bytes = models.PositiveBigIntegerField(
        default=20 * 1024**3,
        help_text="Bytes stored at once: uploads (queued, running, or kept for a rerun), batch files and models.",
    )

    def __str__(self):
        return self.name

    @classmethod
    def get_default(cls):
        """Return the plan new tenants get, creating it on first use."""
        plan, _ = cls.objects.get_or_create(name="standard")
        return plan

    @classmethod
    def get_self_service(cls):
        """The plan of organisations people create themselves (``settings.SELF_SERVICE_PLAN``).

        Created on first use with small limits, which operators raise in the admin: a person who could
        create organisations on the largest plan escaped every quota by creating more.
        """
        plan, _ = cls.objects.get_or_create(name=settings.SELF_SERVICE_PLAN, defaults=SELF_SERVICE_LIMITS)
        return plan


# The limits of a self-service plan created on first use (a small trial).
SELF_SERVICE_LIMITS = {
    "max_rows": 1_000_000,
    "max_models": 5,
    "max_training_runs_per_day": 10,
    "max_concurrent_trainings": 1,
    "training_time_limit_seconds": 900,
    "api_requests_per_minute": 600,
    "max_upload_bytes": 100 * 1024 * 1024,
    "max_request_body_bytes": 1024 * 1024,
    "max_batch_jobs_per_day": 5,
    "max_batch_users": 10_000,
    "max_concurrent_batch_jobs": 1,
    "max_concurrent_imports": 1,
    "max_storage_bytes": 1024**3,
}


class Tenant(models.Model):
    """An enterprise customer; everything it owns hangs off this row."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="tenants")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE


# Filter keywords that restrict a query to one tenant or to a few named ones.
_TENANT_KEYWORDS = frozenset(
    {
        "tenant",
        "tenant_id",
        "tenant__exact",
        "tenant_id__exact",
        "tenant__id",
        "tenant__pk",
        "tenant__in",
        "tenant_id__in",
        "tenant__id__in",
        "tenant__pk__in",
    }
)


def _unbound_query(model):
    return TenantScopeError(
        f"Tenant-owned query on {model.__name__} without a bound tenant: use .for_tenant(tenant), "
        "bind_tenant(...), or .unscoped() in maintenance code."
    )


class TenantOwnedQuerySet(models.QuerySet):
    """A queryset over a tenant-owned model that runs only when it is restricted to a tenant.

    It is restricted by a tenant filter (``.for_tenant(t)``, ``tenant=…``, ``tenant_id=…``,
    ``tenant__in=…``); by a filter on a tenant-owned row it hangs off (``config.runs``,
    ``filter(config=config)``: that row's tenant is added to the filter); or by the tenant bound in
    the context (``tenants.tenancy.bind_tenant``), which the default manager applies. ``.unscoped()``
    releases it, for operator admin and cross-tenant maintenance only (``core.layering`` lists where).
    Anything else raises :class:`TenantScopeError` when it would reach the database.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # None: not restricted yet; "tenant": restricted to tenants by a filter; "unscoped": released.
        self._tenant_scope = None

    def for_tenant(self, tenant):
        if tenant is None:
            raise ValueError("A tenant is required to read tenant-owned data.")
        return self.filter(tenant=tenant)

    def unscoped(self):
        """Release the tenant check (operator admin and cross-tenant maintenance, listed in core.layering).

        It removes no filter: on a queryset built while a tenant is bound the bound filter stays; start
        from ``Model.objects.unscoped()`` to see every tenant.
        """
        return self._released()

    def _released(self):
        clone = self._chain()
        clone._tenant_scope = "unscoped"
        return clone

    def __repr__(self):
        if self._result_cache is None and self._tenant_scope is None and current_tenant_id() is None:
            return f"<{type(self).__name__} of {self.model.__name__}, not restricted to a tenant>"
        return super().__repr__()

    def _clone(self):
        clone = super()._clone()
        clone._tenant_scope = self._tenant_scope
        return clone

    def _filter_or_exclude(self, negate, args, kwargs):
        restricted, extra = (False, {}) if negate else self._tenant_restriction(kwargs)
        clone = super()._filter_or_exclude(negate, args, {**kwargs, **extra})
        if restricted and clone._tenant_scope is None:
            clone._tenant_scope = "tenant"
        return clone

    def _tenant_restriction(self, kwargs):
        """Whether ``filter(**kwargs)`` restricts the query to tenants, and the filter to add so it does.

        A tenant keyword restricts it as it stands. Tenant-owned rows as the value of a foreign key
        restrict it to those rows' tenants, which are added to the filter: the rows' tenant, not the
        rows alone, is then the bound (a row of another tenant pointing at them stays out).
        """
        if any(key in _TENANT_KEYWORDS and value is not None for key, value in kwargs.items()):
            return True, {}
        tenant_ids = set()
        for key, value in kwargs.items():
            name, _, lookup = key.partition("__")
            if lookup == "in" and isinstance(value, list | tuple | set | frozenset):
                rows = list(value)
            elif lookup in ("", "exact"):
                rows = [value]
            else:
                continue
            if not rows or not all(isinstance(row, TenantOwnedModel) and row.tenant_id for row in rows):
                continue
            try:
                field = self.model._meta.get_field(name)
            except FieldDoesNotExist:
                continue
            if field.many_to_one or field.one_to_one:
                tenant_ids |= {row.tenant_id for row in rows}
        if not tenant_ids:
            return False, {}
        if len(tenant_ids) == 1:
            return True, {"tenant_id": tenant_ids.pop()}
        return True, {"tenant_id__in": sorted(tenant_ids)}

    def _check_tenant_scope(self):
        """Refuse an unrestricted query with no bound tenant; restrict one built before the tenant was bound."""
        if self._tenant_scope is not None:
            return
        query = self.query
        if query.is_empty():
            return  # .none(): reads nothing
        tenant_id = current_tenant_id()
        if tenant_id is None or query.combinator:
            raise _unbound_query(self.model)
        # Built before the tenant was bound (a form field's or a class attribute's queryset): restrict it now.
        query.add_q(models.Q(tenant_id=tenant_id))
        self._tenant_scope = "tenant"

    # Every way a queryset reaches the database checks first.

    def _fetch_all(self):
        if self._result_cache is None:
            self._check_tenant_scope()
        super()._fetch_all()

    def _prefetch_related_objects(self):
        # Django filters a prefetched relation by the parents' ids, past filter(). Parents of one tenant
        # are prefetched bound to it; those of several need Prefetch(..., queryset=Model.objects.unscoped()).
        tenant_ids = {getattr(row, "tenant_id", None) for row in self._result_cache}
        if current_tenant_id() is None and len(tenant_ids) == 1 and None not in tenant_ids:
            with bind_tenant(tenant_ids.pop()):
                return super()._prefetch_related_objects()
        return super()._prefetch_related_objects()

    def _iterator(self, use_chunked_fetch, chunk_size):
        self._check_tenant_scope()
        return super()._iterator(use_chunked_fetch, chunk_size)

    def count(self):
        if self._result_cache is None:
            self._check_tenant_scope()
        return super().count()

    def exists(self):
        if self._result_cache is None:
            self._check_tenant_scope()
        return super().exists()

    def aggregate(self, *args, **kwargs):
        self._check_tenant_scope()
        return super().aggregate(*args, **kwargs)

    def update(self, **kwargs):
        self._check_tenant_scope()
        return super().update(**kwargs)

    update.alters_data = True

    def _update(self, values):
        self._check_tenant_scope()
        return super()._update(values)

    _update.alters_data = True
    _update.queryset_only = False

    def delete(self):
        self._check_tenant_scope()
        return super().delete()

    delete.alters_data = True
    delete.queryset_only = True

    def _raw_delete(self, using):
        self._check_tenant_scope()
        return super()._raw_delete(using)

    _raw_delete.alters_data = True

    def explain(self, *, format=None, **options):
        self._check_tenant_scope()
        return super().explain(format=format, **options)

    def resolve_expression(self, *args, **kwargs):
        # Used inside another query (``id__in=queryset``): the same rule as running it.
        self._check_tenant_scope()
        return super().resolve_expression(*args, **kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        """Update rows already held: restricted to their own tenants, like ``save()``."""
        objs = list(objs)
        tenant_ids = sorted({obj.tenant_id for obj in objs})
        return super(TenantOwnedQuerySet, self.filter(tenant_id__in=tenant_ids)).bulk_update(
            objs, fields, batch_size=batch_size
        )

    bulk_update.alters_data = True

    def _combinator_query(self, combinator, *other_qs, all=False):
        clone = super()._combinator_query(combinator, *other_qs, all=all)
        # Restricted only when every part is: the parts' filters are not seen again.
        # (``all`` is Django's keyword for UNION ALL here, so the builtin is reached through builtins.)
        restricted = builtins.all(getattr(part, "_tenant_scope", None) for part in (self, *other_qs))
        clone._tenant_scope = "tenant" if restricted else None
        return clone


class TenantOwnedManager(models.Manager.from_queryset(TenantOwnedQuerySet)):
    """The default manager of tenant-owned models: restricted to the bound tenant, if one is bound.

    ``_base_manager`` stays Django's plain one, so following a foreign key from a loaded row
    (``run.model_config``), saving and cascading deletes need no tenant.
    """

    def get_queryset(self):
        queryset = super().get_queryset()
        tenant_id = current_tenant_id()
        if tenant_id is not None:
            queryset = queryset.filter(tenant_id=tenant_id)
        return queryset

    def unscoped(self):
        """Every tenant's rows, whatever is bound (operator admin and cross-tenant maintenance only)."""
        if getattr(self, "instance", None) is not None:
            return self.get_queryset()._released()  # a relation's manager keeps its relation's filter
        return super().get_queryset()._released()


class TenantOwnedModel(models.Model):
    """Base for every row that belongs to a tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=True, related_name="%(class)ss")

    objects = TenantOwnedManager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    """Member roles, from least to most powerful."""

    VIEWER = "viewer", "Viewer"
    ANALYST = "analyst", "Analyst"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK = {Role.VIEWER: 0, Role.ANALYST: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Membership(TenantOwnedModel):
    """A person's role in one tenant; a person may belong to several tenants."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="unique_membership")]

    def __str__(self):
        return f"{self.user} in {self.tenant_id} as {self.role}"

    def has_role(self, role):
        """Whether this member's role is ``role`` or a more powerful one."""
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class Invitation(TenantOwnedModel):
    """An invitation emailed to someone: the link's signed token names this row.

    At most one invitation per address is pending in a tenant; inviting the
    address again refreshes it with a new ``key``, which the old link lacks.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    email = models.EmailField(help_text="Stored in lower case.")
    role = models.CharField(max_length=20, choices=Role.choices)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING, db_index=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    # Only the link sent last carries it. Blank on invitations recorded from links issued before
    # links named their invitation; such a link is matched by tenant and address instead.
    key = models.CharField(max_length=32, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "email"], condition=models.Q(state="pending"), name="one_pending_invitation"
            )
        ]

    def __str__(self):
        return f"{self.email} as {self.role}"

    def is_expired(self, now=None):
        return self.expires_at <= (now or timezone.now())


class ApiKeyScope(models.TextChoices):
    RECOMMEND = "recommend", "Recommend"
    INGEST = "ingest", "Ingest"
    MANAGE = "manage", "Manage"


class ApiKey(TenantOwnedModel):
    """A tenant's API key. Only a hash and a visible prefix are stored."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    hashed_key = models.CharField(max_length=128, editable=False)
    scopes = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self):
        return self.revoked_at is not None

    def is_expired(self, now=None):
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    def has_scope(self, scope):
        return scope in self.scopes


class AuditLog(TenantOwnedModel):
    """Who changed what in a tenant, and when. Rows are never edited."""

    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    action = models.CharField(max_length=100, db_index=True)
    object_type = models.CharField(max_length=100, blank=True)
    object_id = models.CharField(max_length=100, blank=True)
    object_repr = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.action} {self.object_type}:{self.object_id}"

    @property
    def actor_display(self):
        if self.actor_api_key_id:
            return f"API key {self.actor_api_key}"
        if self.actor_user_id:
            return str(self.actor_user)
        return "system"


class ApiUsage(TenantOwnedModel):
    """Requests per key, endpoint and day (flushed from Redis counters every minute)."""

    day = models.DateField()
    api_key = models.ForeignKey(ApiKey, null=True, on_delete=models.SET_NULL, related_name="+")
    endpoint = models.CharField(max_length=100)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "day", "api_key", "endpoint"], name="unique_usage_row")
        ]
        indexes = [models.Index(fields=["tenant", "day"])]

    def __str__(self):
        return f"{self.endpoint} on {self.day}: {self.count}"
