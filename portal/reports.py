"""Shaping what training stored (metrics beside the baseline, per-epoch history) into what the pages show."""

from recommender.ml.metrics import is_default_metric, lower_is_better

HISTORY_KEYS = ("epoch", "stage")
# Training fits a recipe twice: on a split, to evaluate it beside the baseline, then on all the data.
STAGE_NAMES = {"evaluating": "evaluation run", "training": "final run"}


def _ordered(names):
    """Each task's default metric first; the others follow in their stored order."""
    return sorted(names, key=lambda name: not is_default_metric(name))


def metric_rows(report):
    """``[{"name", "value", "baseline", "lift"}]`` from a run's or version's evaluation report."""
    report = report or {}
    metrics, baseline, lift = report.get("metrics", {}), report.get("baseline", {}), report.get("lift", {})
    return [
        {"name": name, "value": metrics[name], "baseline": baseline.get(name), "lift": lift.get(name)}
        for name in _ordered(metrics)
    ]


def training_curves(history):
    """One chart per quantity the history holds (loss first, then the task's metrics), each a dict of
    ``title``, per-epoch ``rows`` and line ``names``: training and validation of each stage, e.g.
    ``validation (final run)``. Four lines at most per chart, each with its own colour in the legend.
    """
    charts = {}
    for entry in history:
        stage = STAGE_NAMES.get(entry.get("stage", "training"), entry.get("stage", "training"))
        for key, value in entry.items():
            if key in HISTORY_KEYS:
                continue
            validation = key.startswith("val_")
            quantity = key.removeprefix("val_")
            chart = charts.setdefault(quantity, {"rows": {}, "names": []})
            name = f"{'validation' if validation else 'training'} ({stage})"
            if name not in chart["names"]:
                chart["names"].append(name)
            chart["rows"].setdefault(entry["epoch"], {"epoch": entry["epoch"]})[name] = value
    ordered = sorted(charts, key=lambda quantity: quantity != "loss")
    return [
        {
            "quantity": quantity,
            "title": f"{quantity.replace('_', ' ').capitalize()} per epoch, on the evaluation split and in the "
            "final training",
            "rows": [charts[quantity]["rows"][epoch] for epoch in sorted(charts[quantity]["rows"])],
            "names": charts[quantity]["names"],
        }
        for quantity in ordered
    ]


def _best(name, values):
    present = [value for value in values if isinstance(value, int | float)]
    if len(present) < 2:
        return None
    return min(present) if lower_is_better(name) else max(present)


def version_comparison(versions):
    """Rows that put versions side by side: each metric (with its baseline), then the data and parameters.

    Each row is ``{"label", "cells": [{"value", "baseline", "best"}]}``, one cell per version.
    """
    reports = [version.metrics or {} for version in versions]
    names = _ordered(dict.fromkeys(name for report in reports for name in report.get("metrics", {})))
    rows = []
    for name in names:
        values = [report.get("metrics", {}).get(name) for report in reports]
        best = _best(name, values)
        rows.append(
            {
                "label": name,
                "cells": [
                    {"value": value, "baseline": report.get("baseline", {}).get(name), "best": value == best}
                    for value, report in zip(values, reports, strict=True)
                ],
            }
        )
    for key in ("rows", "users", "items"):
        rows.append({"label": f"{key} trained on", "cells": [{"value": v.data_snapshot.get(key)} for v in versions]})
    for name in dict.fromkeys(name for version in versions for name in version.params):
        rows.append({"label": name, "cells": [{"value": version.params.get(name)} for version in versions]})
    return rows


def version_summaries(versions, deployment):
    """Each version with its main metric beside the baseline, and whether it is the one serving."""
    serving_id = deployment.version_id if deployment else None
    return [
        {
            "version": version,
            "main": next(iter(metric_rows(version.metrics)), None),
            "serving": version.pk == serving_id,
        }
        for version in versions
    ]


# What each stage of a run is, in a person's words (``TrainingRun.stage``).
STAGE_WORDS = {
    "loading data": "loading the data",
    "tuning": "tuning the parameters",
    "evaluating": "evaluating on a held-out split",
    "training": "training on all the data",
    "saving": "saving the version",
}


def progress_line(run):
    """The one sentence the run's page shows, from the run's own fields, so the badge, bar and line agree.

    ``Running · evaluating on a held-out split: epoch 3 of 20 · 21%``; a finished run says only its status.
    """
    if run.is_finished:
        return f"{run.get_status_display()} · 100%" if run.status == "succeeded" else run.get_status_display()
    if run.status == "queued":
        return f"Queued{f' ({run.stage})' if run.stage else ''}: waiting for a worker"
    stage = STAGE_WORDS.get(run.stage, run.stage or "starting")
    counted = run.total_epochs and run.stage in ("tuning", "evaluating", "training")
    epochs = f": epoch {run.current_epoch} of {run.total_epochs}" if counted else ""
    return f"{run.get_status_display()} · {stage}{epochs} · {round(100 * run.progress)}%"
