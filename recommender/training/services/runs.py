"""Training runs: requesting, claiming on a worker, training, cancelling, reaping.

The worker side is built so that nothing trains twice and nothing stays
"running" forever: a run is claimed under a row lock (a duplicated or
re-delivered message finds it already claimed), a heartbeat thread marks it
alive, and ``reap_stale_runs`` re-queues or fails runs whose worker vanished.
Nothing stays "queued" forever either: ``resend_lost_runs`` sends the task of a
run again when its message was lost (Redis keeps none across a restart).
"""

from __future__ import annotations

import logging
import socket
import tempfile
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from core.errors import Conflict, DomainError
from core.queueing import NOT_QUEUED, resend_lost, send_on_commit
from recommender import ml
from recommender.data import selectors as data_selectors
from tenants import audit
from tenants.models import Plan, Tenant
from tenants.quotas import check_storage
from tenants.tenancy import acts_for_tenant, bind_tenant
from tenants.turns import has_a_turn, lock_tenant

from ..models import FINISHED_STATUSES, ModelConfig, ModelVersion, RunStatus, TrainingRun
from ..selectors import runs_in_last_day
from ..storage import artifact_prefix, delete_artifact, store_artifact
from .configs import QuotaError
from .deployments import auto_deploy_decision, deploy_version

logger = logging.getLogger(__name__)

TRAINING = settings.PLATFORM["TRAINING"]


class RunError(Conflict):
    """A request about a run that cannot be carried out, with the reason for the person."""


class RecipeTooLarge(RunError):
    """The config's hand-picked recipe cannot train on this data within the budget; the message names one that can."""


def training_budget(plan: Plan) -> ml.Budget:
    """The memory (a setting) and time (the plan's limit) one training run may plan for."""
    return ml.Budget(memory_bytes=TRAINING["MEMORY_BUDGET_MB"] * 2**20, seconds=plan.training_time_limit_seconds)


def check_recipe_fits(config: ModelConfig, plan: Plan) -> None:
    """Raise RecipeTooLarge, naming recipes that fit, when the config's recipe would not fit its data."""
    recipe = ml.get_recipe(config.recipe)
    if recipe.name == ml.AUTO or recipe.task != "recommendation" or config.dataset.kind != "interactions":
        return
    shape = ml.DataShape(**data_selectors.interactions_shape(config.dataset))
    budget = training_budget(plan)
    params = recipe.validate({name: value for name, value in config.params.items() if not isinstance(value, dict)})
    ok, _, why_not = ml.fits(recipe, shape, params, budget)
    if ok:
        return
    fitting = [name for name, _ in ml.recipes_that_fit(shape, budget) if name != "popularity"] or ["popularity"]
    message = (
        f"{recipe.name} cannot train on this dataset: it {why_not}. {', '.join(fitting)} fit(s) this data: "
        f"change the model's recipe to {fitting[0]}, or to {ml.AUTO} to let the platform choose."
    )
    raise RecipeTooLarge(message, code="recipe_too_large", details={"recipe": [message], "fitting_recipes": fitting})


def _enqueue(run: TrainingRun) -> None:
    from ..tasks import run_training

    limit = run.tenant.plan.training_time_limit_seconds

    def not_queued() -> None:
        TrainingRun.objects.filter(pk=run.pk, tenant_id=run.tenant_id, status=RunStatus.QUEUED).update(
            status=RunStatus.FAILED,
            stage="failed",
            error=f"The run did not start. {NOT_QUEUED}",
            finished_at=timezone.now(),
        )

    send_on_commit(
        lambda: run_training.apply_async(
            args=[run.tenant_id, run.pk], soft_time_limit=limit, time_limit=limit + TRAINING["HARD_LIMIT_GRACE"]
        ),
        not_queued,
    )
    # What resend_lost_runs goes by: a run still queued long after this lost its message.
    TrainingRun.objects.filter(pk=run.pk, tenant_id=run.tenant_id).update(sent_at=timezone.now())


