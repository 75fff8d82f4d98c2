"""Results as dataclasses.

Every result keeps the server's whole answer in ``raw`` (not shown in ``repr``), so a field
the server adds later is never lost; ``to_dict()`` gives the fields, ``to_dataframe()`` a
pandas DataFrame where that makes sense. Timestamps (``*_at``) are parsed to ``datetime``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Callable, ClassVar, Generic, TypeVar

T = TypeVar("T", bound="Model")


def _parse_datetime(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


@dataclasses.dataclass
class Model:
    """Base of every result: built from the API's JSON with ``from_api``."""

    raw: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    # Field name → model class of a nested object (or of each element of a list).
    _nested: ClassVar[dict[str, type[Model]]] = {}

    @classmethod
    def from_api(cls: type[T], data: Mapping[str, Any]) -> T:
        """Build from an API answer; unknown fields stay in ``raw``, missing ones keep their defaults."""
        names = {field.name for field in dataclasses.fields(cls)} - {"raw"}
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name not in names:
                continue
            nested = cls._nested.get(name)
            if nested is not None and isinstance(value, list):
                value = [nested.from_api(element) if isinstance(element, Mapping) else element for element in value]
            elif nested is not None and isinstance(value, Mapping):
                value = nested.from_api(value)
            elif name.endswith("_at"):
                value = _parse_datetime(value)
            values[name] = value
        return cls(raw=dict(data), **values)

    def to_dict(self) -> dict[str, Any]:
        """The fields (nested results as dicts), without ``raw``."""
        result = dataclasses.asdict(self)
        _drop_raw(result)
        return result


def _drop_raw(value: Any) -> None:
    if isinstance(value, dict):
        value.pop("raw", None)
        for inner in value.values():
            _drop_raw(inner)
    elif isinstance(value, list):
        for inner in value:
            _drop_raw(inner)


def to_dataframe(records: Iterable[Any]) -> Any:
    """A pandas DataFrame of results (dataclasses or dicts), one row each. Needs ``recsys-client[pandas]``."""
    pd = require_pandas()
    rows = [record.to_dict() if isinstance(record, Model) else dict(record) for record in records]
    return pd.DataFrame.from_records(rows)


def require_pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # an optional extra
        raise ImportError("DataFrames need pandas: pip install 'recsys-client[pandas]'") from exc
    return pd


# --- tenants ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Plan(Model):
    name: str = ""
    max_rows: int | None = None
    max_models: int | None = None
    max_training_runs_per_day: int | None = None
    max_concurrent_trainings: int | None = None
    api_requests_per_minute: int | None = None
    max_upload_bytes: int | None = None


@dataclasses.dataclass
class Tenant(Model):
    name: str = ""
    slug: str = ""
    status: str = ""
    plan: Plan | None = None
    created_at: datetime | None = None

    _nested: ClassVar[dict[str, type[Model]]] = {"plan": Plan}


@dataclasses.dataclass
class WhoAmI(Model):
    """Who a key is: its tenant, and the key's id, name, prefix and scopes."""

    tenant: Tenant | None = None
    api_key: dict[str, Any] | None = None
    user: dict[str, Any] | None = None

    _nested: ClassVar[dict[str, type[Model]]] = {"tenant": Tenant}


@dataclasses.dataclass
class ApiKey(Model):
    """An API key as listed: never the key itself, only its prefix."""

    id: int = 0
    name: str = ""
    prefix: str = ""
    scopes: list[str] = dataclasses.field(default_factory=list)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    created_by: str | None = None
    created_at: datetime | None = None
    is_active: bool = True


@dataclasses.dataclass
class IssuedApiKey(ApiKey):
    """A new key: ``key`` is the full key, shown only this once."""

    key: str = ""


@dataclasses.dataclass
class Usage(Model):
    """Requests by day and endpoint for 30 days, the plan and quota use."""

    days: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    endpoints: dict[str, int] = dataclasses.field(default_factory=dict)
    total: int = 0
    plan: Plan | None = None
    quotas: dict[str, Any] = dataclasses.field(default_factory=dict)

    _nested: ClassVar[dict[str, type[Model]]] = {"plan": Plan}

    def to_dataframe(self) -> Any:
        """Requests per day as a DataFrame (columns ``day``, ``requests``)."""
        return to_dataframe(self.days)


