"""The dashboard: data volume, models and what they serve, latest runs, API traffic and quota use."""

from django.shortcuts import render

from portal.access import portal_view
from recommender.data import selectors as data_selectors
from recommender.data.quotas import stored_row_count
from recommender.training import selectors as training_selectors
from recommender.training.models import TrainingRun
from tenants.quotas import quota_use
from tenants.usage import usage_of

RECENT = 5


@portal_view()
def dashboard(request):
    """The tenant at a glance."""
    tenant = request.tenant
    context = {
        "dataset_count": data_selectors.datasets_of(tenant).count(),
        "stored_rows": stored_row_count(tenant),
        "imports": data_selectors.import_jobs_of(tenant)[:RECENT],
        "configs": training_selectors.configs_of(tenant),
        "runs": TrainingRun.objects.for_tenant(tenant).select_related("config")[:RECENT],
        "usage": usage_of(tenant),
        "quotas": quota_use(tenant),
    }
    return render(request, "portal/dashboard.html", context)
