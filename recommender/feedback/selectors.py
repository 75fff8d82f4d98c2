"""Reads of the feedback app: serving's experiment routes, metric series, experiment results and checks."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, overload

import numpy as np
from django.db.models import Count, Q, QuerySet

from recommender.training.models import ModelConfig
from tenants.models import Tenant

from . import statistics
from .models import Experiment, ExperimentArm, ExplorationPolicy, Impression, MetricBucket
from .statistics import SrmCheck

MAX_POINTS = 2000
BUCKET_SIZES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
SUMMED = ("impressions", "items_shown", "clicked", "clicks", "converted", "conversions", "revenue",
          "estimated_conversions", "estimated_revenue")  # fmt: skip


def exploration_of(*, tenant: Tenant, config: ModelConfig) -> ExplorationPolicy:
    """The model's exploration policy; weight 0 (none) when never set."""
    return ExplorationPolicy.objects.for_tenant(tenant).filter(config=config).first() or ExplorationPolicy(
        tenant=tenant, config=config
    )


def experiments_of(tenant: Tenant) -> QuerySet[Experiment]:
    return Experiment.objects.for_tenant(tenant).select_related("config", "promoted_arm")


def running_experiment_routes(*, tenant: Tenant, config_id: int) -> tuple[int, str, list[tuple[Any, ...]]] | None:
    """What serving needs to route a running experiment of ``config_id`` (see serving.route), or None."""
    experiment = (
        Experiment.objects.for_tenant(tenant).filter(config_id=config_id, status=Experiment.Status.RUNNING).first()
    )
    if experiment is None:
        return None
    routes, last = [], -1
    arms = list(
        ExperimentArm.objects.for_tenant(tenant).filter(experiment=experiment).select_related("config", "version")
        .order_by("position")
    )  # fmt: skip
    control = next(arm for arm in arms if arm.is_control)
    for arm in arms:
        last += arm.split
        # A stopped arm keeps its slots (assignment stays reproducible); the control serves them.
        serving = control if arm.stopped_at else arm
        routes.append((last, serving.name, serving.config_id, serving.config.slug, serving.config.dataset_id,
                       serving.version_id, serving.version.number, serving.version.artifact_path,
                       serving.version.recipe))  # fmt: skip
    return experiment.pk, experiment.salt, routes


def _rates(values: dict[str, Any]) -> dict[str, Any]:
    impressions = values["impressions"]
    ctr_ci = statistics.wilson_interval(values["clicked"], impressions)
    conversion_ci = statistics.wilson_interval(values["converted"], impressions)
    return {
        **{name: (round(values[name], 6) if isinstance(values[name], float) else values[name]) for name in SUMMED},
        "ctr": values["clicked"] / impressions if impressions else None,
        "ctr_ci95": list(ctr_ci) if ctr_ci else None,
        "conversion_rate": values["converted"] / impressions if impressions else None,
        "conversion_rate_ci95": list(conversion_ci) if conversion_ci else None,
        "revenue_per_mille": 1000 * values["revenue"] / impressions if impressions else None,
        "estimated_revenue_per_mille": 1000 * values["estimated_revenue"] / impressions if impressions else None,
    }