def request_training(
    *, actor: audit.Actor, config: ModelConfig, tuning_trials: int = 0, trigger: str = TrainingRun.Trigger.MANUAL
) -> TrainingRun:
    """Queue a training run of ``config``, within the plan's daily quota and storage quota."""
    tenant = actor.tenant
    if tuning_trials > TRAINING["MAX_TUNING_TRIALS"]:
        raise RunError(f"At most {TRAINING['MAX_TUNING_TRIALS']} tuning trials are allowed.")
    check_recipe_fits(config, tenant.plan)
    with transaction.atomic():
        # Counted under the tenant's row lock: eight requests racing for the last run of the day each
        # counted one left and two got through.
        tenant = lock_tenant(tenant.pk)
        if runs_in_last_day(tenant) >= tenant.plan.max_training_runs_per_day:
            raise QuotaError(f"Your plan allows {tenant.plan.max_training_runs_per_day} training runs a day.")
        # A run stores a model version's files: refused while the tenant's storage is full.
        check_storage(tenant, what="No training run was queued. ")
        run = TrainingRun.objects.create(
            tenant=tenant,
            config=config,
            trigger=trigger,
            recipe=config.recipe,
            params=config.params,
            tuning_trials=tuning_trials,
            requested_by=actor.user if getattr(actor.user, "pk", None) else None,
        )
        audit.record(actor, "run.requested", run, trigger=trigger, tuning_trials=tuning_trials)
        _enqueue(run)
    return run


def retry_run(*, actor: audit.Actor, run: TrainingRun) -> TrainingRun:
    """Queue a new run with the same settings as a failed or cancelled one."""
    if not run.is_finished:
        raise RunError("Only a finished run can be retried.")
    return request_training(
        actor=actor, config=run.config, tuning_trials=run.tuning_trials, trigger=TrainingRun.Trigger.RETRY
    )


@transaction.atomic
def cancel_run(*, actor: audit.Actor, run: TrainingRun) -> TrainingRun:
    """Cancel a queued run at once, or ask a running one to stop after its current epoch."""
    run = TrainingRun.objects.select_for_update().get(pk=run.pk, tenant_id=run.tenant_id)
    if run.is_finished:
        raise RunError(f"The run already {run.status}.")
    if run.status == RunStatus.QUEUED:
        run.status, run.finished_at = RunStatus.CANCELLED, timezone.now()
        run.error = "Cancelled before it started."
    run.cancel_requested = True
    run.save(update_fields=["status", "finished_at", "error", "cancel_requested"])
    audit.record(actor, "run.cancelled", run)
    return run


# --- the worker side ---------------------------------------------------------------------------


CLAIMED, ALREADY_HANDLED, MUST_WAIT = "claimed", "already handled", "must wait"


def claim_run(tenant_id: int, run_id: int, worker_name: str) -> str:
    """Mark a queued run as running on this worker, under row locks.

    Returns CLAIMED, ALREADY_HANDLED (a duplicate or re-delivered message, or
    an unknown/foreign id) or MUST_WAIT (the tenant has no turn: it is at its plan's runs at once, or
    another tenant running fewer runs has one waiting; see ``tenants.turns``).
    """
    with transaction.atomic():
        # Locking the tenant row serialises claims of one tenant across workers.
        tenant = lock_tenant(tenant_id)
        run = (
            TrainingRun.objects.for_tenant(tenant).select_for_update().filter(pk=run_id).first()
            if tenant is not None
            else None
        )
        if tenant is None or run is None or run.status != RunStatus.QUEUED:
            return ALREADY_HANDLED
        turn = has_a_turn(
            tenant=tenant,
            jobs=TrainingRun.objects,
            limit_field="max_concurrent_trainings",
            waiting=Q(status=RunStatus.QUEUED),
            running=Q(status=RunStatus.RUNNING),
        )
        if not turn:
            # The task sends itself again to wait: its message is alive, so resend_lost_runs leaves it be.
            run.sent_at = timezone.now()
            run.save(update_fields=["sent_at"])
            return MUST_WAIT
        now = timezone.now()
        run.status, run.started_at, run.heartbeat_at, run.worker = RunStatus.RUNNING, now, now, worker_name
        run.attempts += 1
        run.stage, run.progress, run.current_epoch, run.history, run.error = "loading data", 0.0, 0, [], ""
        run.save()
    return CLAIMED


class _Heartbeat(threading.Thread):
    """Marks a running run alive every few seconds, even inside a long epoch."""

    def __init__(self, tenant_id: int, run_id: int) -> None:
        super().__init__(name=f"heartbeat-{run_id}", daemon=True)
        self.tenant_id, self.run_id = tenant_id, run_id
        self.stopped = threading.Event()

    def run(self) -> None:
        # A thread starts with no bound tenant (context variables stay in their thread): name it.
        running = TrainingRun.objects.for_tenant(self.tenant_id).filter(pk=self.run_id, status=RunStatus.RUNNING)
        try:
            while not self.stopped.wait(TRAINING["HEARTBEAT_SECONDS"]):
                running.update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)


