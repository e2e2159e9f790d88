"""Plot builders shared by every demo: results and sweep tables in, plotly figures out.

Each demo module adds its own views (`samples_figure`, `model_figure`); these are the charts that
look the same for all four demos, so a student learns to read them once.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tl_core.api import summarize
from tl_core.result import RunResult
from tl_core.strategies import BASELINE, color, label

LEGEND_BELOW = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)
FIELD_TITLES = {"n_target": "labelled target samples", "gap": "gap between source and target",
                "lam": "λ of regularized transfer", "epochs": "epochs of target training"}
LAYOUT = dict(template="plotly_white", margin=dict(l=60, r=20, t=60, b=50),
              legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0))


def source_vs_target(result: RunResult) -> go.Figure:
    """Source accuracy (x) against target accuracy (y), one point per strategy.

    Up is better on the target, right is better on the source: transfer that helps the target
    while keeping the source lands top right; forgetting moves a point left.
    """
    fig = go.Figure()
    for s in result.strategies:
        fig.add_trace(go.Scatter(
            x=[s.source_metric], y=[s.target_metric], name=label(s.strategy), mode="markers+text",
            text=[label(s.strategy)], textposition="top center", cliponaxis=False,
            marker=dict(size=14, color=color(s.strategy)),
            hovertemplate=f"{label(s.strategy)}<br>source {result.metric_name} %{{x:.3f}}"
                          f"<br>target {result.metric_name} %{{y:.3f}}<extra></extra>"))
    fig.update_layout(title=f"Source vs target {result.metric_name} per strategy",
                      xaxis_title=f"source {result.metric_name} (test)",
                      yaxis_title=f"target {result.metric_name} (test)", showlegend=False, **LAYOUT)
    fig.update_layout(margin=dict(t=90, r=60))  # room for labels of points at the edges
    fig.update_xaxes(automargin=True)
    return fig


def accuracy_bars(result: RunResult) -> go.Figure:
    """Source and target test metric side by side for each strategy."""
    names = [label(s.strategy) for s in result.strategies]
    fig = go.Figure([
        go.Bar(name="source", x=names, y=[s.source_metric for s in result.strategies],
               marker_color="#1f77b4"),
        go.Bar(name="target", x=names, y=[s.target_metric for s in result.strategies],
               marker_color="#d62728"),
    ])
    fig.update_layout(barmode="group", title=f"Source and target {result.metric_name} per strategy",
                      yaxis_title=f"{result.metric_name} (test)", **LAYOUT)
    return fig


def training_curves(result: RunResult) -> go.Figure:
    """Per-epoch source and target metric while training on the target, one line per strategy."""
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True,
                        subplot_titles=(f"target {result.metric_name}", f"source {result.metric_name}"))
    for s in result.strategies:
        if not s.history.get("step"):
            continue
        for col, key in ((1, "target_metric"), (2, "source_metric")):
            fig.add_trace(go.Scatter(x=s.history["step"], y=s.history[key], mode="lines",
                                     name=label(s.strategy), legendgroup=s.strategy,
                                     showlegend=col == 1, line=dict(color=color(s.strategy))),
                          row=1, col=col)
    fig.update_xaxes(title_text="epoch of target training")
    fig.update_yaxes(title_text=f"{result.metric_name} (test)", row=1, col=1)
    fig.update_layout(title="During target training: what the target gains, what the source keeps",
                      **{**LAYOUT, "legend": LEGEND_BELOW})
    return fig


def sweep_curve(table: pd.DataFrame, y: str = "target_metric", title: str | None = None,
                log_x: bool = False) -> go.Figure:
    """Mean over seeds of `y` against the swept field, with a ±1 standard deviation band."""
    over = table.columns[0]
    summary = summarize(table)
    metric = table.attrs.get("metric", "metric")
    fig = go.Figure()
    for name, rows in summary.groupby("strategy", sort=False):
        if y == "gain" and name == BASELINE:
            continue
        rows = rows.sort_values(over)
        x, mean, std = rows[over].tolist(), rows[f"{y}_mean"], rows[f"{y}_std"].fillna(0.0)
        fig.add_trace(go.Scatter(x=x + x[::-1], y=(mean + std).tolist() + (mean - std).tolist()[::-1],
                                 mode="lines", fill="toself", fillcolor=color(name), opacity=0.15,
                                 line=dict(width=0), hoverinfo="skip", showlegend=False,
                                 legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=mean.tolist(), mode="lines+markers", name=label(name),
                                 legendgroup=name, line=dict(color=color(name))))
    y_title = f"target {metric} gain over scratch" if y == "gain" else y.replace("_metric", f" {metric}")
    fig.update_layout(title=title, xaxis_title=FIELD_TITLES.get(over, over), yaxis_title=y_title, **LAYOUT)
    swept = sorted(summary[over].unique())
    fig.update_xaxes(tickvals=swept, ticktext=[f"{v:g}" for v in swept])  # ticks at the swept values
    if log_x:
        fig.update_xaxes(type="log")
    return fig


def data_efficiency(table: pd.DataFrame) -> go.Figure:
    """Target metric against the number of labelled target samples: where scratch catches up."""
    metric = table.attrs.get("metric", "accuracy")
    return sweep_curve(table, "target_metric", log_x=True,
                       title=f"Data efficiency: target {metric} vs labelled target samples "
                             "(mean ± 1 sd over seeds)")


def gap_curve(table: pd.DataFrame) -> go.Figure:
    """Transfer gain over scratch against the gap; below the zero line transfer hurts."""
    fig = sweep_curve(table, "gain", title="Transfer gain vs gap (below zero: negative transfer)")
    fig.add_hline(y=0, line_dash="dash", line_color="black", annotation_text="no gain",
                  annotation_position="bottom right")
    return fig
