"""The ``recsys`` command line: the client's calls as commands, output as tables or JSON (``--json``)."""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

try:
    import click
except ImportError:  # the command line is an optional extra
    print("The recsys command needs click: pip install 'recsys-client[cli]'", file=sys.stderr)
    raise SystemExit(2) from None

from . import config
from .client import Client
from .errors import ApiError, JobFailed, RecsysError
from .models import Model

# --- output ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return value.raw
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(inner) for inner in value]
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def metrics_summary(metrics: Any) -> str:
    """A run's or version's metrics in one short line: the model's, then the baseline's, e.g.
    ``ndcg@10 0.155, hr@10 0.317 (baseline ndcg@10 0.056)``; ``--json`` shows them all."""
    if not isinstance(metrics, dict):
        return _cell(metrics)
    scores: dict[str, Any] = metrics["metrics"] if isinstance(metrics.get("metrics"), dict) else metrics
    numbers = [(name, value) for name, value in scores.items() if isinstance(value, (int, float))]
    summary = ", ".join(f"{name} {value:.3g}" for name, value in numbers[:3])
    baseline = metrics.get("baseline")
    if isinstance(baseline, dict) and numbers and isinstance(baseline.get(numbers[0][0]), (int, float)):
        summary += f" (baseline {numbers[0][0]} {baseline[numbers[0][0]]:.3g})"
    return summary


# Fields shown in a table or record through a summary rather than in full.
SUMMARIES: dict[str, Callable[[Any], str]] = {"metrics": metrics_summary}


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Rows as an aligned plain-text table with a header."""
    cells = [[SUMMARIES.get(column, _cell)(row.get(column)) for column in columns] for row in rows]
    widths = [max([len(column), *(len(line[i]) for line in cells)]) for i, column in enumerate(columns)]
    lines = ["  ".join(column.upper().ljust(width) for column, width in zip(columns, widths)).rstrip()]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(lines)


class Output:
    """Prints results as a table or key/value lines, or as the API's JSON with ``--json``."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def json(self, value: Any) -> None:
        click.echo(json.dumps(_plain(value), indent=2, default=str))

    def rows(self, records: Iterable[Model], columns: Sequence[str]) -> None:
        records = list(records)
        if self.as_json:
            self.json(records)
        else:
            click.echo(table([{c: getattr(r, c, r.raw.get(c)) for c in columns} for r in records], columns))

    def record(self, record: Any, fields: Sequence[str]) -> None:
        if self.as_json:
            self.json(record)
            return
        width = max(len(field) for field in fields)
        for field in fields:
            click.echo(f"{field.ljust(width)}  {SUMMARIES.get(field, _cell)(getattr(record, field, None))}")

    def note(self, message: str) -> None:
        """A remark for people: on stderr, so ``--json`` output stays parseable."""
        click.echo(message, err=True)


# --- context --------------------------------------------------------------------------------------


@dataclasses.dataclass
class State:
    base_url: str | None = None
    api_key: str | None = None
    as_json: bool = False
    # Tests hand in an httpx transport here; people never need to.
    transport: Any = None
    _client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            base_url, api_key = config.resolve(self.base_url, self.api_key)
            if not base_url or not api_key:
                raise click.UsageError(
                    "No base URL or API key: run `recsys configure`, set RECSYS_BASE_URL and RECSYS_API_KEY, "
                    "or pass --base-url and --api-key."
                )
            self._client = Client(base_url, api_key, transport=self.transport)
        return self._client

    @property
    def out(self) -> Output:
        return Output(self.as_json)


def _state() -> State:
    ctx = click.get_current_context()
    obj = ctx.find_object(State)
    assert obj is not None
    return obj


