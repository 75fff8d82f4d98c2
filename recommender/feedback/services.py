"""Writes of the feedback app: impressions, metric buckets, the tenant's feedback settings, experiments."""

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput
from core.redis_client import get_redis
from recommender.data.privacy import tenant_keys
from recommender.training.models import ModelConfig
from recommender.training.services.deployments import deploy_version
from tenants import audit
from tenants.models import Tenant
from tenants.tenancy import bind_tenant

from . import impressions, selectors
from .attribution import Rules, bucket_counts
from .exploration import candidate_items
from .models import (
    BUCKET_MINUTES,
    Experiment,
    ExperimentArm,
    ExplorationPolicy,
    FeedbackSettings,
    Impression,
    ItemExposure,
    MetricBucket,
)

logger = logging.getLogger(__name__)

BUCKET = timedelta(minutes=BUCKET_MINUTES)
AGGREGATION_LOCK = "feedback:aggregation-lock"
MAX_ITEM_AGE_DAYS = 90
# The longest estimated window a tenant may choose (one day).
MAX_ESTIMATED_WINDOW = timedelta(minutes=1440)


def bucket_start(moment: datetime) -> datetime:
    """The start of the 15-minute bucket holding ``moment``."""
    return moment.replace(minute=moment.minute - moment.minute % BUCKET_MINUTES, second=0, microsecond=0)


# --- Impressions -----------------------------------------------------------------------------------------


def store_impressions(entries: Iterable[Sequence[Any]]) -> int:
    """Store queued impressions; those of a tenant, model or experiment that no longer exists are dropped."""
    by_tenant = defaultdict(list)
    for entry in entries:
        by_tenant[int(entry[0])].append(entry)
    tenants = Tenant.objects.in_bulk(list(by_tenant))
    stored = 0
    for tenant_id, rows in by_tenant.items():
        tenant = tenants.get(tenant_id)
        if tenant is None:
            continue
        configs = set(
            ModelConfig.objects.for_tenant(tenant).filter(pk__in={r[3] for r in rows}).values_list("pk", flat=True)
        )
        experiments = set(
            Experiment.objects.for_tenant(tenant)
            .filter(pk__in={r[5] for r in rows if r[5]})
            .values_list("pk", flat=True)
        )
        keys = tenant_keys(tenant)
        user_keys = {}
        objects = []
        for row in rows:
            # Entries queued before latency and errors were recorded have nine fields.
            _, recommendation_id, served_at, config_id, number, experiment_id, arm, user_id, items = row[:9]
            latency_ms, error = (row[9], row[10]) if len(row) >= 11 else (None, False)
            if config_id not in configs:
                continue
            if user_id is not None and user_id not in user_keys:
                user_keys[user_id] = keys.user_key(user_id)
            objects.append(
                Impression(
                    tenant=tenant,
                    recommendation_id=recommendation_id,
                    served_at=datetime.fromtimestamp(served_at, tz=UTC),
                    config_id=config_id,
                    version_number=number,
                    experiment_id=experiment_id if experiment_id in experiments else None,
                    arm=arm if experiment_id in experiments else "",
                    user_id=user_keys.get(user_id, "") if user_id is not None else "",
                    items=list(items),
                    latency_ms=latency_ms,
                    error=bool(error),
                )
            )
        Impression.objects.bulk_create(objects, batch_size=2000, ignore_conflicts=True)
        stored += len(objects)
    return stored


# --- Aggregation -----------------------------------------------------------------------------------------


def feedback_settings(tenant: Tenant) -> FeedbackSettings:
    """The tenant's feedback settings; the defaults (not saved) when it never changed them."""
    return FeedbackSettings.objects.for_tenant(tenant).first() or FeedbackSettings(tenant=tenant)


def _rules(found: FeedbackSettings) -> Rules:
    window = timedelta(minutes=found.estimated_window_minutes)
    return Rules(found.click_event_types, found.conversion_event_types, found.revenue_event_types, window)


