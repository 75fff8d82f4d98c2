"""Tenants, plans, memberships, invitations, API keys and the audit log.

Every model that belongs to a tenant inherits :class:`TenantOwnedModel`, which
gives it a non-null, indexed ``tenant`` key and the scoped manager that is the
one way to reach its rows (see ``tenants.scoping``).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


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


class TenantOwnedQuerySet(models.QuerySet):
    """A queryset that knows how to restrict itself to one tenant."""

    def for_tenant(self, tenant):
        if tenant is None:
            raise ValueError("A tenant is required to read tenant-owned data.")
        return self.filter(tenant=tenant)


class TenantOwnedModel(models.Model):
    """Base for every row that belongs to a tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, db_index=True, related_name="%(class)ss")

    objects = TenantOwnedQuerySet.as_manager()

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
