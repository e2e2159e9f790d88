"""Plot builders shared by every demo: results and sweep tables in, plotly figures out.

Each demo module adds its own views (`samples_figure`, `model_figure`); these are the charts that
look the same for all four demos, so a student learns to read them once.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tl_core.narrate import signed
from tl_core.result import RunResult, StrategyResult
from tl_core.strategies import BASELINE, color, label
from tl_core.tables import strategy_rows, summarize

# A legend under the plot, placed from the figure's bottom edge (plotly makes room for it above):
# below the x axis's title at any height. Placed at a share of the plot's height below it, as
# before, it ran into the axis title on a short chart (a phone's).
LEGEND_BELOW = dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0)
FIELD_TITLES = {
    "n_target": "labelled target samples",
    "gap": "gap between source and target",
    "lam": "λ of regularized transfer",
    "epochs": "epochs of target training",
}
DEMO_COLORS = {"linear": "#1f77b4", "logistic": "#ff7f0e", "cnn": "#2ca02c", "rnn": "#9467bd"}
LAYOUT = dict(
    template="plotly_white",
    margin=dict(l=60, r=20, t=60, b=50),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0),
)


R2_FLOOR = -1.0  # an R² further below only says "far worse than predicting the mean": axes stop here
NEAR = 0.04  # points closer than this share of each axis's span share one label
# Label placement works in shares of the axes, on the plot area the pages give this chart beside
# the headline at 1280 to 1440 px wide: about PLOT_WIDTH_PX x 330 pixels. Sized for a wider chart,
# two labels side by side at one height were placed over each other on the page. A label's
# character (~6.5 px wide) and line (~16 px high), the gap between a point and its label, and a
# 14 px marker:
PLOT_WIDTH_PX = 470
CHAR_SHARE, LINE_SHARE, MARKER_SHARE = 6.5 / PLOT_WIDTH_PX, 0.05, 0.025
MARKER_HALF_WIDTH, MARKER_HALF_HEIGHT = 7 / PLOT_WIDTH_PX, 0.02
RIGHT_MARGIN_PX = 60  # the chart's right margin: room for the end of a label beside a point
RIGHT_ROOM = RIGHT_MARGIN_PX / PLOT_WIDTH_PX


class _Point(NamedTuple):
    strategy: StrategyResult
    x: float  # where it is drawn: at the axis's floor when its score lies below it
    y: float
    off: bool  # drawn at the floor


def _value(value: float, metric: str) -> str:
    """A metric in a hover label: accuracy in percent (as the page's text gives it), else 3 decimals."""
    return f"{value:.1%}" if metric == "accuracy" else f"{value:.3f}"


def _percent_axes(fig: go.Figure, metric: str, x: bool = False) -> None:
    """Accuracy axes tick in percent, as the page's sentences and tables give it (R² stays a number)."""
    if metric == "accuracy":
        fig.update_yaxes(tickformat=".0%")
        if x:
            fig.update_xaxes(tickformat=".0%")


def source_vs_target(result: RunResult) -> go.Figure:
    """Source accuracy (x) against target accuracy (y), one point per strategy.

    Up is better on the target, right is better on the source: transfer that helps the target
    while keeping the source lands top right; forgetting moves a point left. Points close
    together are labelled together, and an R² below R2_FLOOR (scratch fitting 2 points, say) is
    drawn at the floor as a triangle pointing off the chart, its true value in its label.
    """
    metric = result.metric_name
    x_range = _visible_range([s.source_metric for s in result.strategies], metric)
    y_range = _visible_range([s.target_metric for s in result.strategies], metric)
    points = []
    fig = go.Figure()
    for s in result.strategies:
        x, y = max(s.source_metric, x_range[0]), max(s.target_metric, y_range[0])
        off = (x, y) != (s.source_metric, s.target_metric)
        points.append(_Point(s, x, y, off))
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                name=label(s.strategy),
                mode="markers",
                cliponaxis=False,
                marker=dict(
                    size=14,
                    color=color(s.strategy),
                    symbol=_off_chart_symbol(s, x_range, y_range) if off else "circle",
                ),
                hovertemplate=f"{label(s.strategy)}<br>source {metric} {_value(s.source_metric, metric)}"
                f"<br>target {metric} {_value(s.target_metric, metric)}<extra></extra>",
            )
        )
    # Boxes a label must not cover, in shares of the axes: the markers, then each label placed.
    placed = [_marker_box(p.x, p.y, x_range, y_range) for p in points]
    groups = [sorted(g, key=lambda p: -p.y) for g in _near_each_other(points, x_range, y_range)]
    for group in sorted(groups, key=lambda g: -g[0].y):  # top first: it takes the space above
        top = group[0]
        lines = [
            label(p.strategy.strategy)
            + (_off_chart_words(p.strategy, metric, x_range, y_range) if p.off else "")
            for p in group
        ]
        position = _free_position(top.x, top.y, lines, x_range, y_range, placed)
        # An invisible marker as large as the points keeps the label clear of them.
        fig.add_trace(
            go.Scatter(
                x=[top.x],
                y=[top.y],
                mode="markers+text",
                marker=dict(size=14, opacity=0),
                text=[
                    "<br>".join(
                        f'<span style="color:{color(p.strategy.strategy)}">{line}</span>'
                        for p, line in zip(group, lines)
                    )
                ],
                textposition=position,
                cliponaxis=False,
                hoverinfo="skip",
                showlegend=False,
            )
        )
    fig.update_layout(
        title=f"Source vs target {metric} per strategy",
        xaxis_title=f"source {metric} (test)",
        yaxis_title=f"target {metric} (test)",
        showlegend=False,
        **LAYOUT,
    )
    fig.update_layout(margin=dict(t=90, r=RIGHT_MARGIN_PX))  # room for labels of points at the edges
    fig.update_xaxes(automargin=True, range=list(x_range[:2]) if x_range[2] else None)
    fig.update_yaxes(range=list(y_range[:2]) if y_range[2] else None)
    _percent_axes(fig, metric, x=True)
    return fig


