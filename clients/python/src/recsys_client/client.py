"""The client: one method per API operation, plus uploads, batching of large sends and ``wait`` helpers."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Callable, Protocol, TypeVar, Union
from urllib.parse import quote

import httpx

from ._http import RetryPolicy, Sender
from .errors import BatchFailed, ImportFailed, JobFailed, TrainingFailed, WaitTimeout
from .models import (
    ApiKey,
    BatchJob,
    Dataset,
    DatasetStats,
    DataSettings,
    ErasureResult,
    Event,
    EventsResult,
    ImportJob,
    IssuedApiKey,
    Item,
    Listing,
    Model,
    ModelConfig,
    ModelVersion,
    Predictions,
    Recipe,
    Recommendations,
    Rejection,
    TrainingRun,
    UpsertResult,
    Usage,
    WhoAmI,
)
from .progress import JobProgress, ProgressArg, ProgressReader, make_bar

M = TypeVar("M", bound=Model)


class _Job(Protocol):
    status: str

    @property
    def finished(self) -> bool: ...


J = TypeVar("J", bound=_Job)
PathLike = Union[str, "os.PathLike[str]"]

# The API's limits per call; larger sends are split into calls of this size.
EVENTS_PER_CALL = 1000
ITEMS_PER_CALL = 1000
ROWS_PER_PREDICT = 1000
PAGE_SIZE = 100

# Each public API operation (the OpenAPI schema's operationId) and the method that calls it.
OPERATIONS: dict[str, str] = {
    "tenant_retrieve": "whoami",
    "usage_retrieve": "usage",
    "api_keys_list": "list_api_keys",
    "api_keys_create": "create_api_key",
    "api_keys_retrieve": "get_api_key",
    "api_keys_destroy": "revoke_api_key",
    "datasets_list": "list_datasets",
    "datasets_create": "create_dataset",
    "datasets_retrieve": "get_dataset",
    "datasets_stats_retrieve": "dataset_stats",
    "datasets_imports_list": "list_imports",
    "datasets_imports_create": "import_file",
    "imports_list": "list_imports",
    "imports_retrieve": "get_import",
    "events_create": "send_events",
    "items_list": "list_items",
    "items_update": "upsert_items",
    "items_retrieve": "get_item",
    "items_destroy": "deactivate_item",
    "users_destroy": "erase_user",
    "data_settings_retrieve": "get_data_settings",
    "data_settings_partial_update": "update_data_settings",
    "feedback_settings_retrieve": "get_feedback_settings",
    "feedback_settings_partial_update": "update_feedback_settings",
    "metrics_retrieve": "online_metrics",
    "experiments_list": "list_experiments",
    "experiments_create": "create_experiment",
    "experiments_retrieve": "get_experiment",
    "experiments_partial_update": "update_experiment",
    "experiments_results_retrieve": "experiment_results",
    "experiments_stop_create": "stop_experiment",
    "experiments_promote_create": "promote_experiment",
    "models_exploration_retrieve": "get_exploration",
    "models_exploration_update": "set_exploration",
    "recipes_list": "list_recipes",
    "models_list": "list_models",
    "models_create": "create_model",
    "models_retrieve": "get_model",
    "models_partial_update": "update_model",
    "models_destroy": "delete_model",
    "models_train_create": "train",
    "models_runs_list": "list_runs",
    "runs_retrieve": "get_run",
    "runs_cancel_create": "cancel_run",
    "models_versions_list": "list_versions",
    "models_versions_deploy_create": "deploy",
    "models_recommendations_retrieve": "recommend",
    "models_similar_items_retrieve": "similar_items",
    "models_rank_create": "rank",
    "models_session_recommendations_create": "recommend_session",
    "models_predict_create": "predict",
    "models_batch_recommendations_create": "start_batch",
    "batch_jobs_retrieve": "get_batch_job",
    "batch_jobs_download_retrieve": "download_batch",
}


def _segment(value: Any) -> str:
    """A path segment: item and user ids may hold any character, '/' included."""
    return quote(str(value), safe="")


def _id(value: Any) -> Any:
    """An id, or the id of a result passed instead (``client.get_run(run)``)."""
    if isinstance(value, Model):
        for name in ("id", "slug", "number"):
            if hasattr(value, name):
                return getattr(value, name)
    return value


def _chunks(values: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for value in values:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _records(rows: Any) -> Iterable[Any]:
    """Rows from a list of dicts or a pandas DataFrame (missing values dropped, numpy values made plain)."""
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):
        # A round trip through JSON turns numpy scalars and timestamps into JSON values.
        records: list[dict[str, Any]] = json.loads(rows.to_json(orient="records", date_format="iso"))
        return [{key: value for key, value in record.items() if value is not None} for record in records]
    given: Iterable[Any] = rows
    return given


def recommend_params(
    user_id: str, k: int, exclude_seen: bool | None, exclude: Sequence[str], categories: Sequence[str], explain: bool
) -> dict[str, Any]:
    params: dict[str, Any] = {"user_id": user_id, "k": k}
    if exclude_seen is not None:
        params["exclude_seen"] = "true" if exclude_seen else "false"
    if exclude:
        params["exclude"] = ",".join(exclude)
    if categories:
        params["category"] = ",".join(categories)
    if explain:
        params["explain"] = "true"
    return params


def similar_params(item_id: str, k: int, exclude: Sequence[str], categories: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {"item_id": item_id, "k": k}
    if exclude:
        params["exclude"] = ",".join(exclude)
    if categories:
        params["category"] = ",".join(categories)
    return params


def events_bodies(events: Any, dataset: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The bodies of the calls that send ``events``, 1,000 each, with the index of each call's first event."""
    offset = 0
    for chunk in _chunks(_records(events), EVENTS_PER_CALL):
        body: dict[str, Any] = {
            "events": [event.to_api() if isinstance(event, Event) else _jsonable(event) for event in chunk]
        }
        if dataset is not None:
            body["dataset"] = _id(dataset)
        yield offset, body
        offset += len(chunk)


