"""Portal pages of the feedback app: online metrics with their settings, and experiments.

Writes go through the same checks (``recommender.feedback.validation``) and services as the API, so the
portal refuses exactly what the API refuses, with the same words.
"""

import re
from datetime import timedelta

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from core.errors import DomainError, InvalidInput
from portal.access import portal_view
from portal.charts import band_chart, line_chart
from portal.problems import add_problem, problem_message
from recommender.feedback import selectors, services
from recommender.feedback.models import Experiment
from recommender.feedback.validation import MAX_ARMS, check_event_types, resolve_arms
from recommender.training.models import ModelConfig
from tenants.models import Role

RANGES = {"1d": (timedelta(days=1), "15m"), "7d": (timedelta(days=7), "1h"), "30d": (timedelta(days=30), "1d")}


EVENT_TYPE_FIELDS = ("click_event_types", "conversion_event_types", "revenue_event_types")
ARM_NAME_LENGTH = 60


class FeedbackSettingsForm(forms.Form):
    click_event_types = forms.CharField(help_text="Comma-separated event types that count as a click.")
    conversion_event_types = forms.CharField(help_text="Comma-separated event types that count as a conversion.")
    revenue_event_types = forms.CharField(required=False, help_text="Event types whose value is revenue.")
    estimated_window_minutes = forms.IntegerField(min_value=1, max_value=1440)
    metrics_retention_days = forms.IntegerField(min_value=1, max_value=3650, label="Keep metrics for (days)")

    def clean(self):
        cleaned = super().clean()
        for name in EVENT_TYPE_FIELDS:
            if name in cleaned:
                try:
                    cleaned[name] = check_event_types(field=name, event_types=_types(cleaned[name]))
                except InvalidInput as exc:
                    self.add_error(name, exc.details[name])
        return cleaned


class ExperimentForm(forms.Form):
    name = forms.CharField(max_length=200)
    model = forms.SlugField()
    metric = forms.ChoiceField(choices=Experiment.Metric.choices)
    arms = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One arm a line: name, version, split in percent (the first line is the control), "
        "e.g. “control 1 50”. To compare models, write model:version.",
    )
    max_error_rate_increase = forms.FloatField(
        required=False, min_value=0, max_value=1, initial=0.01, label="Guardrail: error-rate increase",
        help_text="Stop an arm whose error rate exceeds the control's by more than this (0.01: one point). "
        "Empty: no error guardrail.",
    )  # fmt: skip
    max_latency_increase = forms.FloatField(
        required=False, min_value=0, max_value=100, initial=0.5, label="Guardrail: p95 latency increase",
        help_text="Stop an arm whose p95 latency exceeds the control's by more than this share (0.5: +50%). "
        "Empty: no latency guardrail.",
    )  # fmt: skip
    guardrail_min_requests = forms.IntegerField(
        min_value=20, initial=200, required=False, label="Guardrail: requests before judging",
        help_text="Requests the arm and the control must each have served first.",
    )  # fmt: skip

    def clean_arms(self):
        """The arms as the API takes them: name, model (empty: the experiment's), version, split, control."""
        lines = [line for line in self.cleaned_data["arms"].splitlines() if line.strip()]
        if not 2 <= len(lines) <= MAX_ARMS:
            raise forms.ValidationError(f"Write 2 to {MAX_ARMS} arms, one a line; there are {len(lines)}.")
        return [_parse_arm(number, line) for number, line in enumerate(lines, start=1)]


def _parse_arm(number, line):
    fields = line.split()
    if len(fields) != 3:
        raise forms.ValidationError(f"Line {number}: write “name version split”, e.g. “control 1 50”.")
    name, version, split = fields
    slug, _, version_number = version.rpartition(":")
    if not (version_number.isdigit() and split.isdigit()):
        raise forms.ValidationError(f"Line {number}: the version and the split are whole numbers.")
    if len(name) > ARM_NAME_LENGTH or not re.fullmatch(r"[-\w]+", name, flags=re.ASCII):
        raise forms.ValidationError(
            f"Line {number}: a name is letters, digits, hyphens or underscores, at most {ARM_NAME_LENGTH}."
        )
    if int(version_number) < 1 or not 1 <= int(split) <= 100:
        raise forms.ValidationError(f"Line {number}: versions start at 1; a split is 1 to 100 percent.")
    return {"name": name, "model": slug, "version": int(version_number), "split": int(split), "control": number == 1}


def _svg(kind, chart):
    """A chart's figure as HTML (the templates under portal/charts draw the geometry charts.py computed)."""
    return mark_safe(render_to_string(f"portal/charts/{kind}.html", chart))  # noqa: S308 - our own template


def _types(text):
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _series_name(entry):
    name = f"{entry['model']} v{entry['version']}"
    return f"{name} · {entry['arm']}" if entry["arm"] else name