def _visible_range(values: list[float], metric: str) -> tuple[float, float, bool]:
    """(low, high, clamped): the span an axis shows of `values`; an R² axis stops at R2_FLOOR
    (clamped True: the axis must be given this range, and lower points drawn at its floor)."""
    values = [v for v in values if v is not None and math.isfinite(v)] or [0.0]
    low, high = min(values), max(values)
    if metric != "R²" or low >= R2_FLOOR:
        return low, high, False
    high = max(high, R2_FLOOR + 0.1)
    pad = 0.05 * (high - R2_FLOOR)
    return R2_FLOOR - pad, high + pad, True


def _share(v: float, r) -> float:
    """Where v lies on an axis showing r[0]..r[1], from 0 to 1."""
    return (v - r[0]) / max(r[1] - r[0], 1e-9)


def _marker_box(x: float, y: float, x_range, y_range) -> tuple:
    sx, sy = _share(x, x_range), _share(y, y_range)
    return (sx - MARKER_HALF_WIDTH, sy - MARKER_HALF_HEIGHT, sx + MARKER_HALF_WIDTH, sy + MARKER_HALF_HEIGHT)


def _free_position(x: float, y: float, lines: list[str], x_range, y_range, placed: list) -> str:
    """Where a point's label goes: above it unless that covers a marker or a label already
    placed, then below, then beside it (right, then left); near the left or right edge a label
    above or below opens towards the middle, to stay on the chart. Where every place covers
    something, the one that covers least. Appends the chosen box to `placed`."""
    sx, sy = _share(x, x_range), _share(y, y_range)
    side = "right" if sx < 0.25 else "left" if sx > 0.75 else "center"
    width, height = CHAR_SHARE * max(map(len, lines)), LINE_SHARE * len(lines)
    left = {"right": sx, "left": sx - width, "center": sx - width / 2}[side]
    beside = 2 * MARKER_HALF_WIDTH
    boxes = {
        f"top {side}": (left, sy + MARKER_SHARE, left + width, sy + MARKER_SHARE + height),
        f"bottom {side}": (left, sy - MARKER_SHARE - height, left + width, sy - MARKER_SHARE),
        "middle right": (sx + beside, sy - height / 2, sx + beside + width, sy + height / 2),
        "middle left": (sx - beside - width, sy - height / 2, sx - beside, sy + height / 2),
    }

    def cost(box):  # area covering markers and labels, plus area off the chart (its right margin is room)
        covered = sum(
            max(0.0, min(box[2], b[2]) - max(box[0], b[0])) * max(0.0, min(box[3], b[3]) - max(box[1], b[1]))
            for b in placed
        )
        return covered + (max(0.0, -box[0]) + max(0.0, box[2] - 1 - RIGHT_ROOM)) * (box[3] - box[1])

    costs = {place: cost(box) for place, box in boxes.items()}
    order = list(boxes)
    position = min(order, key=lambda v: (costs[v] > 0, costs[v], order.index(v)))
    placed.append(boxes[position])
    return position


def _off_chart_symbol(s, x_range, y_range) -> str:
    return "triangle-down" if s.target_metric < y_range[0] else "triangle-left"


def _off_chart_words(s, metric: str, x_range, y_range) -> str:
    """What a point drawn at an axis's floor really scored: " (target R² −7.86, off the chart)"."""
    off = [
        f"{side} {metric} {value:.2f}"
        for side, value, r in (("source", s.source_metric, x_range), ("target", s.target_metric, y_range))
        if value < r[0]
    ]
    return f" ({', '.join(off)}: off the chart)"