# --- data ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class Dataset(Model):
    id: int = 0
    name: str = ""
    kind: str = ""
    description: str = ""
    target_column: str = ""
    sensitive_columns: list[str] = dataclasses.field(default_factory=list)
    is_event_stream: bool = False
    row_count: int = 0
    stats_updated_at: datetime | None = None
    created_at: datetime | None = None
    stats: dict[str, Any] | None = None


@dataclasses.dataclass
class DatasetStats(Model):
    dataset: int = 0
    updated_at: datetime | None = None
    stats: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ImportJob(Model):
    """An upload being imported by a worker: progress, counts and the first bad rows."""

    id: int = 0
    dataset: int = 0
    status: str = ""
    file_name: str = ""
    file_size: int = 0
    format: str = ""
    options: dict[str, Any] = dataclasses.field(default_factory=dict)
    rows_read: int = 0
    rows_total: int | None = None
    rows_total_is_estimate: bool = False
    progress: float | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_duplicate: int = 0
    error_count: int = 0
    errors: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    message: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    FINISHED: ClassVar[frozenset[str]] = frozenset({"succeeded", "failed"})

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED

    def errors_dataframe(self) -> Any:
        """The reported bad rows (line, column, reason) as a DataFrame."""
        return to_dataframe(self.errors)


@dataclasses.dataclass
class Item(Model):
    item_id: str = ""
    title: str = ""
    categories: list[str] = dataclasses.field(default_factory=list)
    features: dict[str, Any] = dataclasses.field(default_factory=dict)
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclasses.dataclass
class UpsertResult(Model):
    created: int = 0
    updated: int = 0


@dataclasses.dataclass
class Rejection(Model):
    """One rejected event: its index in what you sent, the field and why."""

    index: int = 0
    field: str = ""
    reason: str = ""


