"""The dashboard: data volume, models and what they serve, latest runs, API traffic and quota use."""

from django.shortcuts import render

from recommender.data import selectors as data_selectors
from recommender.data.quotas import stored_row_count
from tenants.portal.access import portal_view
from tenants.quotas import quota_use
from tenants.usage import usage_of

RECENT = 5


@portal_view()
def dashboard(request):
    tenant = request.tenant
    context = {
        "dataset_count": data_selectors.datasets_of(tenant).count(),
        "stored_rows": stored_row_count(tenant),
        "imports": data_selectors.import_jobs_of(tenant)[:RECENT],
        "usage": usage_of(tenant),
        "quotas": quota_use(tenant),
    }
    return render(request, "portal/dashboard.html", context)