def _near_each_other(points: list[_Point], x_range, y_range) -> list[list[_Point]]:
    """The points grouped so that each is within NEAR of the axes' spans of one in its group."""

    def near_to(p, q):
        return (
            abs(_share(p.x, x_range) - _share(q.x, x_range)) <= NEAR
            and abs(_share(p.y, y_range) - _share(q.y, y_range)) <= NEAR
        )

    groups: list[list[_Point]] = []
    for p in points:
        near = [g for g in groups if any(near_to(p, q) for q in g)]
        merged = [p] + [q for g in near for q in g]
        groups = [g for g in groups if g not in near] + [merged]
    return groups


def confusion_heatmap(matrix, names: list[str], title: str, noun: str = "") -> go.Figure:
    """A confusion matrix, rows the true class and columns the predicted one, each cell its count;
    `names` label both axes (already literal where a user chose them), `noun` follows
    "true"/"predicted" in the axis titles."""
    words = f" {noun}" if noun else ""
    fig = go.Figure(
        go.Heatmap(
            z=matrix,
            x=names,
            y=names,
            colorscale="Blues",
            text=matrix,
            texttemplate="%{text}",
            showscale=False,
            hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
        )
    )
    fig.update_layout(
        template="plotly_white",
        title=title,
        xaxis=dict(title=f"predicted{words}", type="category"),
        yaxis=dict(title=f"true{words}", type="category", autorange="reversed"),
    )
    return fig


