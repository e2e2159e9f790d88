"""The linear demo's figures: its samples, and each strategy's fitted line (or its predictions).

They draw the data they are given (:mod:`tl_core.demos.linear_data`); the demo module makes them
from a config and wraps these functions in its ``samples_figure`` and ``model_figure``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tl_core import plots
from tl_core.config import DemoConfig
from tl_core.demos.linear_data import Data
from tl_core.result import RunResult
from tl_core.strategies import color, dash, label

SOURCE_COLOR, TARGET_COLOR = "#1f77b4", "#d62728"
MAX_POINTS_SHOWN = 300  # more source points only hide each other
LABELLED_MARKER = dict(color=TARGET_COLOR, size=11, line=dict(width=1, color="black"))


def _x_label(data: Data, config: DemoConfig, j: int) -> str:
    if data.table is not None:
        return f"{data.feature_names[j]} (standardized)"
    if config.scenario == "diabetes":
        return "bmi (standardized)"
    return "x" if config.n_features == 1 else "x1 (first feature)"


def _y_label(data: Data, config: DemoConfig) -> str:
    if data.table is not None:
        return data.table.label_name
    return "y" if config.scenario == "synthetic" else "disease progression"


def _first_feature(data: Data) -> int:
    """The feature the samples figure puts on its x axis.

    A table's: the one most correlated with y in the source training rows. Diabetes: bmi, which
    says the most about disease progression. Synthetic: x (or x1).
    """
    if data.table is not None:
        X, y = data.source.X_train, data.source.y_train
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant column has no correlation
            correlations = [abs(np.corrcoef(X[:, j], y)[0, 1]) for j in range(X.shape[1])]
        return int(np.argmax(np.nan_to_num(correlations)))
    return data.feature_names.index("bmi") if "bmi" in data.feature_names else 0


def _to_units(data: Data) -> Callable[[np.ndarray], np.ndarray]:
    """Standardized y back to y's own units (the identity for synthetic data)."""
    if data.y_scale == 1.0 and data.y_offset == 0.0:
        return lambda y: y
    return lambda y: y * data.y_scale + data.y_offset


def _panel_titles(config: DemoConfig, data: Data) -> tuple[str, str]:
    if data.table is not None:
        table = data.table
        return (
            f"Source: {table.source_words}, {len(table.source_y)} rows",
            f"Target: {table.target_words}, {config.n_target} labelled of {len(table.target_y)} rows",
        )
    if config.scenario == "diabetes":
        return (
            f"Source: {len(data.source.y_train)} patients to learn from",
            f"Target: {config.n_target} labelled patients",
        )
    if config.n_features == 1:
        lines = data.truth
        return (
            f"Source: y = {_line_text(lines['source'])} + noise, {config.n_source} samples",
            f"Target: y = {_line_text(lines['target'])} + noise, {config.n_target} labelled",
        )
    return (f"Source: {config.n_source} samples", f"Target: {config.n_target} labelled")


def _line_text(line: dict) -> str:
    return f"{line['coef'][0]:.2f}x + {line['intercept']:.2f}"


def samples(config: DemoConfig, data: Data) -> go.Figure:
    """Source samples (left) and target samples (right) on the same axes, so the gap shows.

    The right panel marks the few labelled target samples; the faint points are the target's
    held-out test samples, the distribution the target models are scored on. With several
    features, x is one of them (bmi; for a table, the one most correlated with y).
    """
    j = _first_feature(data)
    to_y = lambda y: y * data.y_scale + data.y_offset  # noqa: E731 - back to y's own units
    fig = make_subplots(
        rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, subplot_titles=_panel_titles(config, data)
    )
    shown = slice(0, MAX_POINTS_SHOWN)
    fig.add_trace(
        go.Scatter(
            x=data.source.X_train[shown, j],
            y=to_y(data.source.y_train[shown]),
            mode="markers",
            name="source samples",
            marker=dict(color=SOURCE_COLOR, size=5, opacity=0.5),
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_test[shown, j],
            y=to_y(data.target.y_test[shown]),
            mode="markers",
            name="target test samples (unlabelled to the models)",
            marker=dict(color=TARGET_COLOR, size=4, opacity=0.2),
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_train[:, j],
            y=to_y(data.target.y_train),
            mode="markers",
            name="target labelled samples",
            marker=LABELLED_MARKER,
        ),
        row=1,
        col=2,
    )
    if data.truth is not None and config.n_features == 1:
        _add_source_line(fig, data)
    fig.update_xaxes(title_text=_x_label(data, config, j))
    fig.update_yaxes(title_text=_y_label(data, config), row=1, col=1)
    fig.update_layout(
        template="plotly_white",
        title="Source and target samples",
        legend=plots.LEGEND_BELOW,
    )
    return fig