class _RunCallbacks(ml.TrainingCallbacks):
    """Reports epochs to the run's row and reads its cancellation flag between epochs."""

    def __init__(self, run_id: int, stage: str, progress_span: tuple[float, float]) -> None:
        self.run_id, self.stage = run_id, stage
        self.start, self.span = progress_span

    def on_epoch(self, epoch: int, total_epochs: int, logs: dict[str, Any]) -> None:
        run = TrainingRun.objects.only("history").get(pk=self.run_id)
        entry = {"stage": self.stage, "epoch": epoch, **{k: float(v) for k, v in logs.items() if v is not None}}
        TrainingRun.objects.filter(pk=self.run_id).update(
            history=[*run.history, entry],
            current_epoch=epoch,
            total_epochs=total_epochs,
            progress=round(self.start + self.span * epoch / max(total_epochs, 1), 4),
            heartbeat_at=timezone.now(),
        )

    def should_cancel(self) -> bool:
        return TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()


# Stages that count epochs of their own: the evaluation's "20 of 20" must not linger into training.
EPOCH_STAGES = ("tuning", "evaluating", "training")


def _set_stage(run_id: int, stage: str, progress: float) -> None:
    restart = {"current_epoch": 0, "total_epochs": 0} if stage in EPOCH_STAGES else {}
    TrainingRun.objects.filter(pk=run_id).update(stage=stage, progress=progress, heartbeat_at=timezone.now(), **restart)


def _training_inputs(config: ModelConfig) -> dict[str, Any]:
    """What a recipe trains on, read within the config's tenant: interactions as compact arrays read in
    chunks (never a frame of the whole dataset), the catalogue and user features as frames."""
    # Imported here: web processes import this module to request runs, and
    # they should not carry pandas, which only the worker running this needs.
    from recommender.data import frames

    dataset = config.dataset
    if dataset.kind == "tabular":
        table, target = frames.tabular_frame(dataset), dataset.target_column
        # Identifier columns (customer_id) would be learnt by heart: left out unless the model names them.
        features, _ = ml.choose_feature_columns(table, target, config.feature_columns)
        return {"table": table[[*features, target]] if target in table.columns else table, "target": target}
    return {
        "interactions": frames.interactions_arrays(dataset),
        "items": frames.items_frame(config.tenant),
        "users": frames.users_frame(config.tenant),
    }


def _finish(run_id: int, status: str, **fields: Any) -> None:
    TrainingRun.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now(), **fields)


@acts_for_tenant
def execute_run(tenant_id: int, run_id: int, worker_name: str | None = None) -> str:
    """Train a claimed run end to end: evaluate, train, store, version, maybe deploy."""
    worker_name = worker_name or socket.gethostname()
    outcome = claim_run(tenant_id, run_id, worker_name)
    if outcome != CLAIMED:
        return outcome
    run = TrainingRun.objects.select_related("config__dataset", "tenant__plan").get(pk=run_id)
    heartbeat = _Heartbeat(tenant_id, run_id)
    heartbeat.start()
    prefix = artifact_prefix(run)
    try:
        _train_and_version(run, prefix)
    except ml.TrainingCancelled:
        delete_artifact(prefix)
        _finish(run_id, RunStatus.CANCELLED, error="Cancelled while training.", stage="cancelled")
    except Exception as exc:
        delete_artifact(prefix)
        _finish(run_id, RunStatus.FAILED, error=_explain_failure(exc, run), stage="failed")
        if not isinstance(exc, ml.DataError | ml.InvalidParams):
            logger.exception("Training run %s failed", run_id)
    finally:
        heartbeat.stop()
    return CLAIMED


def _explain_failure(exc: Exception, run: TrainingRun) -> str:
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return _over_time_message(run)
    if isinstance(exc, ml.DataError):
        return f"The data cannot be trained on: {exc}"
    if isinstance(exc, ml.InvalidParams):
        return f"The model's parameters are invalid: {exc}"
    return f"Training failed unexpectedly ({type(exc).__name__}: {exc}). Retry; if it fails again, contact support."