def command(group: click.Group, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
    """A subcommand that also takes ``--json`` after its arguments."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        @click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of a table.")
        @functools.wraps(function)
        def run(*f_args: Any, as_json: bool, **f_kwargs: Any) -> Any:
            state = _state()
            state.as_json = state.as_json or as_json
            return function(state, *f_args, **f_kwargs)

        created: click.Command = group.command(*args, **kwargs)(run)
        return created

    return decorate


class Cli(click.Group):
    """Turns the client's errors into one clear line (and the API's details) and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            click.echo(f"error: {exc}", err=True)
            if exc.details:
                click.echo(f"details: {json.dumps(exc.details, default=str)}", err=True)
            ctx.exit(1)
        except JobFailed as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except (RecsysError, PermissionError) as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=Cli)
@click.option("--base-url", envvar="RECSYS_BASE_URL", help="The platform, e.g. http://127.0.0.1:8000.")
@click.option("--api-key", envvar="RECSYS_API_KEY", help="An API key (better: RECSYS_API_KEY or `recsys configure`).")
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON instead of tables.")
@click.version_option(package_name="recsys-client")
@click.pass_context
def cli(ctx: click.Context, base_url: str | None, api_key: str | None, as_json: bool) -> None:
    """Work with the recommendation platform: data, training, deployments, recommendations, usage."""
    state = ctx.ensure_object(State)
    state.base_url = base_url or state.base_url
    state.api_key = api_key or state.api_key
    state.as_json = as_json
    ctx.call_on_close(lambda: state._client.close() if state._client else None)


def main() -> None:
    cli(prog_name="recsys")


# --- configuration and account --------------------------------------------------------------------


@cli.command()
@click.option("--base-url", "url", prompt="Base URL", default="http://127.0.0.1:8000", show_default=True)
@click.option("--api-key", "key", prompt="API key", hide_input=True)
def configure(url: str, key: str) -> None:
    """Save a base URL and API key to the config file (mode 0600) and check them."""
    with Client(url, key, transport=_state().transport) as client:
        me = client.whoami()
    path = config.save_config({"base_url": url, "api_key": key})
    tenant = me.tenant.name if me.tenant else "?"
    scopes = ", ".join((me.api_key or {}).get("scopes", []))
    click.echo(f"Saved to {path}: tenant {tenant}, key scopes {scopes}.")


@command(cli)
def whoami(state: State) -> None:
    """The key's tenant, plan and scopes."""
    me = state.client().whoami()
    if state.as_json:
        return state.out.json(me)
    key = me.api_key or {}
    plan = me.tenant.plan.name if me.tenant and me.tenant.plan else ""
    click.echo(f"tenant  {me.tenant.name if me.tenant else ''} ({me.tenant.slug if me.tenant else ''})")
    click.echo(f"plan    {plan}")
    click.echo(f"key     {key.get('name', '')} ({key.get('prefix', '')}), scopes {', '.join(key.get('scopes', []))}")


@command(cli)
def usage(state: State) -> None:
    """Requests over 30 days by endpoint, and quota use."""
    report = state.client().usage()
    if state.as_json:
        return state.out.json(report)
    click.echo(f"Requests in 30 days: {report.total:,} (plan {report.plan.name if report.plan else ''})")
    endpoints = [{"endpoint": name, "requests": count} for name, count in sorted(report.endpoints.items())]
    if endpoints:
        click.echo(table(endpoints, ["endpoint", "requests"]))
    quotas = [{"quota": name, **(value if isinstance(value, dict) else {"used": value})} for name, value in
              report.quotas.items()]  # fmt: skip
    if quotas:
        click.echo()
        click.echo(table(quotas, ["quota", "used", "limit"]))


@command(cli)
def recipes(state: State) -> None:
    """The recipes a model can use."""
    state.out.rows(state.client().list_recipes(), ["name", "task", "is_default", "description"])


# --- data -----------------------------------------------------------------------------------------


@cli.group()
def datasets() -> None:
    """List, create and inspect datasets."""


DATASET_COLUMNS = ["id", "name", "kind", "row_count", "created_at"]


@command(datasets, "list")
def datasets_list(state: State) -> None:
    """Every dataset."""
    state.out.rows(state.client().list_datasets(), DATASET_COLUMNS)