def add_events_result(total: EventsResult, result: EventsResult, offset: int) -> None:
    """Add one call's outcome to the total; rejections are indexed from the first event given, not the call's."""
    total.accepted += result.accepted
    total.duplicates += result.duplicates
    total.rejected.extend(
        Rejection(raw=r.raw, index=r.index + offset, field=r.field, reason=r.reason) for r in result.rejected
    )
    rejected = [{"index": r.index, "field": r.field, "reason": r.reason} for r in total.rejected]
    total.raw = {"accepted": total.accepted, "duplicates": total.duplicates, "rejected": rejected}


def _jsonable(record: Mapping[str, Any]) -> dict[str, Any]:
    """A dict to send as JSON: datetimes as ISO 8601."""
    return {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in record.items()}


class Client:
    """A client of the recommendation platform's API.

    ``Client(base_url, api_key)``; both default to ``RECSYS_BASE_URL`` and ``RECSYS_API_KEY``.
    ``retry`` sets the retry policy, ``timeout`` the seconds per request; ``transport`` and
    ``sleep`` replace the network and the waiting (for tests). Use it as a context manager, or
    call ``close()``.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        base_url = base_url or os.environ.get("RECSYS_BASE_URL")
        api_key = api_key or os.environ.get("RECSYS_API_KEY")
        if not base_url:
            raise ValueError("No base URL: pass base_url= or set RECSYS_BASE_URL (e.g. http://127.0.0.1:8000).")
        self.base_url = base_url
        self._sleep = sleep
        self._sender = Sender(
            base_url=base_url,
            api_key=api_key,
            timeout=timeout,
            retry=retry or RetryPolicy(),
            transport=transport,
            sleep=sleep,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self._sender.close()

    # --- plumbing -------------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._sender.request(method, path, **kwargs)

    def _get(self, model: type[M], path: str, **kwargs: Any) -> M:
        return model.from_api(self._call("GET", path, **kwargs))

    def _results(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every result of a paginated list as the API answers it, fetched ``PAGE_SIZE`` at a time by offset."""
        offset = 0
        while True:
            page = self._call("GET", path, params={**(params or {}), "limit": PAGE_SIZE, "offset": offset})
            results = page.get("results", [])
            yield from results
            offset += len(results)
            if not results or offset >= page.get("count", 0):
                return

    def _list(self, model: type[M], path: str, params: dict[str, Any] | None = None) -> Listing[M]:
        """Every object of a paginated list, as ``model`` instances."""
        return Listing(lambda: (model.from_api(result) for result in self._results(path, params)))

    # --- tenant, keys and usage -----------------------------------------------------------------

    def whoami(self) -> WhoAmI:
        """The key's tenant (with its plan), and the key's id, name, prefix and scopes."""
        return self._get(WhoAmI, "tenant")

    def usage(self) -> Usage:
        """Requests by day and endpoint for 30 days, the plan, and quota use."""
        return self._get(Usage, "usage")

    def list_api_keys(self) -> Listing[ApiKey]:
        return self._list(ApiKey, "api-keys")

    def create_api_key(
        self, name: str, scopes: Sequence[str] = ("recommend",), *, expires_at: Any | None = None
    ) -> IssuedApiKey:
        """A new key with ``scopes`` (any of recommend, ingest, manage); ``.key`` is shown only now."""
        body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if expires_at is not None:
            body["expires_at"] = expires_at.isoformat() if hasattr(expires_at, "isoformat") else expires_at
        return IssuedApiKey.from_api(self._call("POST", "api-keys", json=body))

    def get_api_key(self, key_id: int | ApiKey) -> ApiKey:
        return self._get(ApiKey, f"api-keys/{_id(key_id)}")

    def revoke_api_key(self, key_id: int | ApiKey) -> None:
        self._call("DELETE", f"api-keys/{_id(key_id)}")

    # --- datasets and imports -------------------------------------------------------------------

    def list_datasets(self) -> Listing[Dataset]:
        return self._list(Dataset, "datasets")

    def create_dataset(
        self,
        name: str,
        kind: str = "interactions",
        *,
        description: str = "",
        target_column: str = "",
        sensitive_columns: Sequence[str] = (),
    ) -> Dataset:
        """A dataset of ``kind`` interactions, items, users or tabular (``target_column`` for tabular)."""
        body = {
            "name": name,
            "kind": kind,
            "description": description,
            "target_column": target_column,
            "sensitive_columns": list(sensitive_columns),
        }
        return Dataset.from_api(self._call("POST", "datasets", json=body))

    def get_dataset(self, dataset_id: int | Dataset) -> Dataset:
        return self._get(Dataset, f"datasets/{_id(dataset_id)}")

    def dataset_stats(self, dataset_id: int | Dataset, *, refresh: bool = False) -> DatasetStats:
        params = {"refresh": "true"} if refresh else {}
        return self._get(DatasetStats, f"datasets/{_id(dataset_id)}/stats", params=params)

    def list_imports(self, dataset_id: int | Dataset | None = None) -> Listing[ImportJob]:
        """The imports of one dataset, or of every dataset."""
        if dataset_id is None:
            return self._list(ImportJob, "imports")
        return self._list(ImportJob, f"datasets/{_id(dataset_id)}/imports")

    def get_import(self, import_id: int | ImportJob) -> ImportJob:
        return self._get(ImportJob, f"imports/{_id(import_id)}")

    def import_file(
        self,
        dataset_id: int | Dataset,
        source: PathLike | IO[bytes] | Any,
        *,
        format: str | None = None,
        delimiter: str | None = None,
        has_header: bool | None = None,
        column_mapping: Mapping[str, str] | None = None,
        on_error: str = "fail",
        compression: str = "auto",
        file_name: str | None = None,
        progress: ProgressArg = False,
        wait: bool = False,
        timeout: float | None = None,
    ) -> ImportJob:
        """Upload a file to import into a dataset; a worker imports it.

        ``source`` is a path, a binary file object, or a pandas DataFrame (sent as CSV). The
        file is streamed, never read into memory. ``progress=True`` shows the upload (and, with
        ``wait=True``, the import) as a bar. With ``wait=True`` it returns the finished job and
        raises ``ImportFailed`` if the import failed.
        """
        form: dict[str, str] = {"on_error": on_error, "compression": compression}
        if delimiter is not None:
            form["delimiter"] = delimiter
        if has_header is not None:
            form["has_header"] = "true" if has_header else "false"
        if column_mapping:
            form["column_mapping"] = json.dumps(dict(column_mapping))
        with contextlib.ExitStack() as stack:
            handle, name, fmt = self._upload_source(stack, source, file_name, format)
            if fmt:
                form["format"] = fmt
            total = _size_of(handle)
            on_read = None
            if progress is True:
                bar = stack.enter_context(make_bar(total=total, desc=f"upload {name}", unit="B", unit_scale=True))
                on_read = bar.update
            reader = ProgressReader(handle, on_read)
            start = reader.start

            def rewind() -> None:
                handle.seek(start)

            answer = self._call(
                "POST",
                f"datasets/{_id(dataset_id)}/imports",
                data=form,
                files={"file": (name, reader, "application/octet-stream")},
                rewind=rewind,
            )
        job = ImportJob.from_api(answer)
        if wait:
            return self.wait_for_import(job, timeout=timeout, progress=progress)
        return job

    def _upload_source(
        self, stack: contextlib.ExitStack, source: Any, file_name: str | None, fmt: str | None
    ) -> tuple[IO[bytes], str, str | None]:
        if hasattr(source, "to_csv") and hasattr(source, "columns"):
            # A DataFrame goes to a temporary CSV file first, so the upload streams from disk.
            spool = stack.enter_context(tempfile.TemporaryFile())
            source.to_csv(spool, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
            spool.seek(0)
            return spool, file_name or "dataframe.csv", fmt or "csv"
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            handle = stack.enter_context(path.open("rb"))
            return handle, file_name or path.name, fmt
        if hasattr(source, "read"):
            return source, file_name or Path(getattr(source, "name", "upload")).name, fmt
        raise TypeError(f"Cannot upload {type(source).__name__}: give a path, a binary file or a DataFrame.")

    def wait_for_import(
        self,
        import_id: int | ImportJob,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        progress: ProgressArg = False,
        raise_on_failure: bool = True,
    ) -> ImportJob:
        """Poll an import until it finished; raises ``ImportFailed`` (with the job) if it failed."""

        def show(job: ImportJob) -> tuple[float | None, str]:
            return job.progress, f"{job.status}, {job.rows_read:,} rows read, {job.rows_rejected:,} rejected"

        def failure(job: ImportJob) -> JobFailed:
            bad = "; ".join(
                f"line {error.get('line')}, {error.get('column')}: {error.get('reason')}" for error in job.errors[:3]
            )
            return ImportFailed(f"Import {job.id} failed: {job.message}" + (f" ({bad})" if bad else ""), job)

        return self._wait(
            lambda: self.get_import(import_id), show, failure, timeout, poll_interval, progress,
            f"import {_id(import_id)}", raise_on_failure,
        )  # fmt: skip

    # --- events, catalogue, end users and privacy -----------------------------------------------

    def send_events(
        self, events: Iterable[Event | Mapping[str, Any]], *, dataset: int | Dataset | None = None
    ) -> EventsResult:
        """Send behaviour events (any number: sent 1,000 a call); rejected ones are named by their index.

        Each event is an ``Event`` or a dict with user_id, item_id and optional event_type,
        value, timestamp, event_id. A DataFrame's rows work too (``send_events(df)``).
        """
        total = EventsResult()
        for offset, body in events_bodies(events, dataset):
            add_events_result(total, EventsResult.from_api(self._call("POST", "events", json=body)), offset)
        return total

    def list_items(self) -> Listing[Item]:
        return self._list(Item, "items")

    def upsert_items(self, items: Iterable[Mapping[str, Any]]) -> UpsertResult:
        """Create or update catalogue items (dicts with item_id and optional title, categories,
        features, is_active; or a DataFrame), 1,000 a call; fields left out keep their values."""
        total = UpsertResult()
        for chunk in _chunks(_records(items), ITEMS_PER_CALL):
            result = self._call("PUT", "items", json={"items": [_jsonable(item) for item in chunk]})
            total.created += result.get("created", 0)
            total.updated += result.get("updated", 0)
        total.raw = {"created": total.created, "updated": total.updated}
        return total

    def get_item(self, item_id: str) -> Item:
        return self._get(Item, f"items/{_segment(item_id)}")

    def deactivate_item(self, item_id: str) -> Item:
        """Never recommend this item again (``upsert_items`` with ``is_active: True`` brings it back)."""
        return Item.from_api(self._call("DELETE", f"items/{_segment(item_id)}"))

    def erase_user(self, user_id: str) -> ErasureResult:
        """Remove an end user's interactions and features; the counts removed."""
        return ErasureResult.from_api(self._call("DELETE", f"users/{_segment(user_id)}"))

    def get_data_settings(self) -> DataSettings:
        return self._get(DataSettings, "data-settings")

    def update_data_settings(self, *, pseudonymize_user_ids: bool) -> DataSettings:
        body = {"pseudonymize_user_ids": pseudonymize_user_ids}
        return DataSettings.from_api(self._call("PATCH", "data-settings", json=body))

    # --- feedback: attribution settings, online metrics, experiments, exploration -----------------
    # These answer the API's JSON as plain dicts (see docs/api.md, "From a recommendation to a purchase").

    def get_feedback_settings(self) -> dict[str, Any]:
        """Which event types count as a click, a conversion and revenue; the estimation window; retention."""
        return dict(self._call("GET", "feedback-settings"))

    def update_feedback_settings(self, **changes: Any) -> dict[str, Any]:
        """Change any of ``click_event_types``, ``conversion_event_types``, ``revenue_event_types``,
        ``estimated_window_minutes``, ``metrics_retention_days``."""
        return dict(self._call("PATCH", "feedback-settings", json=changes))

    def online_metrics(
        self,
        *,
        start: str | None = None,
        end: str | None = None,
        bucket: str = "1h",
        model: str | None = None,
        experiment: int | None = None,
    ) -> dict[str, Any]:
        """Impressions, CTR, conversion rate and revenue per 1,000 impressions by model, version and arm."""
        params = {"start": start, "end": end, "bucket": bucket, "model": model, "experiment": experiment}
        return dict(self._call("GET", "metrics", params={k: v for k, v in params.items() if v is not None}))

    def list_experiments(self) -> Listing[dict[str, Any]]:
        """Every experiment, newest first."""
        return Listing(lambda: self._results("experiments"))

    def create_experiment(
        self,
        *,
        name: str,
        model: str,
        arms: Sequence[dict[str, Any]],
        metric: str = "ctr",
        alpha: float = 0.05,
        guardrails: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Start an A/B/n test on ``model``'s traffic; ``arms``: ``{name, version, split, control[, model]}``;
        ``guardrails``: ``{max_error_rate_increase, max_latency_increase, guardrail_min_requests}`` (optional)."""
        body = {"name": name, "model": model, "arms": list(arms), "metric": metric, "alpha": alpha}
        if guardrails is not None:
            body["guardrails"] = dict(guardrails)
        return dict(self._call("POST", "experiments", json=body))

    def get_experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._call("GET", f"experiments/{int(experiment_id)}"))

    def update_experiment(self, experiment_id: int, **changes: Any) -> dict[str, Any]:
        """Rename an experiment (its split cannot change while it runs)."""
        return dict(self._call("PATCH", f"experiments/{int(experiment_id)}", json=changes))

    def experiment_results(self, experiment_id: int) -> dict[str, Any]:
        """Each arm's rates, the two-proportion test, the always-valid (mSPRT) test and the sample-ratio check."""
        return dict(self._call("GET", f"experiments/{int(experiment_id)}/results"))

    def stop_experiment(self, experiment_id: int) -> dict[str, Any]:
        return dict(self._call("POST", f"experiments/{int(experiment_id)}/stop"))

    def promote_experiment(self, experiment_id: int) -> dict[str, Any]:
        """Deploy the winning arm's version (audited)."""
        return dict(self._call("POST", f"experiments/{int(experiment_id)}/promote"))

    def get_exploration(self, slug: str | ModelConfig) -> dict[str, Any]:
        return dict(self._call("GET", f"models/{_segment(_id(slug))}/exploration"))

    def set_exploration(self, slug: str | ModelConfig, *, weight: float, max_item_age_days: int) -> dict[str, Any]:
        """Give ``weight`` (0-1) of the slots to catalogue items newer than ``max_item_age_days``."""
        body = {"weight": weight, "max_item_age_days": max_item_age_days}
        return dict(self._call("PUT", f"models/{_segment(_id(slug))}/exploration", json=body))

    # --- models, training and versions ----------------------------------------------------------

    def list_recipes(self) -> list[Recipe]:
        """Every recipe with its parameters, ranges and defaults."""
        return [Recipe.from_api(recipe) for recipe in self._call("GET", "recipes")]

    def list_models(self) -> Listing[ModelConfig]:
        return self._list(ModelConfig, "models")

    def create_model(
        self,
        name: str,
        dataset: int | Dataset,
        *,
        slug: str | None = None,
        recipe: str | None = None,
        params: Mapping[str, Any] | None = None,
        schedule: str | None = None,
        auto_deploy: str | None = None,
        auto_deploy_metric: str | None = None,
    ) -> ModelConfig:
        """A model configuration; ``recipe`` left out means the platform's best recommendation recipe."""
        body: dict[str, Any] = {"name": name, "dataset": _id(dataset)}
        optional = {
            "slug": slug,
            "recipe": recipe,
            "params": dict(params) if params is not None else None,
            "schedule": schedule,
            "auto_deploy": auto_deploy,
            "auto_deploy_metric": auto_deploy_metric,
        }
        body.update({key: value for key, value in optional.items() if value is not None})
        return ModelConfig.from_api(self._call("POST", "models", json=body))

    def get_model(self, slug: str | ModelConfig) -> ModelConfig:
        return self._get(ModelConfig, f"models/{_segment(_id(slug))}")

    def update_model(self, slug: str | ModelConfig, **fields: Any) -> ModelConfig:
        """Change fields of a model configuration (name, recipe, params, dataset, schedule, auto_deploy, ...)."""
        return ModelConfig.from_api(self._call("PATCH", f"models/{_segment(_id(slug))}", json=fields))

    def delete_model(self, slug: str | ModelConfig) -> None:
        self._call("DELETE", f"models/{_segment(_id(slug))}")

    def train(
        self,
        slug: str | ModelConfig,
        *,
        tuning_trials: int = 0,
        wait: bool = False,
        progress: ProgressArg = False,
        timeout: float | None = None,
    ) -> TrainingRun:
        """Queue a training run; with ``wait=True``, return it finished (``TrainingFailed`` if it failed)."""
        body = {"tuning_trials": tuning_trials} if tuning_trials else {}
        run = TrainingRun.from_api(self._call("POST", f"models/{_segment(_id(slug))}/train", json=body))
        if wait:
            return self.wait_for_run(run, timeout=timeout, progress=progress)
        return run

    def list_runs(self, slug: str | ModelConfig) -> Listing[TrainingRun]:
        return self._list(TrainingRun, f"models/{_segment(_id(slug))}/runs")

    def get_run(self, run_id: int | TrainingRun) -> TrainingRun:
        return self._get(TrainingRun, f"runs/{_id(run_id)}")

    def cancel_run(self, run_id: int | TrainingRun) -> TrainingRun:
        """Ask a queued or running run to stop (``Conflict`` if it already finished)."""
        return TrainingRun.from_api(self._call("POST", f"runs/{_id(run_id)}/cancel"))

    def wait_for_run(
        self,
        run_id: int | TrainingRun,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        progress: ProgressArg = False,
        raise_on_failure: bool = True,
    ) -> TrainingRun:
        """Poll a training run until it finished; raises ``TrainingFailed`` if it failed or was cancelled."""

        def show(run: TrainingRun) -> tuple[float | None, str]:
            epoch = f", epoch {run.current_epoch}/{run.total_epochs}" if run.total_epochs else ""
            return run.progress, f"{run.status}, {run.stage or 'queued'}{epoch}"

        def failure(run: TrainingRun) -> JobFailed:
            return TrainingFailed(f"Run {run.id} {run.status}: {run.error or 'no reason given'}", run)

        return self._wait(
            lambda: self.get_run(run_id), show, failure, timeout, poll_interval, progress,
            f"run {_id(run_id)}", raise_on_failure,
        )  # fmt: skip

    def list_versions(self, slug: str | ModelConfig) -> Listing[ModelVersion]:
        return self._list(ModelVersion, f"models/{_segment(_id(slug))}/versions")

    def deploy(self, slug: str | ModelConfig, number: int | ModelVersion) -> ModelVersion:
        """Serve this version (an older one is a rollback)."""
        return ModelVersion.from_api(self._call("POST", f"models/{_segment(_id(slug))}/versions/{_id(number)}/deploy"))

    # --- serving --------------------------------------------------------------------------------

    def recommend(
        self,
        slug: str | ModelConfig,
        user_id: str,
        *,
        k: int = 10,
        exclude_seen: bool | None = None,
        exclude: Sequence[str] = (),
        categories: Sequence[str] = (),
        explain: bool = False,
    ) -> Recommendations:
        """Top-``k`` items for a user; ``.fallback`` says when the model did not personalise."""
        params = recommend_params(user_id, k, exclude_seen, exclude, categories, explain)
        return self._get(Recommendations, f"models/{_segment(_id(slug))}/recommendations", params=params)

    def similar_items(
        self,
        slug: str | ModelConfig,
        item_id: str,
        *,
        k: int = 10,
        exclude: Sequence[str] = (),
        categories: Sequence[str] = (),
    ) -> Recommendations:
        """Top-``k`` items like an item."""
        params = similar_params(item_id, k, exclude, categories)
        return self._get(Recommendations, f"models/{_segment(_id(slug))}/similar-items", params=params)

    def rank(self, slug: str | ModelConfig, user_id: str, item_ids: Sequence[str]) -> Recommendations:
        """Order a list of up to 500 items for a user, best first."""
        body = {"user_id": user_id, "item_ids": list(item_ids)}
        return Recommendations.from_api(self._call("POST", f"models/{_segment(_id(slug))}/rank", json=body))

    def recommend_session(
        self,
        slug: str | ModelConfig,
        item_ids: Sequence[str],
        *,
        k: int = 10,
        timestamps: Sequence[str] | None = None,
        event_types: Sequence[str] | None = None,
        exclude_seen: bool = True,
        exclude: Sequence[str] = (),
        categories: Sequence[str] = (),
    ) -> Recommendations:
        """Top-``k`` items for an anonymous session from its recent items (oldest first, or any order with
        ``timestamps``); unknown ids are ignored and counted, an empty session gets the flagged fallback."""
        body: dict[str, Any] = {"item_ids": list(item_ids), "k": k, "exclude_seen": exclude_seen}
        if timestamps is not None:
            body["timestamps"] = list(timestamps)
        if event_types is not None:
            body["event_types"] = list(event_types)
        if exclude:
            body["exclude"] = list(exclude)
        if categories:
            body["category"] = list(categories)
        path = f"models/{_segment(_id(slug))}/session-recommendations"
        return Recommendations.from_api(self._call("POST", path, json=body))

    def predict(self, slug: str | ModelConfig, rows: Any) -> Predictions:
        """Predictions of a tabular model for rows (dicts, or a DataFrame), 1,000 a call, in order."""
        merged: Predictions | None = None
        for chunk in _chunks(_records(rows), ROWS_PER_PREDICT):
            answer = Predictions.from_api(
                self._call("POST", f"models/{_segment(_id(slug))}/predict", json={"rows": [dict(r) for r in chunk]})
            )
            if merged is None:
                merged = answer
            else:
                merged.predictions.extend(answer.predictions)
        if merged is None:
            raise ValueError("No rows to predict.")
        return merged

    def start_batch(
        self,
        slug: str | ModelConfig,
        *,
        user_ids: Sequence[str] | None = None,
        k: int = 10,
        format: str = "csv",
    ) -> BatchJob:
        """Start batch recommendations for every user (or ``user_ids``) on a worker; ``format`` csv or jsonl."""
        body: dict[str, Any] = {"k": k, "format": format}
        if user_ids is not None:
            body["user_ids"] = list(user_ids)
        return BatchJob.from_api(self._call("POST", f"models/{_segment(_id(slug))}/batch-recommendations", json=body))

    def get_batch_job(self, job_id: int | BatchJob) -> BatchJob:
        return self._get(BatchJob, f"batch-jobs/{_id(job_id)}")

    def wait_for_batch(
        self,
        job_id: int | BatchJob,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        progress: ProgressArg = False,
        raise_on_failure: bool = True,
    ) -> BatchJob:
        """Poll a batch job until it finished; raises ``BatchFailed`` if it failed."""

        def show(job: BatchJob) -> tuple[float | None, str]:
            return job.progress, f"{job.status}, {job.users_done:,}/{job.users_total:,} users"

        def failure(job: BatchJob) -> JobFailed:
            return BatchFailed(f"Batch job {job.id} failed: {job.error or 'no reason given'}", job)

        return self._wait(
            lambda: self.get_batch_job(job_id), show, failure, timeout, poll_interval, progress,
            f"batch {_id(job_id)}", raise_on_failure,
        )  # fmt: skip

    def download_batch(self, job_id: int | BatchJob, path: PathLike | None = None) -> bytes | Path:
        """A finished batch's file: streamed to ``path`` (returned), or its bytes when no path is given."""
        response = self._call("GET", f"batch-jobs/{_id(job_id)}/download", stream=True)
        try:
            if path is None:
                content: bytes = response.read()
                return content
            target = Path(path)
            with target.open("wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            return target
        finally:
            response.close()

    def batch_dataframe(self, job_id: int | BatchJob) -> Any:
        """A finished batch's recommendations as a DataFrame."""
        import io

        from .models import require_pandas

        pd = require_pandas()
        job = job_id if isinstance(job_id, BatchJob) else self.get_batch_job(job_id)
        content = self.download_batch(job)
        assert isinstance(content, bytes)
        if job.file_format == "jsonl":
            return pd.read_json(io.BytesIO(content), lines=True)
        return pd.read_csv(io.BytesIO(content), dtype={"user_id": str, "item_id": str})

    # --- waiting --------------------------------------------------------------------------------

    def wait(self, job: ImportJob | TrainingRun | BatchJob, **kwargs: Any) -> Any:
        """Wait for an import, a training run or a batch job (see the ``wait_for_*`` helpers)."""
        if isinstance(job, ImportJob):
            return self.wait_for_import(job, **kwargs)
        if isinstance(job, TrainingRun):
            return self.wait_for_run(job, **kwargs)
        if isinstance(job, BatchJob):
            return self.wait_for_batch(job, **kwargs)
        raise TypeError(f"Nothing to wait for in a {type(job).__name__}.")

    def _wait(
        self,
        fetch: Callable[[], J],
        show: Callable[[J], tuple[float | None, str]],
        failure: Callable[[J], JobFailed],
        timeout: float | None,
        poll_interval: float,
        progress: ProgressArg,
        description: str,
        raise_on_failure: bool,
    ) -> J:
        display = JobProgress(progress, description) if progress else None
        started, waited = time.monotonic(), 0.0
        try:
            while True:
                job = fetch()
                if display is not None:
                    display.update(job, *show(job))
                if job.finished:
                    if job.status != "succeeded" and raise_on_failure:
                        raise failure(job)
                    return job
                if timeout is not None and max(waited, time.monotonic() - started) >= timeout:
                    raise WaitTimeout(f"{description} still {job.status} after {timeout:g}s.", job)
                self._sleep(poll_interval)
                # Also counted in poll intervals, so an injected instant ``sleep`` still ends the wait.
                waited += poll_interval
        finally:
            if display is not None:
                display.close()


def _size_of(handle: IO[bytes]) -> int | None:
    try:
        return os.fstat(handle.fileno()).st_size - handle.tell()
    except (AttributeError, OSError, ValueError):
        return None