# Of a run over its time limit, a recipe is suggested instead when its estimate is under this share of the
# run's recipe's (the estimate of the run's recipe fitted the limit, and the run still went over it).
FASTER_SHARE = 0.5


def _over_time_message(run: TrainingRun) -> str:
    """Why a run stopped at its plan's time limit, and what would fit: fewer epochs at the pace the run
    went, and the recipes estimated to train this data in well under the time of the run's recipe."""
    limit = run.tenant.plan.training_time_limit_seconds
    at: Mapping[str, Any] = (
        TrainingRun.objects.filter(pk=run.pk, tenant_id=run.tenant_id)
        .values("stage", "current_epoch", "total_epochs")
        .first()
        or {}
    )
    stage, epoch, epochs = at.get("stage", ""), at.get("current_epoch", 0), at.get("total_epochs", 0)
    where = f" while {stage}" + (f" (epoch {epoch} of {epochs})" if epochs else "") if stage else ""
    message = f"Training took longer than your plan's limit of {limit} s{where}, so it stopped."
    advice = []
    configured = (run.params or {}).get("epochs")
    if epochs and stage in ("evaluating", "training") and isinstance(configured, int):
        # A run trains twice: on the evaluation split, then on all the data; each is about half its time.
        done = (epoch / epochs) / 2 + (0.5 if stage == "training" else 0)
        fitting_epochs = int(configured * done * 0.8)  # a fifth kept back: data loading and saving take time too
        if 0 < fitting_epochs < configured:
            advice.append(f"epochs={fitting_epochs} (of {configured}) would fit at the pace this run went")
    faster = _faster_recipes(run)
    if faster:
        advice.append(f"{', '.join(faster)} {'is' if len(faster) == 1 else 'are'} estimated to train this data "
                      f"in under half the time of {run.recipe}")  # fmt: skip
    if not advice:
        return f"{message} Use fewer epochs or a smaller model, or a plan with a longer limit."
    return f"{message} What would fit: {'; '.join(advice)}."


def _faster_recipes(run: TrainingRun) -> list[str]:
    """Recommendation recipes that fit the budget with an estimate under FASTER_SHARE of the run's recipe's."""
    config = run.config
    if run.recipe == ml.AUTO or config.dataset.kind != "interactions":
        return []
    recipe = ml.get_recipe(run.recipe)
    if recipe.task != "recommendation":
        return []
    shape = ml.DataShape(**data_selectors.interactions_shape(config.dataset))
    params = recipe.validate({name: value for name, value in (run.params or {}).items() if not isinstance(value, dict)})
    own = recipe.estimate(shape, params).seconds
    fitting = ml.recipes_that_fit(shape, training_budget(run.tenant.plan))
    return [name for name, estimate in fitting if name != recipe.name and estimate.seconds < FASTER_SHARE * own]


def _train_and_version(run: TrainingRun, prefix: str) -> None:
    config = run.config
    inputs = _training_inputs(config)
    snapshot = data_selectors.data_snapshot(config.dataset)
    recipe, params = run.recipe, run.params
    tuning: dict[str, Any] = {}
    selection: dict[str, Any] = {}
    report = None
    if recipe == ml.AUTO:
        recipe, params, report, selection = _choose_recipe(run, inputs)
    elif run.tuning_trials:
        _set_stage(run.pk, "tuning", 0.02)
        result = ml.tune(recipe, params, n_trials=run.tuning_trials, seed=TRAINING["SEED"], **inputs)
        params = result.best_params
        tuning = {"metric": result.metric, "best_score": result.best_score, "trials": result.trials}
    if report is None:
        # Evaluate on a held-out split (beside the baseline), then train on all the data.
        _set_stage(run.pk, "evaluating", 0.05)
        report = ml.evaluate(
            recipe, params, seed=TRAINING["SEED"], callbacks=_RunCallbacks(run.pk, "evaluating", (0.05, 0.40)), **inputs
        )
    _set_stage(run.pk, "training", 0.45)
    trained = ml.train(
        recipe, params, seed=TRAINING["SEED"], callbacks=_RunCallbacks(run.pk, "training", (0.45, 0.45)), **inputs
    )
    _set_stage(run.pk, "saving", 0.92)
    metrics = report.to_dict()
    with tempfile.TemporaryDirectory(prefix="artifact-") as local_dir:
        ml.save_artifact(
            trained,
            local_dir,
            metrics=metrics,
            extra={"tenant_id": run.tenant_id, "run_id": run.pk},
            ann_min_items=TRAINING["ANN_MIN_ITEMS"],
        )
        size = store_artifact(local_dir, prefix)
    with transaction.atomic():
        # Under the run's lock, a cancellation that arrived during saving still wins.
        if TrainingRun.objects.select_for_update().get(pk=run.pk, tenant_id=run.tenant_id).cancel_requested:
            raise ml.TrainingCancelled()
        config = type(config).objects.select_for_update().get(pk=config.pk, tenant_id=config.tenant_id)
        number = (config.versions.aggregate(top=Max("number"))["top"] or 0) + 1
        version = ModelVersion.objects.create(
            tenant=run.tenant,
            config=config,
            number=number,
            run=run,
            recipe=recipe,
            params=params,
            metrics=metrics,
            data_snapshot={**snapshot, **trained.snapshot},
            artifact_path=prefix,
            artifact_bytes=size,
        )
        deploy, reason = auto_deploy_decision(config, version)
        if deploy:
            deploy_version(actor=audit.Actor.system(run.tenant), version=version, reason=reason)
        _finish(
            run.pk,
            RunStatus.SUCCEEDED,
            metrics=metrics,
            recipe=recipe,
            params=params,
            tuning=tuning,
            selection=selection,
            progress=1.0,
            stage="done",
            deploy_decision=reason,
        )