@command(datasets, "create")
@click.argument("name")
@click.option("--kind", type=click.Choice(["interactions", "items", "users", "tabular"]), default="interactions")
@click.option("--description", default="")
@click.option("--target-column", default="", help="Tabular datasets: the column to predict.")
def datasets_create(state: State, name: str, kind: str, description: str, target_column: str) -> None:
    """Create a dataset."""
    dataset = state.client().create_dataset(name, kind, description=description, target_column=target_column)
    state.out.record(dataset, DATASET_COLUMNS)


@command(datasets, "show")
@click.argument("dataset_id", type=int)
def datasets_show(state: State, dataset_id: int) -> None:
    """A dataset and its statistics."""
    dataset = state.client().get_dataset(dataset_id)
    state.out.record(dataset, [*DATASET_COLUMNS, "description", "stats"])


def _mapping(pairs: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        source, sep, target = pair.partition("=")
        if not sep or not source or not target:
            raise click.BadParameter(f"'{pair}': use FILE_COLUMN=PLATFORM_COLUMN, e.g. userId=user_id.")
        mapping[source] = target
    return mapping


IMPORT_FIELDS = ["id", "dataset", "status", "file_name", "rows_read", "rows_loaded", "rows_rejected",
                 "rows_duplicate", "message"]  # fmt: skip


@command(cli, "import")
@click.argument("dataset_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl", "parquet"]), help="Else guessed.")
@click.option("--delimiter", help="CSV only: one character, or 'tab'. Else sniffed.")
@click.option("--map", "mapping", multiple=True, metavar="FILE_COL=COL", help="Rename a column, e.g. userId=user_id.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the import to finish.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Progress bars on stderr.")
def import_(
    state: State,
    dataset_id: int,
    path: Path,
    file_format: str | None,
    delimiter: str | None,
    mapping: Sequence[str],
    on_error: str,
    wait: bool,
    progress: bool,
) -> None:
    """Upload PATH (CSV, JSON Lines or Parquet, gzip allowed) into a dataset and wait for the import."""
    client = state.client()
    job = client.import_file(
        dataset_id, path, format=file_format, delimiter=delimiter, column_mapping=_mapping(mapping),
        on_error=on_error, progress=progress,
    )  # fmt: skip
    if wait:
        job = client.wait_for_import(job, progress=progress, raise_on_failure=False)
    state.out.record(job, IMPORT_FIELDS)
    if job.errors and not state.as_json:
        click.echo()
        click.echo(table(job.errors, ["line", "column", "reason"]))
    if job.status == "failed":
        raise SystemExit(1)


@cli.group()
def imports() -> None:
    """Imports: list and show."""


@command(imports, "list")
@click.option("--dataset", "dataset_id", type=int, help="Only this dataset's imports.")
def imports_list(state: State, dataset_id: int | None) -> None:
    """Imports, newest first."""
    state.out.rows(state.client().list_imports(dataset_id), ["id", "dataset", "status", "file_name", "rows_loaded",
                                                             "rows_rejected", "created_at"])  # fmt: skip


@command(imports, "show")
@click.argument("import_id", type=int)
def imports_show(state: State, import_id: int) -> None:
    """An import's progress and its first bad rows."""
    job = state.client().get_import(import_id)
    state.out.record(job, IMPORT_FIELDS)
    if job.errors and not state.as_json:
        click.echo()
        click.echo(table(job.errors, ["line", "column", "reason"]))


