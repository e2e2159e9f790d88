"""Which values a sweep steps through, and the Compare page's chart of every demo's gain.

A sweep varies one setting (the number of target labels, or the gap) and runs every strategy
for several seeds at each value; the charts show the mean and a ±1 standard deviation band.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from tl_core import lecture, narrate
from tl_core.api import summarize
from tl_core.config import FieldSpec
from tl_core.lecture import gap_scenarios, sweep_values  # noqa: F401 - the pages read them here
from tl_core.limits import LIMITS
from tl_core.plots import LAYOUT
from tl_core.strategies import label

SWEEP_SEEDS = FieldSpec(
    name="sweep_seeds",
    kind=int,
    default=min(lecture.SWEEP_SEEDS, LIMITS.max_seeds),
    help="seeds per point of the sweeps: each curve is their mean, its band ±1 standard deviation",
    low=1,
    high=min(10, LIMITS.max_seeds),
)
DEMO_COLORS = {"linear": "#1f77b4", "logistic": "#ff7f0e", "cnn": "#2ca02c", "rnn": "#9467bd"}


def gain_figure(
    tables: dict[str, pd.DataFrame], titles: dict[str, str], strategy: str, over: str
) -> go.Figure:
    """One line per demo: `strategy`'s target gain over scratch against `over` (mean ± 1 sd)."""
    fig = go.Figure()
    for demo, table in tables.items():
        rows = _gain_rows(table, strategy)
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
                text=[narrate.signed(g, metric) for g in mean],
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


def _gain_rows(table: pd.DataFrame, strategy: str) -> pd.DataFrame:
    summary = summarize(table)
    return summary[summary.strategy == strategy].sort_values(table.columns[0])


def describe_gains(tables: dict[str, pd.DataFrame], titles: dict[str, str], strategy: str, over: str) -> str:
    """How `strategy`'s gain moves over the swept values, demo by demo: from the first value to
    the last, through a peak (or a trough) between them when the curve rises and falls."""
    parts = []
    for demo, table in tables.items():
        rows = _gain_rows(table, strategy)
        if rows.empty:
            continue
        metric = table.attrs.get("metric", "accuracy")
        path = narrate.describe_gain_path(
            rows[over].tolist(), rows.gain_mean.tolist(), lambda v, m=metric: _where(over, v, m), metric
        )
        parts.append(f"{titles[demo]}: {path}")
    if not parts:
        return ""
    return f"{label(strategy)}'s gain over scratch — " + "; ".join(parts) + "."


def _where(over: str, value: float, metric: str) -> str:
    """A swept value in words: "with 2 labels per class", "at gap 0.5"."""
    if over == "n_target":
        return "with " + narrate.labels_phrase(int(value), metric)
    return f"at {over} {value:g}"
