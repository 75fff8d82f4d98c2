"""Charts as inline SVG, computed on the server so that the portal needs no chart library.

Each function turns a series into the geometry its template (``portal/charts/``)
draws: a fixed view box that scales with the page, axis ticks at round
numbers, and the data again as a table for people who cannot see the chart.
"""

import math
import re

WIDTH, HEIGHT = 560, 230
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 14, 30
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
TICKS = 4
MAX_X_LABELS = 8
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def compact(number):
    """``1234`` → ``1.2k``, ``0.0321`` → ``0.032``: short labels for axes."""
    if number is None:
        return "–"
    size = abs(number)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{number / limit:.3g}{suffix}"
    return f"{number:.3g}" if isinstance(number, float) else str(number)


def _nice_step(span, integers):
    raw = span / TICKS
    if integers and raw <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(raw))
    steps = [step * magnitude for step in (1, 2, 2.5, 5, 10)]
    return next(step for step in steps if step >= raw and (not integers or float(step).is_integer()))


def _axis(low, high, integers=False):
    """Round bounds and tick values that cover ``low``..``high``; counts get whole-number ticks."""
    if high <= low:
        high = low + 1
    step = _nice_step(high - low, integers)
    start, end = math.floor(low / step) * step, math.ceil(high / step) * step
    ticks = [start + i * step for i in range(round((end - start) / step) + 1)]
    return start, end, ticks


def _scale(value, low, high):
    """The y coordinate of ``value`` on an axis from ``low`` (bottom) to ``high`` (top)."""
    return TOP + PLOT_HEIGHT * (1 - (value - low) / (high - low))


def _y_ticks(low, high, ticks):
    return [{"y": round(_scale(tick, low, high), 1), "label": compact(tick)} for tick in ticks]


def _short(label):
    """Days as month-day on the axis (the data table keeps the whole date)."""
    return label[5:] if isinstance(label, str) and ISO_DAY.fullmatch(label) else label


def _x_labels(labels, position):
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    return [{"x": round(position(i), 1), "label": _short(label)} for i, label in enumerate(labels) if i % every == 0]


def _frame(title, ticks):
    return {
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": TOP + PLOT_HEIGHT,
        "y_ticks": ticks,
    }


def bar_chart(labels, values, *, title):
    """Bars of ``values`` (non-negative numbers) labelled by ``labels``."""
    values = [value or 0 for value in values]
    low, high, ticks = _axis(0, max(values, default=0), integers=all(isinstance(value, int) for value in values))
    slot = PLOT_WIDTH / max(len(values), 1)
    bars = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = _scale(value, low, high)
        bars.append(
            {
                "x": round(LEFT + i * slot + slot * 0.1, 1),
                "y": round(y, 1),
                "width": round(slot * 0.8, 1),
                "height": round(TOP + PLOT_HEIGHT - y, 1),
                "label": label,
                "value": value,
            }
        )
    return {
        **_frame(title, _y_ticks(low, high, ticks)),
        "bars": bars,
        "x_labels": _x_labels(labels, lambda i: LEFT + (i + 0.5) * slot),
        "rows": list(zip(labels, values, strict=True)),
    }


def line_chart(x_values, series, *, title, from_zero=True):
    """Lines over ``x_values``; ``series`` maps a name to values (``None`` where a line has no point).

    ``from_zero`` puts zero on the axis, so that counts keep their proportions; curves whose change
    matters more than their size (a loss going from 0.69 to 0.61) leave it out.
    """
    present = [value for values in series.values() for value in values if value is not None]
    floor = [0] if from_zero or not present else []
    low, high, ticks = _axis(min([*floor, *present], default=0), max([*floor, *present], default=1))
    last = max(len(x_values) - 1, 1)

    def x_of(i):
        return LEFT + PLOT_WIDTH * i / last

    lines = []
    for index, (name, values) in enumerate(series.items()):
        points = [(round(x_of(i), 1), round(_scale(v, low, high), 1)) for i, v in enumerate(values) if v is not None]
        lines.append(
            {
                "name": name,
                "index": index,
                # Validation lines are dashed: told apart from training lines without relying on colour.
                "dashed": name.startswith("validation"),
                "points": " ".join(f"{x},{y}" for x, y in points),
                "dots": points if len(points) <= 40 else [],
            }
        )
    return {
        **_frame(title, _y_ticks(low, high, ticks)),
        "lines": lines,
        "x_labels": _x_labels(x_values, x_of),
        "names": list(series),
        "rows": [(x, [values[i] for values in series.values()]) for i, x in enumerate(x_values)],
    }


def band_chart(x_values, series, *, title):
    """Lines with a shaded confidence band each: ``series`` maps a name to ``[(value, (low, high)), ...]``.

    A point without data is ``None`` (no line there, and no band); rates run from zero.
    """
    present = [
        bound
        for points in series.values()
        for point in points
        if point is not None
        for bound in (point[0], *(point[1] or ()))
    ]
    low, high, ticks = _axis(0, max(present, default=1))
    last = max(len(x_values) - 1, 1)

    def x_of(i):
        return LEFT + PLOT_WIDTH * i / last

    lines = []
    for index, (name, points) in enumerate(series.items()):
        shown = [(i, point) for i, point in enumerate(points) if point is not None]
        centre = [(round(x_of(i), 1), round(_scale(value, low, high), 1)) for i, (value, _) in shown]
        upper = [(round(x_of(i), 1), round(_scale(bounds[1], low, high), 1)) for i, (_, bounds) in shown if bounds]
        lower = [(round(x_of(i), 1), round(_scale(bounds[0], low, high), 1)) for i, (_, bounds) in shown if bounds]
        lines.append(
            {
                "name": name,
                "index": index,
                "points": " ".join(f"{x},{y}" for x, y in centre),
                "band": " ".join(f"{x},{y}" for x, y in [*upper, *reversed(lower)]),
                "dots": centre if len(centre) <= 40 else [],
            }
        )
    return {
        **_frame(title, _y_ticks(low, high, ticks)),
        "lines": lines,
        "x_labels": _x_labels(x_values, x_of),
        "names": list(series),
        "rows": [
            (x, [None if points[i] is None else _band_label(points[i]) for points in series.values()])
            for i, x in enumerate(x_values)
        ],
    }


def _band_label(point):
    value, bounds = point
    return f"{value:.4f} ({bounds[0]:.4f}–{bounds[1]:.4f})" if bounds else f"{value:.4f}"