def _read_events(path: Path) -> list[dict[str, Any]]:
    """Events from a JSON Lines file, a JSON array (or ``{"events": [...]}``), or a CSV file with a header."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        return [{key: value for key, value in row.items() if value not in (None, "")} for row in rows]
    if stripped.startswith("["):
        listed: list[dict[str, Any]] = json.loads(text)
        return listed
    if stripped.startswith("{") and path.suffix.lower() == ".json":
        document = json.loads(text)
        return document["events"] if isinstance(document, dict) and "events" in document else [document]
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise click.BadParameter(f"{path}, line {number}: not JSON ({exc.msg}).") from None
    return events


@cli.group()
def events() -> None:
    """Send behaviour events."""


@command(events, "send")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dataset", "dataset_id", type=int, help="An interactions dataset; else the 'events' dataset.")
def events_send(state: State, path: Path, dataset_id: int | None) -> None:
    """Send the events in PATH (JSON Lines, a JSON array or CSV), 1,000 a call."""
    result = state.client().send_events(_read_events(path), dataset=dataset_id)
    if state.as_json:
        return state.out.json(result)
    click.echo(f"accepted {result.accepted:,}, duplicates {result.duplicates:,}, rejected {len(result.rejected):,}")
    if result.rejected:
        click.echo(table([rejection.to_dict() for rejection in result.rejected], ["index", "field", "reason"]))
        raise SystemExit(1)


# --- models ---------------------------------------------------------------------------------------


@cli.group()
def models() -> None:
    """List, create and inspect models."""


MODEL_COLUMNS = ["slug", "name", "recipe", "dataset", "auto_deploy"]


def _param(pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"'{pair}': use NAME=VALUE, e.g. epochs=5.")
        try:
            params[name] = json.loads(value)
        except json.JSONDecodeError:
            params[name] = value
    return params


@command(models, "list")
def models_list(state: State) -> None:
    """Every model with what it serves."""
    rows = []
    for model in state.client().list_models():
        deployed = (model.deployment or {}).get("version")
        rows.append({**{c: getattr(model, c) for c in MODEL_COLUMNS}, "deployed": deployed})
    if state.as_json:
        return state.out.json(rows)
    click.echo(table(rows, [*MODEL_COLUMNS, "deployed"]))


@command(models, "create")
@click.argument("name")
@click.option("--dataset", "dataset_id", type=int, required=True)
@click.option("--slug")
@click.option("--recipe", help="Else the platform's best recommendation recipe (`recsys recipes`).")
@click.option("--param", "params", multiple=True, metavar="NAME=VALUE", help="A hyperparameter (JSON value).")
@click.option("--auto-deploy", type=click.Choice(["never", "always", "if_better"]))
def models_create(
    state: State,
    name: str,
    dataset_id: int,
    slug: str | None,
    recipe: str | None,
    params: Sequence[str],
    auto_deploy: str | None,
) -> None:
    """Create a model configuration on a dataset."""
    model = state.client().create_model(
        name, dataset_id, slug=slug, recipe=recipe, params=_param(params) or None, auto_deploy=auto_deploy
    )
    state.out.record(model, [*MODEL_COLUMNS, "params"])


@command(models, "show")
@click.argument("slug")
def models_show(state: State, slug: str) -> None:
    """A model configuration, its deployment and latest run."""
    state.out.record(state.client().get_model(slug), [*MODEL_COLUMNS, "params", "deployment", "latest_run"])


RUN_FIELDS = ["id", "model", "status", "stage", "progress", "recipe", "metrics", "error", "deploy_decision", "version"]


@command(cli)
@click.argument("slug")
@click.option("--tuning-trials", type=click.IntRange(0, 30), default=0)
@click.option("--watch/--no-watch", default=True, show_default=True, help="Follow the run until it finishes.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="A progress bar on stderr.")
def train(state: State, slug: str, tuning_trials: int, watch: bool, progress: bool) -> None:
    """Train a model; by default follow the run with a progress bar."""
    client = state.client()
    run = client.train(slug, tuning_trials=tuning_trials)
    if watch:
        run = client.wait_for_run(run, progress=progress, raise_on_failure=False)
    state.out.record(run, RUN_FIELDS)
    if run.status in ("failed", "cancelled"):
        raise SystemExit(1)


@cli.group()
def runs() -> None:
    """Training runs: list, show, watch, cancel."""


@command(runs, "list")
@click.argument("slug")
def runs_list(state: State, slug: str) -> None:
    """A model's runs, newest first."""
    state.out.rows(state.client().list_runs(slug), ["id", "status", "stage", "progress", "recipe", "version",
                                                    "queued_at"])  # fmt: skip


@command(runs, "show")
@click.argument("run_id", type=int)
def runs_show(state: State, run_id: int) -> None:
    """A run's state and metrics."""
    state.out.record(state.client().get_run(run_id), RUN_FIELDS)