def recompute_bucket(
    tenant: Tenant, start: datetime, *, rules: Rules | None = None, explorable: dict[int, list[str]] | None = None
) -> int:
    """Recompute the metric rows of one tenant's bucket from its impressions and events; returns rows written.

    The shows and attributed clicks of explorable items (``{config_id: item ids}``) are recomputed with them.
    """
    rules = rules or _rules(feedback_settings(tenant))
    explorable = candidate_items(tenant) if explorable is None else explorable
    lifetime = timedelta(hours=settings.FEEDBACK["ATTRIBUTION_HOURS"])
    counts, exposures = bucket_counts(
        tenant, start, start + BUCKET, rules=rules, lifetime=lifetime, explorable=explorable
    )
    now = timezone.now()
    rows = [
        MetricBucket(
            tenant=tenant, start=start, config_id=config_id, version_number=number, experiment_id=experiment_id,
            arm=arm, computed_at=now, **vars(found),
        )
        for (config_id, number, experiment_id, arm), found in counts.items()
    ]  # fmt: skip
    seen = [
        ItemExposure(tenant=tenant, start=start, config_id=config_id, item_id=item_id, shows=shows, clicks=clicks)
        for (config_id, item_id), (shows, clicks) in exposures.items()
    ]
    with transaction.atomic():
        MetricBucket.objects.for_tenant(tenant).filter(start=start).delete()
        MetricBucket.objects.bulk_create(rows)
        ItemExposure.objects.for_tenant(tenant).filter(start=start).delete()
        ItemExposure.objects.bulk_create(seen)
    return len(rows)


def aggregate_metrics(now: datetime | None = None) -> dict:
    """The periodic task: store queued impressions, recompute recent buckets, check experiments, purge.

    Buckets are recomputed while events may still be attributed to them (FEEDBACK_ATTRIBUTION_HOURS and the
    tenants' estimated windows), so events that arrive or commit late are counted; older buckets are final.
    """
    client = get_redis()
    if client is not None and not client.set(AGGREGATION_LOCK, "1", nx=True, ex=600):
        return {"skipped": "another aggregation is running"}
    try:
        now = now or timezone.now()
        stored = impressions.drain(store_impressions)
        buckets = 0
        longest = timedelta(hours=settings.FEEDBACK["ATTRIBUTION_HOURS"]) + MAX_ESTIMATED_WINDOW + BUCKET
        # cross-tenant: the tenants with recent impressions; each is then worked on bound to itself.
        recent = (
            Impression.objects.unscoped()
            .filter(served_at__gte=now - longest)
            .values_list("tenant_id")
            .order_by()
            .distinct()
        )
        for tenant in Tenant.objects.filter(pk__in=recent):
            with bind_tenant(tenant):
                buckets += _recompute_recent_buckets(tenant, now)
        _purge(now)
        checked = check_running_experiments()
        return {"impressions_stored": stored, "buckets": buckets, "experiments_checked": checked}
    finally:
        if client is not None:
            client.delete(AGGREGATION_LOCK)


def _recompute_recent_buckets(tenant: Tenant, now: datetime) -> int:
    """Recompute one tenant's buckets still open to attribution; returns how many had rows."""
    rules = _rules(feedback_settings(tenant))
    horizon = max(timedelta(hours=settings.FEEDBACK["ATTRIBUTION_HOURS"]), rules.window) + BUCKET
    oldest = bucket_start(now - horizon)
    starts = {
        bucket_start(moment)
        for moment in Impression.objects.for_tenant(tenant).filter(served_at__gte=oldest)
        .values_list("served_at", flat=True).order_by().distinct()
    }  # fmt: skip
    explorable = candidate_items(tenant)
    return sum(bool(recompute_bucket(tenant, start, rules=rules, explorable=explorable)) for start in sorted(starts))


def _purge(now: datetime) -> None:
    """Delete metric buckets past their tenant's retention, and impressions past FEEDBACK_IMPRESSION_DAYS."""
    # cross-tenant: retention is swept over every tenant at once.
    custom = dict(FeedbackSettings.objects.unscoped().values_list("tenant_id", "metrics_retention_days"))
    for tenant_id, days in custom.items():
        MetricBucket.objects.filter(tenant_id=tenant_id, start__lt=now - timedelta(days=days)).delete()
    default_days = FeedbackSettings._meta.get_field("metrics_retention_days").default
    # cross-tenant: the buckets of every tenant on the default retention.
    MetricBucket.objects.unscoped().exclude(tenant_id__in=list(custom)).filter(
        start__lt=now - timedelta(days=default_days)
    ).delete()
    kept = max(
        timedelta(days=settings.FEEDBACK["IMPRESSION_DAYS"]), timedelta(hours=settings.FEEDBACK["ATTRIBUTION_HOURS"])
    )
    Impression.objects.unscoped().filter(served_at__lt=now - kept).delete()  # cross-tenant: one retention for all
    # cross-tenant: exposures serve exploration, whose cut-off may reach MAX_ITEM_AGE_DAYS back.
    ItemExposure.objects.unscoped().filter(start__lt=now - timedelta(days=MAX_ITEM_AGE_DAYS)).delete()