def _choose_recipe(run: TrainingRun, inputs: dict[str, Any]) -> tuple[str, dict[str, Any], Any, dict[str, Any]]:
    """For recipe ``auto``: the chosen recipe, its params, its validation report and the record of the choice."""
    _set_stage(run.pk, "choosing a recipe", 0.02)
    options = ml.get_recipe(ml.AUTO).validate(run.params)
    choice = ml.choose_recipe(
        **inputs,
        budget=training_budget(run.tenant.plan),
        validation_users=options["validation_users"],
        tune=options["tune"],
        seed=TRAINING["SEED"],
        callbacks=_RunCallbacks(run.pk, "choosing a recipe", (0.02, 0.40)),
    )
    selection = choice.to_dict()
    # Shown while the winner trains on all the data.
    TrainingRun.objects.filter(pk=run.pk, tenant_id=run.tenant_id).update(selection=selection)
    return choice.recipe, choice.params, choice.report, selection


def reap_stale_runs(stale_after: timedelta | None = None) -> tuple[list[int], list[int]]:
    """Re-queue (or fail, after too many attempts) runs whose worker stopped beating.

    Returns the ids of the runs it re-queued and failed.
    """
    stale_after = stale_after or timedelta(seconds=TRAINING["STALE_AFTER_SECONDS"])
    cutoff = timezone.now() - stale_after
    requeued, failed = [], []
    # cross-tenant: a periodic sweep over every tenant's running runs.
    stale_ids = list(
        TrainingRun.objects.unscoped()
        .filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
        .values_list("pk", flat=True)
    )
    for run_id in stale_ids:
        with transaction.atomic():
            run = (
                TrainingRun.objects.unscoped()  # cross-tenant: the sweep's own ids, of any tenant
                .select_for_update(skip_locked=True)
                .select_related("tenant__plan")
                .filter(pk=run_id, status=RunStatus.RUNNING, heartbeat_at__lt=cutoff)
                .first()
            )
            if run is None:
                continue
            delete_artifact(artifact_prefix(run))
            if run.attempts < TRAINING["MAX_ATTEMPTS"] and not run.cancel_requested:
                run.status, run.stage, run.progress = RunStatus.QUEUED, "re-queued after its worker vanished", 0.0
                run.save(update_fields=["status", "stage", "progress"])
                _enqueue(run)
                requeued.append(run.pk)
            else:
                run.status, run.finished_at, run.stage = RunStatus.FAILED, timezone.now(), "failed"
                run.error = (
                    f"The worker training this run stopped responding ({run.attempts} attempt(s)). "
                    "Retry the run; if it keeps failing, use fewer epochs or a smaller model."
                )
                run.save(update_fields=["status", "finished_at", "stage", "error"])
                failed.append(run.pk)
    return requeued, failed