@command(runs, "watch")
@click.argument("run_id", type=int)
@click.option("--progress/--no-progress", default=True, show_default=True)
def runs_watch(state: State, run_id: int, progress: bool) -> None:
    """Follow a run until it finishes."""
    run = state.client().wait_for_run(run_id, progress=progress, raise_on_failure=False)
    state.out.record(run, RUN_FIELDS)
    if run.status in ("failed", "cancelled"):
        raise SystemExit(1)


@command(runs, "cancel")
@click.argument("run_id", type=int)
def runs_cancel(state: State, run_id: int) -> None:
    """Ask a run to stop."""
    state.out.record(state.client().cancel_run(run_id), RUN_FIELDS)


VERSION_COLUMNS = ["number", "recipe", "is_deployed", "run", "metrics", "created_at"]


@command(cli)
@click.argument("slug")
def versions(state: State, slug: str) -> None:
    """A model's versions and which one is deployed."""
    state.out.rows(state.client().list_versions(slug), VERSION_COLUMNS)


@command(cli)
@click.argument("slug")
@click.argument("number", type=int)
def deploy(state: State, slug: str, number: int) -> None:
    """Serve version NUMBER of a model (an older one is a rollback)."""
    state.out.record(state.client().deploy(slug, number), VERSION_COLUMNS)


# --- serving --------------------------------------------------------------------------------------


def _print_answer(state: State, answer: Any) -> None:
    if state.as_json:
        return state.out.json(answer)
    rows = [{"rank": rank, "item_id": item.item_id, "score": item.score} for rank, item in enumerate(answer, 1)]
    click.echo(table(rows, ["rank", "item_id", "score"]))
    if answer.fallback:
        state.out.note(f"not personalised: {answer.fallback.kind} ({answer.fallback.reason})")
    state.out.note(f"model {answer.model} version {answer.version}, request {answer.request_id}")


def _split(values: Sequence[str]) -> list[str]:
    return [part for value in values for part in value.split(",") if part]


@command(cli)
@click.argument("slug")
@click.argument("user_id")
@click.option("-k", type=click.IntRange(1, 500), default=10, show_default=True)
@click.option("--exclude", multiple=True, help="Item ids (comma-separated or repeated).")
@click.option("--category", multiple=True, help="Only these categories (comma-separated or repeated).")
@click.option("--explain", is_flag=True, help="For each item, the user's items that support it.")
@click.option("--include-seen", is_flag=True, help="Also items the user already interacted with.")
def recommend(
    state: State,
    slug: str,
    user_id: str,
    k: int,
    exclude: Sequence[str],
    category: Sequence[str],
    explain: bool,
    include_seen: bool,
) -> None:
    """Top-k recommendations for a user."""
    answer = state.client().recommend(
        slug, user_id, k=k, exclude=_split(exclude), categories=_split(category), explain=explain,
        exclude_seen=False if include_seen else None,
    )  # fmt: skip
    _print_answer(state, answer)


@command(cli)
@click.argument("slug")
@click.argument("item_id")
@click.option("-k", type=click.IntRange(1, 500), default=10, show_default=True)
def similar(state: State, slug: str, item_id: str, k: int) -> None:
    """Items like an item."""
    _print_answer(state, state.client().similar_items(slug, item_id, k=k))


@command(cli)
@click.argument("slug")
@click.option("-k", type=click.IntRange(1, 100), default=10, show_default=True)
@click.option("--format", "file_format", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--progress/--no-progress", default=True, show_default=True)
def batch(state: State, slug: str, k: int, file_format: str, output: Path, progress: bool) -> None:
    """Recommendations for every user, written to OUTPUT."""
    client = state.client()
    job = client.wait_for_batch(client.start_batch(slug, k=k, format=file_format), progress=progress)
    client.download_batch(job, output)
    state.out.note(f"{job.users_total:,} users written to {output}")
    if state.as_json:
        state.out.json(job)


if __name__ == "__main__":  # pragma: no cover
    main()