@transaction.atomic
def update_feedback_settings(*, actor: audit.Actor, **changes: Any) -> FeedbackSettings:
    """Change which event types count as clicks, conversions and revenue, the estimated window, the retention."""
    found = feedback_settings(actor.tenant)
    changed = {name: value for name, value in changes.items() if getattr(found, name) != value}
    for name, value in changed.items():
        setattr(found, name, value)
    if changed:
        found.save()
        audit.record(actor, "feedback_settings.updated", found, **changed)
    return found


# --- Experiments -----------------------------------------------------------------------------------------


@transaction.atomic
def start_experiment(
    *,
    actor: audit.Actor,
    name: str,
    config: ModelConfig,
    metric: str,
    arms: list[dict],
    alpha: float = 0.05,
    guardrails: dict | None = None,
) -> Experiment:
    """Start an A/B/n test on ``config``'s traffic. ``arms``: dicts of name, config, version, split, is_control.

    ``guardrails`` (optional) sets ``max_error_rate_increase``, ``max_latency_increase`` (None: off) and
    ``guardrail_min_requests``; the model's defaults apply to what it leaves out.

    Refused (400, naming the field) when the splits do not sum to 100, a version is not of its arm's model,
    there is not exactly one control arm, or another experiment runs on the same model.
    """
    problems: dict[str, object] = {}
    if sum(arm["split"] for arm in arms) != 100:
        problems["arms"] = [f"The splits sum to {sum(arm['split'] for arm in arms)}%; they must sum to 100%."]
    elif sum(1 for arm in arms if arm.get("is_control")) != 1:
        problems["arms"] = ['Exactly one arm must be the control ("control": true).']
    arm_problems: dict[str, dict[str, list[str]]] = {}
    for index, arm in enumerate(arms):
        if arm["version"].config_id != arm["config"].pk:
            arm_problems[str(index)] = {}
            arm_problems[str(index)]["version"] = [
                f"Version {arm['version'].number} is a version of model '{arm['version'].config.slug}', "
                f"not of '{arm['config'].slug}'."
            ]
    if len({arm["name"] for arm in arms}) != len(arms):
        problems["arms"] = ["Arm names must differ."]
    if arm_problems:
        problems.setdefault("arms", arm_problems)
    running = (
        Experiment.objects.for_tenant(actor.tenant).filter(config=config, status=Experiment.Status.RUNNING).first()
    )
    if running is not None:
        problems["model"] = [f"Experiment '{running.name}' already runs on model '{config.slug}'; stop it first."]
    if problems:
        raise InvalidInput.for_fields(problems)
    experiment = Experiment.objects.create(
        tenant=actor.tenant, name=name, config=config, metric=metric, alpha=alpha, salt=secrets.token_hex(8),
        created_by=actor.user if getattr(actor.user, "pk", None) else None, **(guardrails or {}),
    )  # fmt: skip
    for position, arm in enumerate(arms):
        ExperimentArm.objects.create(
            tenant=actor.tenant, experiment=experiment, name=arm["name"], config=arm["config"],
            version=arm["version"], split=arm["split"], is_control=bool(arm.get("is_control")), position=position,
        )  # fmt: skip
    audit.record(actor, "experiment.started", experiment, model=config.slug,
                 arms={arm["name"]: arm["split"] for arm in arms}, guardrails=guardrails or {})  # fmt: skip
    return experiment


@transaction.atomic
def stop_experiment(*, actor: audit.Actor, experiment: Experiment) -> Experiment:
    """Stop an experiment: its model's deployed version serves everyone again (within a second)."""
    if experiment.status != Experiment.Status.RUNNING:
        raise Conflict("This experiment is not running.")
    experiment.status = Experiment.Status.STOPPED
    experiment.stopped_at = timezone.now()
    experiment.save(update_fields=["status", "stopped_at"])
    audit.record(actor, "experiment.stopped", experiment)
    return experiment


