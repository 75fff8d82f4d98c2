"""Reads serving needs beyond the data app's selectors: popularity for fallbacks, users for batches."""

from django.db.models import Count, Sum

from recommender.data.models import ErasedUser, Interaction
from tenants.models import Tenant

from .models import BatchJob


def popular_items(dataset, limit=1000):
    """``[(item_id, interactions)]`` of the dataset, most popular first."""
    return list(
        Interaction.objects.for_tenant(dataset.tenant)
        .filter(dataset=dataset)
        .values_list("item_id")
        .annotate(count=Count("id"))
        .order_by("-count", "item_id")[:limit]
    )


def user_ids_of(dataset):
    """Every distinct user of the dataset, sorted."""
    return list(
        Interaction.objects.for_tenant(dataset.tenant)
        .filter(dataset=dataset)
        .order_by("user_id")
        .values_list("user_id", flat=True)
        .distinct()
    )


def erased_user_digests(tenant):
    """Digests of the tenant's erased end users (see ``TenantKeys.digest``)."""
    return set(ErasedUser.objects.for_tenant(tenant).values_list("user_digest", flat=True))


def batch_file_bytes(tenant: Tenant) -> int:
    """Bytes of the tenant's stored batch files (until they expire or an erasure deletes them)."""
    total = BatchJob.objects.for_tenant(tenant).exclude(file_path="").aggregate(total=Sum("file_bytes"))
    return total["total"] or 0
