"""Reads serving needs beyond the data app's selectors: popularity for fallbacks, users for batches."""

from django.db.models import Count, Sum

from recommender.data.models import Dataset, ErasedUser, Interaction
from tenants.models import Tenant

from .models import BatchJob


def popular_items(dataset: Dataset, limit: int | None = 1000) -> list[tuple[str, int]]:
    """``[(item_id, interactions)]`` of the dataset, most popular first."""
    return list(
        Interaction.objects.for_tenant(dataset.tenant)
        .filter(dataset=dataset)
        .values_list("item_id")
        .annotate(count=Count("id"))
        .order_by("-count", "item_id")[:limit]
    )


def count_users_of(dataset: Dataset) -> int:
    """How many distinct users the dataset has."""
    return Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset).values("user_id").distinct().count()


def user_ids_after(dataset: Dataset, after: str, *, limit: int) -> list[str]:
    """The dataset's next ``limit`` distinct users in id order after ``after`` ("" for the first): a keyset
    page, so a job over a million users holds one slice of ids at a time, never the whole list."""
    rows = Interaction.objects.for_tenant(dataset.tenant).filter(dataset=dataset)
    if after:
        rows = rows.filter(user_id__gt=after)
    return list(rows.order_by("user_id").values_list("user_id", flat=True).distinct()[:limit])


def erased_user_digests(tenant: Tenant) -> set[str]:
    """Digests of the tenant's erased end users (see ``TenantKeys.digest``)."""
    return set(ErasedUser.objects.for_tenant(tenant).values_list("user_digest", flat=True))


def batch_file_bytes(tenant: Tenant) -> int:
    """Bytes of the tenant's stored batch files (until they expire or an erasure deletes them)."""
    total = BatchJob.objects.for_tenant(tenant).exclude(file_path="").aggregate(total=Sum("file_bytes"))
    return total["total"] or 0