@transaction.atomic
def promote_winner(*, actor: audit.Actor, experiment: Experiment) -> Experiment:
    """Deploy the winning arm's version on the experiment's model and stop the experiment; audited.

    Refused (409) while the results name no winner, or when the winner is another model (deploy
    it there yourself, or point your application at it).
    """
    results = selectors.experiment_results(experiment=experiment)
    winner_name = results["decision"]["winner"]
    if winner_name is None:
        raise Conflict(f"No winner yet: {results['decision']['reason']}")
    winner = next(arm for arm in experiment.arms.all() if arm.name == winner_name)
    if winner.config_id != experiment.config_id:
        raise Conflict(f"The winner is model '{winner.config.slug}', not a version of '{experiment.config.slug}'.")
    deploy_version(actor=actor, version=winner.version, reason=f"winner of experiment '{experiment.name}'")
    if experiment.status == Experiment.Status.RUNNING:
        experiment.status = Experiment.Status.STOPPED
        experiment.stopped_at = timezone.now()
    experiment.promoted_arm = winner
    experiment.promoted_at = timezone.now()
    experiment.save(update_fields=["status", "stopped_at", "promoted_arm", "promoted_at"])
    audit.record(actor, "experiment.promoted", experiment, arm=winner.name, version=winner.version.number,
                 statistic=results["decision"]["statistic"])  # fmt: skip
    return experiment


@transaction.atomic
def stop_arm(*, actor: audit.Actor, arm: ExperimentArm, reason: str) -> ExperimentArm:
    """Stop one challenger arm (its users are served by the control from then on), with the reason; audited."""
    if arm.is_control:
        raise Conflict("The control arm cannot be stopped; stop the experiment instead.")
    if arm.stopped_at is not None:
        raise Conflict(f"Arm '{arm.name}' is already stopped.")
    arm.stopped_at = timezone.now()
    arm.stop_reason = reason[:300]
    arm.save(update_fields=["stopped_at", "stop_reason"])
    audit.record(actor, "experiment.arm_stopped", arm.experiment, arm=arm.name, reason=arm.stop_reason)
    return arm


def check_guardrails(*, experiment: Experiment) -> list[str]:
    """Stop each running challenger whose errors or latency degraded beyond the experiment's guardrails;
    returns the names of the arms stopped now."""
    arms = list(ExperimentArm.objects.for_tenant(experiment.tenant).filter(experiment=experiment))
    control = next(arm for arm in arms if arm.is_control)
    health = selectors.arm_health(experiment=experiment)
    stopped = []
    for arm in arms:
        if arm.is_control or arm.stopped_at is not None:
            continue
        breach = selectors.guardrail_breach(
            experiment=experiment, arm_name=arm.name, health=health, control_name=control.name
        )
        if breach is not None:
            logger.warning("Guardrail stops arm %s of experiment %s: %s", arm.name, experiment.pk, breach)
            arm.experiment = experiment
            stop_arm(actor=audit.Actor.system(experiment.tenant), arm=arm, reason=f"Guardrail: {breach}.")
            stopped.append(arm.name)
    return stopped


def check_running_experiments() -> int:
    """Run the guardrails and the sample-ratio-mismatch check of every running experiment."""
    checked = 0
    # cross-tenant: every tenant's running experiments; each is checked bound to its tenant.
    running = Experiment.objects.unscoped().filter(status=Experiment.Status.RUNNING).select_related("tenant")
    for experiment in running:
        with bind_tenant(experiment.tenant_id):
            check_guardrails(experiment=experiment)
            check = selectors.sample_ratio_check(experiment=experiment)
            fields: dict[str, Any] = {"srm_checked_at": timezone.now()}
            if check is not None:
                fields.update(srm_p_value=check.p_value, srm_alert=check.mismatch)
                if check.mismatch and not experiment.srm_alert:
                    logger.warning("Sample ratio mismatch on experiment %s (p=%.2g)", experiment.pk, check.p_value)
                    audit.record(audit.Actor.system(experiment.tenant), "experiment.srm_alert", experiment,
                                 p_value=check.p_value)  # fmt: skip
            Experiment.objects.filter(pk=experiment.pk).update(**fields)
        checked += 1
    return checked


# --- Exploration -----------------------------------------------------------------------------------------


@transaction.atomic
def set_exploration(
    *, actor: audit.Actor, config: ModelConfig, weight: float, max_item_age_days: int
) -> ExplorationPolicy:
    """Set the share of ``config``'s slots given to new items (0: none) and how new they must be; audited."""
    policy, _ = ExplorationPolicy.objects.update_or_create(
        tenant=actor.tenant, config=config, defaults={"weight": weight, "max_item_age_days": max_item_age_days}
    )
    audit.record(actor, "model.exploration_set", config, weight=weight, max_item_age_days=max_item_age_days)
    return policy
