"""The plan's limit on stored rows, checked before events are stored and inside each import's merge."""

from django.db.models import Sum

from .models import Dataset, EndUser, Item


def stored_row_count(tenant) -> int:
    """Rows the tenant stores: interactions and tabular rows, catalogue items and end users."""
    in_datasets = (
        Dataset.objects.for_tenant(tenant)
        .filter(kind__in=[Dataset.Kind.INTERACTIONS, Dataset.Kind.TABULAR])
        .aggregate(rows=Sum("row_count"))["rows"]
        or 0
    )
    return in_datasets + Item.objects.for_tenant(tenant).count() + EndUser.objects.for_tenant(tenant).count()


def row_quota_problem(tenant, adding=0) -> str | None:
    """Why storing ``adding`` more rows would break the plan's row limit, or None when it fits."""
    plan = tenant.plan
    stored = stored_row_count(tenant)
    if stored + adding <= plan.max_rows:
        return None
    if adding:
        return (
            f"Storing {adding} more rows would exceed the {plan.name} plan's limit of {plan.max_rows} rows "
            f"({stored} are stored)."
        )
    return f"This would store {stored} rows, over the {plan.name} plan's limit of {plan.max_rows} rows."