def resend_lost_runs(resend_after: timedelta | None = None) -> list[Any]:
    """Send again the task of runs still queued ``resend_after`` after it was last sent; returns their ids.

    Redis keeps no messages across a restart, so such a run's message may be gone. If it was only
    waiting behind a busy worker, the second message is harmless: ``claim_run`` starts a run only
    while it is queued. Not on the embedded set-up: its file-system broker keeps its messages, and
    SQLite has no row locks to make a duplicate harmless.
    """
    if connection.vendor != "postgresql":
        return []
    resend_after = resend_after or timedelta(seconds=settings.PLATFORM["QUEUED_RESEND_AFTER_SECONDS"])
    cutoff = timezone.now() - resend_after
    # Runs queued before sent_at existed go by when they were queued.
    lost = Q(sent_at__lt=cutoff) | Q(sent_at__isnull=True, queued_at__lt=cutoff)
    # cross-tenant: a periodic sweep over every tenant's queued runs.
    queued = TrainingRun.objects.unscoped().filter(status=RunStatus.QUEUED).select_related("tenant__plan")
    return resend_lost(queued, lost, _enqueue, "Training run")


@acts_for_tenant
def run_on_schedule(tenant_id: int, config_id: int) -> TrainingRun | None:
    """Start a scheduled run when the data changed since the latest version; returns the run or None."""

    tenant = Tenant.objects.filter(pk=tenant_id, status=Tenant.Status.ACTIVE).first()
    config = ModelConfig.objects.for_tenant(tenant).filter(pk=config_id).first() if tenant else None
    if config is None:
        return None
    if config.runs.exclude(status__in=FINISHED_STATUSES).exists():
        return None
    latest = config.versions.order_by("-number").first()
    snapshot = data_selectors.data_snapshot(config.dataset)
    if latest is not None and latest.data_snapshot.get("latest_id") == snapshot.get("latest_id"):
        logger.info("Scheduled training of %s skipped: no new data since v%s", config, latest.number)
        return None
    return request_training(actor=audit.Actor.system(tenant), config=config, trigger=TrainingRun.Trigger.SCHEDULE)


def retrain_on_drift() -> dict:
    """The periodic drift check: queue a run of each model whose policy says its data drifted enough since
    its latest version ("after N new events or X% new items"), within the plan's daily runs.

    A model with a run queued or running, without a version yet, or whose tenant is not active is skipped;
    a run the plan's quota refuses is logged and tried again at the next check.
    """
    started: list[int] = []
    refused: list[int] = []
    # cross-tenant: the periodic sweep visits every tenant's models with a drift policy; each is then
    # handled within its own tenant (the run is requested for the model's tenant).
    policies = (
        ModelConfig.objects.unscoped()
        .filter(tenant__status=Tenant.Status.ACTIVE)
        .filter(Q(retrain_after_events__isnull=False) | Q(retrain_after_new_items_percent__isnull=False))
        .select_related("tenant__plan", "dataset")
    )
    for config in policies:
        with bind_tenant(config.tenant_id):
            outcome = _retrain_if_drifted(config)
        if outcome is not None:
            (started if outcome[0] else refused).append(outcome[1])
    return {"started": started, "refused": refused}


def _retrain_if_drifted(config: ModelConfig) -> tuple[bool, int] | None:
    """(True, run id) when a drift run was requested, (False, config id) when refused by a quota, else None."""
    from ..selectors import drift_since

    if config.runs.exclude(status__in=FINISHED_STATUSES).exists():
        return None
    latest = config.versions.order_by("-number").first()
    if latest is None:
        return None
    drift = drift_since(latest)
    reasons = []
    if config.retrain_after_events is not None and drift["new_events"] >= config.retrain_after_events:
        reasons.append(f"{drift['new_events']} new events (policy: {config.retrain_after_events})")
    if (
        config.retrain_after_new_items_percent is not None
        and drift["new_items"]
        and drift["new_items_percent"] >= config.retrain_after_new_items_percent
    ):
        reasons.append(
            f"{drift['new_items_percent']:.1f}% new items (policy: {config.retrain_after_new_items_percent}%)"
        )
    if not reasons:
        return None
    actor = audit.Actor.system(config.tenant)
    try:
        run = request_training(actor=actor, config=config, trigger=TrainingRun.Trigger.DRIFT)
    except DomainError as exc:
        logger.info("Drift retraining of %s not started: %s", config, exc)
        return False, config.pk
    audit.record(actor, "model.drift_retrain", config, run=run.pk, since_version=latest.number,
                 reasons=reasons, **drift)  # fmt: skip
    return True, run.pk