def metric_series(
    *,
    tenant: Tenant,
    start: datetime,
    end: datetime,
    bucket: str,
    model: ModelConfig | None = None,
    experiment: Experiment | None = None,
) -> dict:
    """Online metrics per model, version and arm, in buckets of ``bucket`` from ``start`` to ``end``.

    Rates are over impressions (answers shown): CTR is the share of impressions with an attributed
    click, conversion rate the share with an attributed conversion; each has a 95% Wilson interval.
    """
    size = BUCKET_SIZES[bucket]
    rows = MetricBucket.objects.for_tenant(tenant).filter(start__gte=start, start__lt=end)
    if model is not None:
        rows = rows.filter(config=model)
    if experiment is not None:
        rows = rows.filter(experiment=experiment)
    slugs = dict(ModelConfig.objects.for_tenant(tenant).values_list("pk", "slug"))
    series: defaultdict[tuple[Any, ...], defaultdict[int, dict[str, int]]] = defaultdict(
        lambda: defaultdict(lambda: dict.fromkeys(SUMMED, 0))
    )
    totals: defaultdict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: dict.fromkeys(SUMMED, 0))
    for row in rows.values("start", "config_id", "version_number", "experiment_id", "arm", *SUMMED):
        key = (row["config_id"], row["version_number"], row["experiment_id"], row["arm"])
        index = int((row["start"] - start) / size)
        for name in SUMMED:
            series[key][index][name] += row[name]
            totals[key][name] += row[name]
    points = int((end - start) / size) + (1 if (end - start) % size else 0)
    answer = []
    for key in sorted(series, key=lambda key: (slugs.get(key[0], ""), key[1] or 0, key[2] or 0, key[3])):
        config_id, number, experiment_id, arm = key
        answer.append(
            {
                "model": slugs.get(config_id),
                "version": number,
                "experiment": experiment_id,
                "arm": arm or None,
                "totals": _rates(totals[key]),
                "points": [
                    {
                        "start": (start + index * size).isoformat(),
                        **_rates(series[key].get(index) or dict.fromkeys(SUMMED, 0)),
                    }
                    for index in range(points)
                ],
            }
        )
    return {"start": start.isoformat(), "end": end.isoformat(), "bucket": bucket, "series": answer}


# A look: each arm's cumulative (successes, impressions).
Look = dict[str, tuple[int, ...]]


@overload
def _arm_looks(experiment: Experiment, metric: str, with_starts: Literal[False] = False) -> list[Look]: ...


@overload
def _arm_looks(
    experiment: Experiment, metric: str, with_starts: Literal[True]
) -> tuple[list[datetime], list[Look]]: ...


