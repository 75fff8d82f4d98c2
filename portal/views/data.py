"""Data pages: datasets, uploads with live import progress, the error report, statistics, recent events."""

from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import DomainError
from portal.access import portal_view
from recommender.data import selectors as data_selectors
from recommender.data import services as data_services
from recommender.data.models import Dataset, ImportJob
from tenants.models import Role
from tenants.scoping import get_tenant_object_or_404

from .. import selectors
from ..forms import DatasetForm, UploadForm
from ..problems import problem_message


@portal_view()
def datasets(request):
    """The tenant's datasets."""
    return render(request, "portal/data/datasets.html", {"datasets": data_selectors.datasets_of(request.tenant)})


@portal_view(Role.ANALYST)
def dataset_create(request):
    """A new dataset; the upload form comes next."""
    form = DatasetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        dataset = data_services.create_dataset(actor=request.actor, **form.dataset_values())
        messages.success(request, f"Created {dataset.name}. Now upload a file into it.")
        return redirect("portal:dataset_upload", pk=dataset.pk)
    return render(request, "portal/data/dataset_form.html", {"form": form})


@portal_view()
def dataset(request, pk):
    """A dataset's facts, statistics with charts, imports and the events that arrived last."""
    dataset = data_selectors.get_dataset_or_404(request.tenant, pk)
    if not dataset.stats_updated_at:
        data_services.refresh_dataset_stats(dataset)
    is_interactions = dataset.kind == Dataset.Kind.INTERACTIONS
    top_items = dataset.stats.get("top_items", [])
    titles = data_selectors.item_titles(request.tenant, [row["item_id"] for row in top_items])
    context = {
        "dataset": dataset,
        "stats": dataset.stats,
        # Tabular statistics list "columns", catalogue and user ones "features": never both, maybe neither.
        "columns": dataset.stats.get("columns") or dataset.stats.get("features") or [],
        "imports": data_selectors.import_jobs_of(request.tenant).filter(dataset=dataset)[:10],
        "top_items": [{**row, "title": titles.get(row["item_id"], "")} for row in top_items],
        "popularity": selectors.item_popularity_curve(dataset) if is_interactions else [],
        "recent": selectors.recent_interactions(dataset) if is_interactions else [],
    }
    return render(request, "portal/data/dataset.html", context)


@portal_view(Role.ANALYST)
@require_POST
def dataset_stats_refresh(request, pk):
    """Recompute a dataset's statistics now."""
    dataset = data_selectors.get_dataset_or_404(request.tenant, pk)
    data_services.refresh_dataset_stats(dataset)
    messages.success(request, "Statistics recomputed.")
    return redirect("portal:dataset", pk=dataset.pk)


@portal_view(Role.ANALYST)
def dataset_upload(request, pk):
    """Upload a file into a dataset; the import then runs on a worker and its page shows the progress."""
    dataset = data_selectors.get_dataset_or_404(request.tenant, pk)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = data_services.start_import(
                actor=request.actor,
                dataset=dataset,
                upload=form.cleaned_data["file"],
                options=form.options,
            )
        except DomainError as exc:
            form.add_error(None, problem_message(exc))
        else:
            return redirect("portal:dataset_import", pk=job.pk)
    return render(request, "portal/data/upload.html", {"dataset": dataset, "form": form})


# What the import page's poller shows (the data-field elements of portal/data/import.html).
IMPORT_STATUS_FIELDS = ("id", "status", "rows_read", "rows_total", "rows_loaded", "rows_rejected", "rows_duplicate",
                        "error_count", "message")  # fmt: skip


def _import_status(job):
    progress = data_selectors.import_progress(job)
    return {**{name: getattr(job, name) for name in IMPORT_STATUS_FIELDS}, "progress": progress}


def _import_job(request, pk):
    return get_tenant_object_or_404(ImportJob.objects.select_related("dataset"), request.tenant, pk=pk)


@portal_view()
def dataset_import(request, pk):
    """An import's progress (live while it runs), its outcome and the rows it rejected."""
    job = _import_job(request, pk)
    return render(request, "portal/data/import.html", {"job": job, "status": _import_status(job)})


@portal_view()
def dataset_import_status(request, pk):
    """The import's progress as JSON, for the page's poller."""
    job = _import_job(request, pk)
    return JsonResponse({**_import_status(job), "finished": job.is_finished})


@portal_view(Role.ANALYST)
@require_POST
def dataset_import_rerun(request, pk):
    """Run a failed import again over the file already uploaded."""
    job = _import_job(request, pk)
    try:
        again = data_services.rerun_import(actor=request.actor, job=job)
    except DomainError as exc:
        messages.error(request, problem_message(exc))
        return redirect("portal:dataset_import", pk=job.pk)
    return redirect("portal:dataset_import", pk=again.pk)