def accuracy_bars(result: RunResult) -> go.Figure:
    """Source and target test metric side by side for each strategy."""
    names = [label(s.strategy) for s in result.strategies]
    fig = go.Figure(
        [
            go.Bar(
                name="source", x=names, y=[s.source_metric for s in result.strategies], marker_color="#1f77b4"
            ),
            go.Bar(
                name="target", x=names, y=[s.target_metric for s in result.strategies], marker_color="#d62728"
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=f"Source and target {result.metric_name} per strategy",
        yaxis_title=f"{result.metric_name} (test)",
        **LAYOUT,
    )
    _percent_axes(fig, result.metric_name)
    return fig


def training_curves(result: RunResult) -> go.Figure:
    """Per-epoch source and target metric while training on the target, one line per strategy."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        subplot_titles=(f"target {result.metric_name}", f"source {result.metric_name}"),
    )
    for s in result.strategies:
        if not s.history.get("step"):
            continue
        for col, key in ((1, "target_metric"), (2, "source_metric")):
            fig.add_trace(
                go.Scatter(
                    x=s.history["step"],
                    y=s.history[key],
                    mode="lines",
                    name=label(s.strategy),
                    legendgroup=s.strategy,
                    showlegend=col == 1,
                    line=dict(color=color(s.strategy)),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epoch of target training")
    fig.update_yaxes(title_text=f"{result.metric_name} (test)", row=1, col=1)
    fig.update_layout(
        title=dict(
            text="During target training: what the target gains, what the source keeps",
            subtitle=dict(text=result.extras.get("history_measured", "")),
        ),
        **{**LAYOUT, "legend": LEGEND_BELOW, "margin": {**LAYOUT["margin"], "t": 90}},
    )
    _stop_r2_axis(fig, [v for t in fig.data for v in t.y], result.metric_name)
    _percent_axes(fig, result.metric_name)
    return fig


def _stop_r2_axis(fig: go.Figure, values: list[float], metric: str) -> None:
    """Stop the y axis at R2_FLOOR when some R² lies far below it (the rest would be squeezed
    flat), and say so on the chart."""
    low, high, clamped = _visible_range(values, metric)
    if clamped:
        fig.update_yaxes(range=[low, high])
        fig.add_annotation(
            text=f"{metric} below {R2_FLOOR:g} not shown (lowest "
            f"{min(v for v in values if math.isfinite(v)):.2f})",
            xref="paper",
            yref="paper",
            x=1,
            y=0,
            xanchor="right",
            yanchor="bottom",
            showarrow=False,
            font=dict(size=11, color="#666666"),
        )


def sweep_curve(
    table: pd.DataFrame, y: str = "target_metric", title: str | None = None, log_x: bool = False
) -> go.Figure:
    """Mean over seeds of `y` against the swept field, with a ±1 standard deviation band.

    A gain in accuracy is drawn in percentage points (−30, as the sentences under the charts say
    it), not as a fraction (−0.3) or a percent (a difference of accuracies is no share of them).
    """
    over = table.columns[0]
    summary = summarize(table)
    metric = table.attrs.get("metric", "metric")
    in_points = y == "gain" and metric == "accuracy"
    unit = 100.0 if in_points else 1.0
    fig = go.Figure()
    for name, rows in summary.groupby("strategy", sort=False):
        if y == "gain" and name == BASELINE:
            continue
        rows = rows.sort_values(over)
        x, mean, std = rows[over].tolist(), unit * rows[f"{y}_mean"], unit * rows[f"{y}_std"].fillna(0.0)
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=(mean + std).tolist() + (mean - std).tolist()[::-1],
                mode="lines",
                fill="toself",
                fillcolor=color(name),
                opacity=0.15,
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean.tolist(),
                mode="lines+markers",
                name=label(name),
                legendgroup=name,
                line=dict(color=color(name)),
            )
        )
    y_title = f"target {metric} gain over scratch" if y == "gain" else y.replace("_metric", f" {metric}")
    if in_points:
        y_title += " (points)"
    fig.update_layout(title=title, xaxis_title=FIELD_TITLES.get(over, over), yaxis_title=y_title, **LAYOUT)
    if y != "gain":  # a gain is a difference (in points): no floor, no percent
        _stop_r2_axis(fig, summary[f"{y}_mean"].tolist(), metric)
        _percent_axes(fig, metric)
    swept = sorted(summary[over].unique())
    fig.update_xaxes(tickvals=swept, ticktext=[f"{v:g}" for v in swept])  # ticks at the swept values
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def data_efficiency(table: pd.DataFrame) -> go.Figure:
    """Target metric against the number of labelled target samples: where scratch catches up."""
    metric = table.attrs.get("metric", "accuracy")
    return sweep_curve(
        table,
        "target_metric",
        log_x=True,
        title=f"Data efficiency: target {metric} vs labelled target samples (mean ± 1 sd over seeds)",
    )


def gap_curve(table: pd.DataFrame) -> go.Figure:
    """Transfer gain over scratch against the gap; below the zero line transfer hurts."""
    fig = sweep_curve(table, "gain", title="Transfer gain vs gap (below zero: negative transfer)")
    fig.add_hline(
        y=0,
        line_dash="dash",
        line_color="black",
        annotation_text="no gain",
        annotation_position="bottom right",
    )
    return fig


def compare_gains(
    tables: dict[str, pd.DataFrame], titles: dict[str, str], strategy: str, over: str
) -> go.Figure:
    """The Compare page's chart: one line per demo, `strategy`'s target gain over scratch against
    `over` (mean ± 1 sd). `tables` are the demos' sweep tables, `titles` their names."""
    fig = go.Figure()
    for demo, table in tables.items():
        rows = strategy_rows(summarize(table), strategy)
        if rows.empty:
            continue
        x, mean, sd = rows[over].tolist(), rows["gain_mean"], rows["gain_std"].fillna(0.0)
        name = f"{titles[demo]} ({table.attrs.get('metric', 'metric')})"
        colour = DEMO_COLORS.get(demo, "#333333")
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=(mean + sd).tolist() + (mean - sd).tolist()[::-1],
                mode="lines",
                fill="toself",
                fillcolor=colour,
                opacity=0.15,
                line=dict(width=0),
                hoverinfo="skip",
                showlegend=False,
                legendgroup=demo,
            )
        )
        metric = table.attrs.get("metric", "accuracy")
        where = "with %{x} labels" if over == "n_target" else f"at {over} %{{x}}"
        fig.add_trace(
            go.Scatter(
                x=x,
                y=mean.tolist(),
                mode="lines+markers",
                name=name,
                legendgroup=demo,
                line=dict(color=colour),
                # the hover says a gain as the sentence under the chart does: "+25 points", "−0.30"
                text=[signed(g, metric) for g in mean],
                hovertemplate=f"{titles[demo]}: %{{text}} {where}<extra></extra>",
            )
        )
    fig.add_hline(
        y=0,
        line_dash="dash",
        line_color="black",
        annotation_text="no gain",
        annotation_position="bottom right",
    )
    what = "labelled target samples (per class for the classifiers)" if over == "n_target" else "gap"
    fig.update_layout(
        title=f"{label(strategy)}: target gain over scratch vs {what.split(' (')[0]}",
        xaxis_title=what,
        # one axis for both metrics: an accuracy gain as a fraction (0.25 = the sentence's 25 points)
        yaxis_title="target gain over scratch (R²; accuracy: 0.1 = 10 points)",
        **LAYOUT,
    )
    if over == "n_target":  # labels at the swept values only: a log axis's minor ticks clutter
        swept = sorted({v for table in tables.values() for v in table[over]})
        fig.update_xaxes(type="log", tickvals=swept, ticktext=[f"{v:g}" for v in swept])
    return fig