def _metrics_page(request, settings_form=None):
    chosen = request.GET.get("range") if request.GET.get("range") in RANGES else "1d"
    span, bucket = RANGES[chosen]
    end = timezone.now()
    data = selectors.metric_series(tenant=request.tenant, start=end - span, end=end, bucket=bucket)
    series = data["series"][:4]  # four colours: the busiest series are the first four by name
    labels = [point["start"][5:16].replace("T", " ") for point in series[0]["points"]] if series else []
    charts = []
    if series:
        charts = [
            ("line", line_chart(labels, {_series_name(e): [p["impressions"] for p in e["points"]] for e in series},
                                title="Impressions")),
            ("band", band_chart(labels, {_series_name(e): [(p["ctr"], p["ctr_ci95"]) if p["impressions"] else None
                                                           for p in e["points"]] for e in series},
                                title="Click-through rate")),
            ("band", band_chart(labels, {_series_name(e): [(p["conversion_rate"], p["conversion_rate_ci95"])
                                                           if p["impressions"] else None for p in e["points"]]
                                         for e in series}, title="Conversion rate (attributed)")),
            ("line", line_chart(labels, {_series_name(e): [p["revenue_per_mille"] for p in e["points"]]
                                         for e in series}, title="Revenue per 1,000 impressions (attributed)")),
        ]  # fmt: skip
    found = services.feedback_settings(request.tenant)
    initial = {
        "click_event_types": ", ".join(found.click_event_types),
        "conversion_event_types": ", ".join(found.conversion_event_types),
        "revenue_event_types": ", ".join(found.revenue_event_types),
        "estimated_window_minutes": found.estimated_window_minutes,
        "metrics_retention_days": found.metrics_retention_days,
    }
    context = {
        "range": chosen,
        "ranges": list(RANGES),
        "series": [{**entry, "name": _series_name(entry)} for entry in data["series"]],
        "charts": [_svg(kind, chart) for kind, chart in charts],
        "settings_form": settings_form or FeedbackSettingsForm(initial=initial),
    }
    return render(request, "portal/feedback/metrics.html", context)


@portal_view()
def online_metrics(request):
    """Impressions, CTR, conversion rate and revenue per model, version and arm, with the attribution settings."""
    return _metrics_page(request)


@portal_view(Role.ANALYST)
@require_POST
def feedback_settings_update(request):
    """Change which events count; the recent buckets are recomputed with the new rules by the next aggregation."""
    form = FeedbackSettingsForm(request.POST)
    if not form.is_valid():
        return _metrics_page(request, settings_form=form)
    services.update_feedback_settings(actor=request.actor, **form.cleaned_data)
    messages.success(request, "Saved. Metrics of the last day are recomputed with these rules within minutes.")
    return redirect("portal:feedback_metrics")


@portal_view()
def experiments(request):
    """The tenant's experiments, and the form that starts one."""
    return _experiments_page(request, ExperimentForm())


def _experiments_page(request, form):
    context = {
        "experiments": selectors.experiments_of(request.tenant),
        "form": form,
        "models": ModelConfig.objects.for_tenant(request.tenant).order_by("slug"),
    }
    return render(request, "portal/feedback/experiments.html", context)


@portal_view(Role.ANALYST)
@require_POST
def experiment_create(request):
    """Start an experiment with the API's checks (splits sum to 100, versions of the model, no overlap)."""
    form = ExperimentForm(request.POST)
    if not form.is_valid():
        return _experiments_page(request, form)
    q = form.cleaned_data
    try:
        config, arms = resolve_arms(tenant=request.tenant, model=q["model"], arms=q["arms"])
        guardrails = {
            "max_error_rate_increase": q["max_error_rate_increase"],
            "max_latency_increase": q["max_latency_increase"],
            **({"guardrail_min_requests": q["guardrail_min_requests"]} if q["guardrail_min_requests"] else {}),
        }
        experiment = services.start_experiment(
            actor=request.actor,
            name=q["name"],
            config=config,
            metric=q["metric"],
            arms=arms,
            guardrails=guardrails,
        )
    except DomainError as exc:
        add_problem(form, exc)
        return _experiments_page(request, form)
    messages.success(request, f"Experiment “{experiment.name}” is running.")
    return redirect("portal:feedback_experiment", pk=experiment.pk)


def _experiment_of(request, pk):
    return get_object_or_404(selectors.experiments_of(request.tenant), pk=pk)


@portal_view()
def experiment(request, pk):
    """An experiment's arms against the control by both tests, the decision, its rates over time."""
    found = _experiment_of(request, pk)
    results = selectors.experiment_results(experiment=found)
    starts, rates = selectors.cumulative_rates(experiment=found)
    labels = [start.strftime("%m-%d %H:%M") for start in starts]
    title = f"{found.get_metric_display()} so far, per arm"
    chart = _svg("band", band_chart(labels, rates, title=title)) if starts else None
    return render(request, "portal/feedback/experiment.html", {"experiment": found, "results": results, "chart": chart})


@portal_view(Role.ANALYST)
@require_POST
def experiment_stop(request, pk):
    try:
        services.stop_experiment(actor=request.actor, experiment=_experiment_of(request, pk))
    except DomainError as exc:
        messages.error(request, problem_message(exc))
    else:
        messages.success(request, "Stopped: the deployed version serves everyone again.")
    return redirect("portal:feedback_experiment", pk=pk)


@portal_view(Role.ANALYST)
@require_POST
def experiment_promote(request, pk):
    try:
        found = services.promote_winner(actor=request.actor, experiment=_experiment_of(request, pk))
    except DomainError as exc:
        messages.error(request, problem_message(exc))
    else:
        messages.success(request, f"“{found.promoted_arm.name}” is deployed and the experiment is stopped.")
    return redirect("portal:feedback_experiment", pk=pk)