def _add_source_line(fig: go.Figure, data: Data) -> None:
    """The true source line on both panels: the target samples' distance from it is the gap."""
    line = data.truth["source"]
    xs = np.array(
        [
            min(data.source.X_test.min(), data.target.X_test.min()),
            max(data.source.X_test.max(), data.target.X_test.max()),
        ]
    )
    for col in (1, 2):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=line["coef"][0] * xs + line["intercept"],
                mode="lines",
                name=f"source line y = {_line_text(line)}",
                legendgroup="source line",
                showlegend=col == 1,
                line=dict(color=SOURCE_COLOR, dash="dash"),
            ),
            row=1,
            col=col,
        )


def model(result: RunResult, config: DemoConfig, data: Data) -> go.Figure:
    """Each strategy's fitted model against the data.

    One input feature (synthetic x, or a table with one feature): the data of both domains with
    each strategy's fitted line. Otherwise (d > 1, diabetes, most tables): predicted against
    true y on the target test set, where a perfect model puts every point on the diagonal.
    `config` is the result's and `data` the data it ran on.
    """
    if len(data.feature_names) == 1 and (data.table is not None or config.scenario == "synthetic"):
        return _lines_figure(result, data, config)
    return _predicted_vs_true_figure(result, data, config)


def _lines_figure(result: RunResult, data: Data, config: DemoConfig) -> go.Figure:
    """Samples and fitted lines; a table's x is standardized, its y in its own units."""
    to_y = _to_units(data)
    fig = go.Figure()
    shown = slice(0, MAX_POINTS_SHOWN)
    fig.add_trace(
        go.Scatter(
            x=data.source.X_train[shown, 0],
            y=to_y(data.source.y_train[shown]),
            mode="markers",
            name="source samples",
            marker=dict(color=SOURCE_COLOR, size=4, opacity=0.25),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_test[shown, 0],
            y=to_y(data.target.y_test[shown]),
            mode="markers",
            name="target test samples",
            marker=dict(color=TARGET_COLOR, size=4, opacity=0.2),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_train[:, 0],
            y=to_y(data.target.y_train),
            mode="markers",
            name="target labelled samples",
            marker=LABELLED_MARKER,
        )
    )
    all_x = np.concatenate([data.source.X_test[:, 0], data.target.X_test[:, 0]])
    xs = np.array([all_x.min(), all_x.max()])
    for s in result.strategies:
        ys = to_y(s.params["slope"] * xs + s.params["intercept"])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=label(s.strategy),
                line=dict(color=color(s.strategy), width=3, dash=dash(s.strategy)),
                hovertemplate=f"{label(s.strategy)}: y = {s.params['slope']:.2f}x"
                f" + {s.params['intercept']:.2f}<extra></extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        title="Fitted lines of each strategy",
        xaxis_title=_x_label(data, config, 0),
        yaxis_title=_y_label(data, config),
    )
    return fig


def _predicted_vs_true_figure(result: RunResult, data: Data, config: DemoConfig) -> go.Figure:
    to_y = lambda y: y * data.y_scale + data.y_offset  # noqa: E731 - back to y's own units
    X, truth = data.target.X_test[:MAX_POINTS_SHOWN], to_y(data.target.y_test[:MAX_POINTS_SHOWN])
    fig = go.Figure()
    for s in result.strategies:
        predicted = to_y(X @ np.asarray(s.params["coef"]) + s.params["intercept"])
        fig.add_trace(
            go.Scatter(
                x=truth,
                y=predicted,
                mode="markers",
                name=label(s.strategy),
                marker=dict(color=color(s.strategy), size=5, opacity=0.6),
            )
        )
    ends = [float(truth.min()), float(truth.max())]
    fig.add_trace(
        go.Scatter(
            x=ends, y=ends, mode="lines", name="perfect prediction", line=dict(color="black", dash="dash")
        )
    )
    what = _y_label(data, config)
    fig.update_layout(
        template="plotly_white",
        title="Target test set: predicted against true (on the diagonal = right)",
        xaxis_title=f"true {what}",
        yaxis_title=f"predicted {what}",
    )
    return fig
