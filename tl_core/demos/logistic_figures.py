"""The logistic demo's figures: its samples, and each strategy's boundary (or its probabilities).

They draw the data they are given (:mod:`tl_core.demos.logistic_data`); the demo module makes them
from a config and wraps these functions in its ``samples_figure`` and ``model_figure``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy.special import expit

from tl_core import plots
from tl_core.config import DemoConfig
from tl_core.demos.logistic_data import MAX_ANGLE_DEGREES, Data
from tl_core.demos.numpy_demo import DomainSplit
from tl_core.result import RunResult
from tl_core.strategies import color, dash, label

CLASS_COLORS = ("#e45756", "#4c78a8")  # class 0, class 1 on every panel
MAX_POINTS_SHOWN = 400  # more points only hide each other


def _class_traces(
    X: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    what: str,
    size: float,
    opacity: float,
    outline: bool = False,
    showlegend: bool = True,
) -> list[go.Scatter]:
    """One scatter per class, coloured by class."""
    return [
        go.Scatter(
            x=X[y == c, 0],
            y=X[y == c, 1],
            mode="markers",
            name=f"{what}: {class_names[c]}",
            legendgroup=f"{what} {c}",
            showlegend=showlegend,
            marker=dict(
                color=CLASS_COLORS[c],
                size=size,
                opacity=opacity,
                line=dict(width=1.5 if outline else 0, color="black"),
            ),
        )
        for c in (0, 1)
    ]


def _boundary_line(weights, bias, x_range, y_range) -> tuple[list[float], list[float]]:
    """Two end points of the line w0·x + w1·y + b = 0 across the plotted box."""
    w0, w1 = weights
    if abs(w1) >= abs(w0):  # more horizontal than vertical: y as a function of x
        xs = np.array(x_range)
        return xs.tolist(), ((-bias - w0 * xs) / w1).tolist()
    ys = np.array(y_range)
    return ((-bias - w1 * ys) / w0).tolist(), ys.tolist()


def _box(*arrays: np.ndarray) -> tuple[list[float], list[float]]:
    points = np.vstack(arrays)
    low, high = points.min(0), points.max(0)
    pad = 0.05 * (high - low)
    return [low[0] - pad[0], high[0] + pad[0]], [low[1] - pad[1], high[1] + pad[1]]


def _panel_titles(config: DemoConfig, data: Data) -> tuple[str, str]:
    if data.table is not None:
        table = data.table
        return (
            f"Source: {table.source_words}, {len(table.source_y)} rows",
            f"Target: {table.target_words}, {config.n_target} labelled per class of "
            f"{len(table.target_y)} rows",
        )
    if config.scenario == "breast_cancer":
        source, target = _cancer_domain_words(config.gap)
        return (
            f"Source: {source}, {len(data.source.y_train)} to learn from",
            f"Target: {target}, {config.n_target} labelled per class",
        )
    shift = f", shifted by {config.shift:g}" if config.shift else ""
    return (
        f"Source: 2·x0 + x1 + 0.5 > 1, {config.n_source} samples",
        f"Target: boundary turned {config.gap * MAX_ANGLE_DEGREES:.0f}°{shift}, "
        f"{config.n_target} labelled per class",
    )


def _cancer_domain_words(gap: float) -> tuple[str, str]:
    """What each breast-cancer domain holds at this gap: a tumour joins its own half (smoother or
    rougher outline) with probability (1 + gap)/2, so gap 0 is a random split."""
    if gap == 0:
        return "a random half of the tumours", "the other half"
    if gap == 1:
        return "smoother tumours", "rougher tumours"
    share = f"{(1 + gap) / 2:.0%}"
    return f"about {share} smoother tumours", f"about {share} rougher"


def _plane(data: Data, source_weights: np.ndarray | None) -> tuple[Data, str]:
    """The data on the two axes the samples figure draws, and what the figure's title adds.

    Two features: as they are. More: the two the source model weighs most (the features are
    standardized, so the weights compare). One: the feature against the class, spread a little
    up and down so that the points do not hide each other.
    """
    n_features = len(data.feature_names)
    if n_features == 2:
        return data, ""
    if n_features > 2:
        weights = np.abs(source_weights)
        columns = sorted(np.argsort(-weights, kind="stable")[:2])
        names = [data.feature_names[j] for j in columns]
        return _mapped(
            data, lambda X, y: X[:, columns], names
        ), f": the 2 of {n_features} features the source model weighs most"
    jitter = np.random.default_rng(0)  # a fixed spread: the figure is the same every time

    def with_class(X, y):
        return np.column_stack([X[:, 0], y + jitter.uniform(-0.15, 0.15, len(y))])

    return _mapped(data, with_class, [data.feature_names[0], "class"]), ""


def _mapped(data: Data, to_plane, feature_names: list[str]) -> Data:
    def domain(d: DomainSplit) -> DomainSplit:
        return DomainSplit(to_plane(d.X_train, d.y_train), d.y_train, to_plane(d.X_test, d.y_test), d.y_test)

    return Data(
        domain(data.source),
        domain(data.target),
        data.target_unlabelled,
        feature_names,
        data.class_names,
        data.truth,
        data.table,
    )


def samples(config: DemoConfig, data: Data, source_weights: np.ndarray | None = None) -> go.Figure:
    """Source samples (left) and target samples (right) on the same axes, coloured by class.

    The right panel outlines the few labelled target samples; the faint points are the target's
    held-out test samples, what the target models are scored on. For synthetic data the true
    boundary of each domain is drawn (the target's solid, the source's dashed, and dotted on the
    target panel for comparison: the angle between them is the gap). A table with one feature
    is drawn against the class, one with more than two on the two features the source model
    weighs most (`source_weights`, needed only then).
    """
    data, what = _plane(data, source_weights)
    shown = slice(0, MAX_POINTS_SHOWN)
    # every point drawn lies inside the axes: the labelled target samples too
    x_range, y_range = _box(data.source.X_train[shown], data.target.X_test[shown], data.target.X_train)
    fig = make_subplots(
        rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, subplot_titles=_panel_titles(config, data)
    )
    for trace in _class_traces(
        data.source.X_train[shown], data.source.y_train[shown], data.class_names, "source samples", 6, 0.6
    ):
        fig.add_trace(trace, row=1, col=1)
    for trace in _class_traces(
        data.target.X_test[shown], data.target.y_test[shown], data.class_names, "target test samples", 5, 0.2
    ):
        fig.add_trace(trace, row=1, col=2)
    for trace in _class_traces(
        data.target.X_train,
        data.target.y_train,
        data.class_names,
        "target labelled samples",
        12,
        1.0,
        outline=True,
    ):
        fig.add_trace(trace, row=1, col=2)
    if data.truth is not None:  # the target panel shows the source's boundary too: the gap
        lines = {
            domain: _boundary_line(
                data.truth[domain]["weights"], data.truth[domain]["bias"], x_range, y_range
            )
            for domain in ("source", "target")
        }
        for col, domain, name, style in (
            (1, "source", "true source boundary", dict(color="black", dash="dash")),
            (2, "source", "true source boundary, for comparison", dict(color="#999999", dash="dot")),
            (2, "target", "true target boundary", dict(color="black")),
        ):
            xs, ys = lines[domain]
            fig.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines", name=name, line=dict(width=2, **style)), row=1, col=col
            )
    fig.update_xaxes(title_text=data.feature_names[0], range=x_range)
    fig.update_yaxes(title_text=data.feature_names[1], range=y_range, row=1, col=1)
    fig.update_yaxes(range=y_range)
    if data.feature_names[1] == "class":  # one feature: the y axis names the classes
        fig.update_yaxes(tickvals=[0, 1], ticktext=data.class_names)
    fig.update_layout(
        template="plotly_white",
        title="Source and target samples" + what,
        legend=plots.LEGEND_BELOW,
    )
    return fig


def model(result: RunResult, data: Data) -> go.Figure:
    """Each strategy's model on the target data.

    Two features: each strategy's decision boundary over the target data. The faint points are
    the target test set, the outlined ones the labelled target samples; each line is where a
    strategy's model switches class (the source model's dotted), and for synthetic data the true
    target boundary is drawn in black, so that a student sees which line is right. One feature
    (a table): each strategy's probability of class 1 along it, the samples at 0 and 1. More than
    two: each strategy's probability of class 1 for every target test sample, coloured by its
    true class. `data` are the data the result ran on.
    """
    if len(data.feature_names) == 1:
        return _probability_curves_figure(result, data)
    if len(data.feature_names) > 2:
        return _probability_strips_figure(result, data)
    shown = slice(0, MAX_POINTS_SHOWN)
    x_range, y_range = _box(data.target.X_test[shown], data.target.X_train)
    fig = go.Figure()
    for trace in _class_traces(
        data.target.X_test[shown], data.target.y_test[shown], data.class_names, "target test samples", 5, 0.25
    ):
        fig.add_trace(trace)
    for trace in _class_traces(
        data.target.X_train,
        data.target.y_train,
        data.class_names,
        "target labelled samples",
        12,
        1.0,
        outline=True,
    ):
        fig.add_trace(trace)
    for s in result.strategies:
        xs, ys = _boundary_line(s.params["weights"], s.params["bias"], x_range, y_range)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=label(s.strategy),
                line=dict(color=color(s.strategy), width=3, dash=dash(s.strategy)),
                hovertemplate=f"{label(s.strategy)}: target accuracy {s.target_metric:.2f}<extra></extra>",
            )
        )
    if data.truth is not None:  # the right answer, drawn over the strategies' lines
        xs, ys = _boundary_line(
            data.truth["target"]["weights"], data.truth["target"]["bias"], x_range, y_range
        )
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", name="true target boundary", line=dict(color="black", width=2)
            )
        )
    fig.update_layout(
        template="plotly_white",
        title="Decision boundaries on the target data",
        xaxis=dict(title=data.feature_names[0], range=x_range),
        yaxis=dict(title=data.feature_names[1], range=y_range),
        legend=plots.LEGEND_BELOW,
    )
    return fig


def _probability_curves_figure(result: RunResult, data: Data) -> go.Figure:
    """One feature: σ(w·x + b) of each strategy along x, the target samples at 0 and 1."""
    shown = slice(0, MAX_POINTS_SHOWN)
    spread = np.random.default_rng(0)  # a fixed spread: the figure is the same every time
    fig = go.Figure()
    for X, y, what, size, opacity, outline in (
        (data.target.X_test[shown], data.target.y_test[shown], "target test samples", 5, 0.25, False),
        (data.target.X_train, data.target.y_train, "target labelled samples", 12, 1.0, True),
    ):
        plane = np.column_stack([X[:, 0], y + spread.uniform(-0.04, 0.04, len(y))])
        for trace in _class_traces(plane, y, data.class_names, what, size, opacity, outline=outline):
            fig.add_trace(trace)
    x_range, _ = _box(
        np.column_stack([data.target.X_test[shown, 0], data.target.y_test[shown]]),
        np.column_stack([data.target.X_train[:, 0], data.target.y_train]),
    )
    xs = np.linspace(*x_range, 200)
    for s in result.strategies:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=expit(s.params["weights"][0] * xs + s.params["bias"]),
                mode="lines",
                name=label(s.strategy),
                line=dict(color=color(s.strategy), width=3, dash=dash(s.strategy)),
                hovertemplate=f"{label(s.strategy)}: target accuracy {s.target_metric:.2f}<extra></extra>",
            )
        )
    fig.add_hline(y=0.5, line=dict(color="black", dash="dash", width=1))
    fig.update_layout(
        template="plotly_white",
        title=f"Probability of {data.class_names[1]} along {data.feature_names[0]}: "
        "each model says that class above the dashed line",
        xaxis=dict(title=data.feature_names[0], range=x_range),
        yaxis=dict(title=f"probability of {data.class_names[1]}", range=[-0.1, 1.1]),
        legend=plots.LEGEND_BELOW,
    )
    return fig


def _probability_strips_figure(result: RunResult, data: Data) -> go.Figure:
    """Many features: each strategy's σ(w·x + b) on every target test sample, by true class.

    A good model puts one class above the dashed 0.5 line and the other below it.
    """
    X, y = data.target.X_test[:MAX_POINTS_SHOWN], data.target.y_test[:MAX_POINTS_SHOWN]
    spread = np.random.default_rng(0).uniform(-0.3, 0.3, len(y))  # the same spread every time
    fig = go.Figure()
    for i, s in enumerate(result.strategies):
        probability = expit(X @ np.asarray(s.params["weights"]) + s.params["bias"])
        for c in (0, 1):
            fig.add_trace(
                go.Scatter(
                    x=i + spread[y == c],
                    y=probability[y == c],
                    mode="markers",
                    name=f"target test samples: {data.class_names[c]}",
                    legendgroup=str(c),
                    showlegend=i == 0,
                    marker=dict(color=CLASS_COLORS[c], size=5, opacity=0.4),
                    hovertemplate=(
                        f"{label(s.strategy)}: target accuracy {s.target_metric:.2f}<extra></extra>"
                    ),
                )
            )
    fig.add_hline(y=0.5, line=dict(color="black", dash="dash", width=1))
    fig.update_layout(
        template="plotly_white",
        title=f"Target test set: each strategy's probability of {data.class_names[1]} "
        "(above the dashed line it says that class)",
        xaxis=dict(
            tickvals=list(range(len(result.strategies))),
            ticktext=[label(s.strategy) for s in result.strategies],
        ),
        yaxis=dict(title=f"probability of {data.class_names[1]}", range=[-0.05, 1.05]),
        legend=plots.LEGEND_BELOW,
    )
    return fig
