"""The inline SVG charts: round axis ticks, bars in proportion, gaps in lines, a data table beside."""

from django.template import Context, Template

from portal import charts


def test_bars_are_in_proportion_on_a_round_axis():
    chart = charts.bar_chart(["a", "b", "c"], [0, 50, 97], title="t")
    assert [tick["label"] for tick in chart["y_ticks"]] == ["0", "25", "50", "75", "100"]
    heights = [bar["height"] for bar in chart["bars"]]
    assert heights[0] == 0
    assert abs(heights[2] / heights[1] - 97 / 50) < 0.01
    assert chart["bars"][2]["y"] + heights[2] == chart["bottom"]


def test_counts_get_whole_ticks_and_days_short_labels():
    chart = charts.bar_chart(["2026-01-01", "2026-01-02"], [0, 1], title="t")
    assert [tick["label"] for tick in chart["y_ticks"]] == ["0", "1"]
    assert [label["label"] for label in chart["x_labels"]] == ["01-01", "01-02"]
    assert chart["rows"][0][0] == "2026-01-01"


def test_an_empty_series_still_draws_an_axis():
    chart = charts.bar_chart([], [], title="t")
    assert chart["bars"] == []
    assert chart["y_ticks"]


def test_lines_skip_missing_points_and_label_at_most_eight_x_values():
    epochs = list(range(1, 31))
    chart = charts.line_chart(epochs, {"loss": [1 / e for e in epochs], "val_loss": [None] * 30}, title="t")
    loss, val_loss = chart["lines"]
    assert len(loss["points"].split()) == 30
    assert val_loss["points"] == ""
    assert len(chart["x_labels"]) <= charts.MAX_X_LABELS


def test_lines_start_at_zero_unless_their_change_matters_more():
    counted = charts.line_chart([1, 2], {"n": [60, 50]}, title="t")
    loss = charts.line_chart([1, 2], {"loss": [0.69, 0.61]}, title="t", from_zero=False)
    assert counted["y_ticks"][0]["label"] == "0"
    assert [tick["label"] for tick in loss["y_ticks"]] == ["0.6", "0.62", "0.64", "0.66", "0.68", "0.7"]


def test_compact_numbers():
    assert [charts.compact(n) for n in (7, 1234, 2_500_000, 0.031234, None)] == ["7", "1.23k", "2.5M", "0.0312", "–"]


def test_the_template_tag_renders_svg_and_a_data_table():
    html = Template('{% load portal %}{% bar_chart rows "day" "n" "Per day" %}').render(
        Context({"rows": [{"day": "2026-01-01", "n": 3}, {"day": "2026-01-02", "n": 1234}]})
    )
    assert 'role="img" aria-label="Per day"' in html
    assert html.count("<rect") == 2
    assert '<th scope="row">2026-01-02</th><td>1234</td>' in html


def test_a_classifier_run_gets_one_chart_per_quantity_with_validation_told_apart():
    """Once eight lines on one axis, four of them black dots without a legend colour (issue 13)."""
    from portal.reports import training_curves

    history = [
        {"stage": stage, "epoch": epoch, "loss": 0.7 - epoch / 100, "accuracy": 0.5 + epoch / 100,
         "val_loss": 0.72 - epoch / 100, "val_accuracy": 0.48 + epoch / 100}
        for stage in ("evaluating", "training") for epoch in range(1, 6)
    ]  # fmt: skip
    curves = training_curves(history)
    assert [chart["quantity"] for chart in curves] == ["loss", "accuracy"]
    assert curves[0]["title"].startswith("Loss per epoch")
    assert curves[0]["names"] == [
        "training (evaluation run)", "validation (evaluation run)",
        "training (final run)", "validation (final run)",
    ]  # fmt: skip
    html = str(line_chart_tag(curves[1]))
    # Four lines, each with a colour of its own in the legend; the two validation lines are dashed.
    assert html.count('class="chart-line series-') == 4 and "series-4" not in html
    assert html.count("chart-line series-1 is-dashed") == 1 and html.count("chart-line series-3 is-dashed") == 1
    assert html.count('<span class="swatch"') == 4


def line_chart_tag(chart):
    from django.template import Context, Template

    template = Template('{% load portal %}{% line_chart chart.rows "epoch" chart.names chart.title from_zero=False %}')
    return template.render(Context({"chart": chart}))