@dataclasses.dataclass
class EventsResult(Model):
    """What became of events sent: stored, already stored (same ``event_id``), rejected."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = dataclasses.field(default_factory=list)

    _nested: ClassVar[dict[str, type[Model]]] = {"rejected": Rejection}


@dataclasses.dataclass
class ErasureResult(Model):
    interactions_deleted: int = 0
    features_deleted: int = 0


@dataclasses.dataclass
class DataSettings(Model):
    pseudonymize_user_ids: bool = False
    updated_at: datetime | None = None


# --- training -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Recipe(Model):
    name: str = ""
    task: str = ""
    description: str = ""
    supports: list[str] = dataclasses.field(default_factory=list)
    params: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    is_default: bool = False


@dataclasses.dataclass
class ModelConfig(Model):
    """A model configuration: its recipe, parameters, dataset, schedule and what it serves."""

    slug: str = ""
    name: str = ""
    recipe: str = ""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    dataset: int = 0
    schedule: str = ""
    auto_deploy: str = ""
    auto_deploy_metric: str = ""
    deployment: dict[str, Any] | None = None
    latest_run: dict[str, Any] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclasses.dataclass
class TrainingRun(Model):
    """A training run: status, stage and progress, per-epoch history, metrics and the version made."""

    id: int = 0
    model: str = ""
    status: str = ""
    trigger: str = ""
    recipe: str = ""
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    tuning_trials: int = 0
    tuning: Any = None
    stage: str = ""
    progress: float = 0.0
    current_epoch: int = 0
    total_epochs: int = 0
    history: Any = None
    metrics: Any = None
    error: str = ""
    deploy_decision: str = ""
    cancel_requested: bool = False
    attempts: int = 0
    worker: str = ""
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    duration_seconds: float | None = None
    version: int | None = None

    FINISHED: ClassVar[frozenset[str]] = frozenset({"succeeded", "failed", "cancelled"})

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


@dataclasses.dataclass
class ModelVersion(Model):
    number: int = 0
    recipe: str = ""
    params: Any = None
    metrics: Any = None
    data_snapshot: Any = None
    artifact_bytes: int = 0
    run: int | None = None
    created_at: datetime | None = None
    is_deployed: bool = False


# --- serving ------------------------------------------------------------------------------------


@dataclasses.dataclass
class ScoredItem(Model):
    item_id: str = ""
    score: float | None = None
    because: list[dict[str, Any]] | None = None


@dataclasses.dataclass
class Fallback(Model):
    """What served instead of the model (``popularity``) and why (``unknown_user``, ...)."""

    kind: str = ""
    reason: str = ""


@dataclasses.dataclass
class Recommendations(Model):
    """Recommendations, similar items or a ranked list.

    ``request_id`` identifies this answer; ``recommendation_id`` is kept when the server
    returns one (it may not yet), and ``feedback()`` puts it on the events you send back.
    """

    model: str = ""
    version: int | None = None
    user_id: str | None = None
    item_id: str | None = None
    items: list[ScoredItem] = dataclasses.field(default_factory=list)
    fallback: Fallback | None = None
    request_id: str = ""
    recommendation_id: str | None = None

    _nested: ClassVar[dict[str, type[Model]]] = {"items": ScoredItem, "fallback": Fallback}

    @property
    def item_ids(self) -> list[str]:
        return [item.item_id for item in self.items]

    @property
    def personalised(self) -> bool:
        """True when the model answered, False when a fallback served."""
        return self.fallback is None

    def __iter__(self) -> Iterator[ScoredItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def feedback(
        self,
        item_id: str,
        event_type: str = "click",
        *,
        user_id: str | None = None,
        event_id: str | None = None,
        value: float | None = None,
        timestamp: Any = None,
    ) -> Event:
        """An event about an item of this answer, carrying its ``recommendation_id`` when there is one."""
        who = user_id or self.user_id
        if not who:
            raise ValueError("This answer has no user_id (similar items): pass user_id=.")
        return Event(
            user_id=who,
            item_id=item_id,
            event_type=event_type,
            event_id=event_id,
            value=value,
            timestamp=timestamp,
            recommendation_id=self.recommendation_id,
        )

    def to_dataframe(self) -> Any:
        """One row per item: ``rank``, ``item_id``, ``score`` (and ``because`` when explained)."""
        pd = require_pandas()
        rows = []
        for rank, item in enumerate(self.items, start=1):
            row: dict[str, Any] = {"rank": rank, "item_id": item.item_id, "score": item.score}
            if item.because is not None:
                row["because"] = item.because
            rows.append(row)
        return pd.DataFrame.from_records(rows, columns=None if rows else ["rank", "item_id", "score"])


@dataclasses.dataclass
class Predictions(Model):
    """Predictions of a tabular model, one per row sent, in order."""

    model: str = ""
    version: int | None = None
    predictions: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    request_id: str = ""

    def to_dataframe(self) -> Any:
        return to_dataframe(self.predictions)


@dataclasses.dataclass
class BatchJob(Model):
    """Batch recommendations for many users, written to a file on a worker."""

    id: int = 0
    model: str = ""
    status: str = ""
    file_format: str = ""
    k: int = 0
    users_total: int = 0
    users_done: int = 0
    progress: float = 0.0
    error: str = ""
    created_at: datetime | None = None
    finished_at: datetime | None = None
    download_url: str | None = None

    FINISHED: ClassVar[frozenset[str]] = frozenset({"succeeded", "failed"})

    @property
    def finished(self) -> bool:
        return self.status in self.FINISHED


# --- what you send ------------------------------------------------------------------------------


@dataclasses.dataclass
class Event:
    """One behaviour event to send; ``event_id`` makes a resend safe (the server stores it once)."""

    user_id: str
    item_id: str
    event_type: str | None = None
    value: float | None = None
    timestamp: Any = None
    event_id: str | None = None
    recommendation_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in dataclasses.asdict(self).items():
            if value is None:
                continue
            body[name] = value.isoformat() if isinstance(value, datetime) else value
        return body


M = TypeVar("M")


class Listing(Generic[M]):
    """A paginated list, fetched page by page as you iterate; ``to_list()`` or ``to_dataframe()``."""

    def __init__(self, pages: Callable[[], Iterator[M]]) -> None:
        self._pages = pages

    def __iter__(self) -> Iterator[M]:
        return self._pages()

    def to_list(self) -> list[M]:
        return list(self)

    def to_dataframe(self) -> Any:
        return to_dataframe(self)