def _arm_looks(
    experiment: Experiment, metric: str, with_starts: bool = False
) -> list[Look] | tuple[list[datetime], list[Look]]:
    """Per arm, cumulative (successes, impressions) after each 15-minute bucket of the experiment."""
    numerator = "clicked" if metric == Experiment.Metric.CTR else "converted"
    rows = (
        MetricBucket.objects.for_tenant(experiment.tenant)
        .filter(experiment=experiment)
        .values("start", "arm", numerator, "impressions")
        .order_by("start")
    )
    per_bucket: defaultdict[datetime, defaultdict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in rows:
        per_bucket[row["start"]][row["arm"]][0] += row[numerator]
        per_bucket[row["start"]][row["arm"]][1] += row["impressions"]
    running: defaultdict[str, list[int]] = defaultdict(lambda: [0, 0])
    looks: list[Look] = []
    for start in sorted(per_bucket):
        for arm, (successes, trials) in per_bucket[start].items():
            running[arm][0] += successes
            running[arm][1] += trials
        looks.append({arm: tuple(counts) for arm, counts in running.items()})
    return (sorted(per_bucket), looks) if with_starts else looks


def cumulative_rates(*, experiment: Experiment) -> tuple[list[datetime], dict[str, list[Any]]]:
    """``(bucket starts, {arm: [(rate, (low, high)) or None, ...]})``: each arm's rate so far, for charts."""
    starts, looks = _arm_looks(experiment, experiment.metric, with_starts=True)
    names = list(ExperimentArm.objects.for_tenant(experiment.tenant).filter(experiment=experiment)
                 .order_by("position").values_list("name", flat=True))  # fmt: skip
    rates: dict[str, list[Any]] = {name: [] for name in names}
    for look in looks:
        for name in names:
            successes, trials = look.get(name, (0, 0))
            interval = statistics.wilson_interval(successes, trials)
            rates[name].append((successes / trials, interval) if trials else None)
    return starts, rates


# The latest answers of an arm whose latencies give its p95 (bounded work per check).
GUARDRAIL_LATENCY_SAMPLE = 5000
# A p95 difference below this many milliseconds is never a degradation (timer and scheduling noise).
GUARDRAIL_LATENCY_FLOOR_MS = 10.0


@dataclass
class ArmHealth:
    requests: int
    errors: int
    error_rate: float | None
    latency_p95_ms: float | None


def arm_health(*, experiment: Experiment) -> dict[str, ArmHealth]:
    """``{arm name: ArmHealth}`` from the experiment's impressions kept (FEEDBACK_IMPRESSION_DAYS):
    requests served, those that failed, and the 95th percentile of the latest answers' latency."""
    rows = (
        Impression.objects.for_tenant(experiment.tenant)
        .filter(experiment=experiment)
        .values("arm")
        .annotate(requests=Count("pk"), errors=Count("pk", filter=Q(error=True)))
    )
    found = {}
    for row in rows:
        latencies = list(
            Impression.objects.for_tenant(experiment.tenant)
            .filter(experiment=experiment, arm=row["arm"], error=False, latency_ms__isnull=False)
            .order_by("-served_at").values_list("latency_ms", flat=True)[:GUARDRAIL_LATENCY_SAMPLE]
        )  # fmt: skip
        found[row["arm"]] = ArmHealth(
            requests=row["requests"],
            errors=row["errors"],
            error_rate=row["errors"] / row["requests"] if row["requests"] else None,
            latency_p95_ms=round(float(np.percentile(latencies, 95)), 3) if latencies else None,
        )
    return found


def guardrail_breach(
    *, experiment: Experiment, arm_name: str, health: dict[str, ArmHealth], control_name: str
) -> str | None:
    """Why the arm must stop (its error rate or p95 latency degraded beyond the experiment's thresholds
    against the control), or None. Both arms need ``guardrail_min_requests`` first; an error-rate
    increase must also be significant (one-sided two-proportion z test at the experiment's alpha)."""
    arm, control = health.get(arm_name), health.get(control_name)
    minimum = experiment.guardrail_min_requests
    if arm is None or control is None or arm.requests < minimum or control.requests < minimum:
        return None
    if experiment.max_error_rate_increase is not None:
        arm_rate, control_rate = arm.errors / arm.requests, control.errors / control.requests
        increase = arm_rate - control_rate
        test = statistics.two_proportion_z_test(control.errors, control.requests, arm.errors, arm.requests)
        significant = test is not None and test.z > statistics.normal_quantile(1 - experiment.alpha)
        if increase > experiment.max_error_rate_increase and significant:
            return (
                f"error rate {arm_rate:.2%} against the control's {control_rate:.2%} "
                f"(+{increase:.2%}, more than the +{experiment.max_error_rate_increase:.2%} allowed) "
                f"over {arm.requests} and {control.requests} requests"
            )
    if (
        experiment.max_latency_increase is not None
        and arm.latency_p95_ms is not None
        and control.latency_p95_ms is not None
    ):
        limit = control.latency_p95_ms * (1 + experiment.max_latency_increase)
        if arm.latency_p95_ms > limit and arm.latency_p95_ms - control.latency_p95_ms > GUARDRAIL_LATENCY_FLOOR_MS:
            return (
                f"p95 latency {arm.latency_p95_ms:.1f} ms against the control's {control.latency_p95_ms:.1f} ms "
                f"(more than the +{experiment.max_latency_increase:.0%} allowed)"
            )
    return None


def experiment_results(*, experiment: Experiment) -> dict:
    """Each arm's counts and rate, and each arm against the control by both tests, with the decision.

    The decision goes by the always-valid sequential test (mSPRT), so the results may be read at any
    time without inflating false positives; the fixed-horizon z test is reported beside it.
    """
    arms = list(ExperimentArm.objects.for_tenant(experiment.tenant).filter(experiment=experiment)
                .select_related("config", "version").order_by("position"))  # fmt: skip
    control = next(arm for arm in arms if arm.is_control)
    looks = _arm_looks(experiment, experiment.metric)
    final = looks[-1] if looks else {}
    users = users_per_arm(experiment=experiment)
    health = arm_health(experiment=experiment)
    alpha = experiment.alpha
    shown = []
    for arm in arms:
        successes, trials = final.get(arm.name, (0, 0))
        interval = statistics.wilson_interval(successes, trials, 1 - alpha)
        entry = {
            "name": arm.name, "model": arm.config.slug, "version": arm.version.number, "split": arm.split,
            "control": arm.is_control, "users": users.get(arm.name, 0), "impressions": trials,
            "successes": successes, "rate": successes / trials if trials else None,
            "rate_ci": list(interval) if interval else None,
            "health": vars(health[arm.name]) if arm.name in health else None,
            "stopped_at": arm.stopped_at, "stop_reason": arm.stop_reason or None,
        }  # fmt: skip
        if not arm.is_control:
            x_a, n_a = final.get(control.name, (0, 0))
            z_test = statistics.two_proportion_z_test(x_a, n_a, successes, trials, 1 - alpha)
            sequence = [(*look.get(control.name, (0, 0)), *look.get(arm.name, (0, 0))) for look in looks]
            p_sequential = statistics.always_valid_p(sequence)
            entry["versus_control"] = {
                "difference": z_test.difference if z_test else None,
                "fixed_horizon": None if z_test is None else {
                    "test": "two-proportion z test (two-sided, pooled)",
                    "z": z_test.z, "p_value": z_test.p_value, "ci": [z_test.ci_low, z_test.ci_high],
                    "significant": z_test.p_value < alpha,
                },
                "sequential": {
                    "test": f"mSPRT, normal mixture tau={statistics.MSPRT_TAU}, a look every 15 minutes",
                    "always_valid_p": p_sequential, "significant": p_sequential < alpha,
                },
            }  # fmt: skip
        shown.append(entry)
    return {
        "metric": experiment.metric,
        "alpha": alpha,
        "arms": shown,
        "decision": _decision(shown, control.name),
        "sample_ratio": {
            "p_value": experiment.srm_p_value,
            "alert": experiment.srm_alert,
            "checked_at": experiment.srm_checked_at,
        },  # fmt: skip
    }


def _decision(arms: list[dict[str, Any]], control_name: str) -> dict[str, Any]:
    """The winner by the sequential test: the best arm significantly above the control, else the control
    when every other arm is significantly below it or stopped by a guardrail, else none yet."""
    statistic = "sequential (mSPRT always-valid p-value)"
    challengers = [arm for arm in arms if not arm["control"] and not arm["stopped_at"]]
    if not challengers:
        reason = "Every other arm was stopped by a guardrail."
        return {"winner": control_name, "statistic": statistic, "reason": reason}
    significant = [arm for arm in challengers if arm["versus_control"]["sequential"]["significant"]]
    better = [arm for arm in significant if arm["versus_control"]["difference"] > 0]
    if better:
        winner = max(better, key=lambda arm: arm["versus_control"]["difference"])
        return {"winner": winner["name"], "statistic": statistic, "reason": f"'{winner['name']}' beats the control."}
    worse = [arm for arm in significant if arm["versus_control"]["difference"] < 0]
    if len(worse) == len(challengers):
        return {"winner": control_name, "statistic": statistic, "reason": "Every other arm is worse than the control."}
    return {"winner": None, "statistic": statistic, "reason": "No arm differs significantly from the control yet."}


def users_per_arm(*, experiment: Experiment, before: datetime | None = None) -> dict:
    """Distinct users each arm served (from the impressions kept, FEEDBACK_IMPRESSION_DAYS), served
    before ``before`` if given."""
    rows = Impression.objects.for_tenant(experiment.tenant).filter(experiment=experiment)
    if before is not None:
        rows = rows.filter(served_at__lt=before)
    rows = rows.exclude(user_id="").values("arm").annotate(users=Count("user_id", distinct=True))
    return {row["arm"]: row["users"] for row in rows}


def sample_ratio_check(*, experiment: Experiment) -> SrmCheck | None:
    """The chi-square test of the users per arm against the split (None without users).

    Once a guardrail stopped an arm its users are served by the control, so only the users served
    before the first stop are counted (while the split was the declared one).
    """
    arms = list(ExperimentArm.objects.for_tenant(experiment.tenant).filter(experiment=experiment).order_by("position"))
    stops = [arm.stopped_at for arm in arms if arm.stopped_at]
    users = users_per_arm(experiment=experiment, before=min(stops) if stops else None)
    return statistics.sample_ratio_mismatch([users.get(arm.name, 0) for arm in arms], [arm.split for arm in arms])
