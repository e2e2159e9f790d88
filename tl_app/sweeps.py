"""Which values a sweep steps through, and the Compare page's chart of every demo's gain.

A sweep varies one setting (the number of target labels, or the gap) and runs every strategy
for several seeds at each value; the charts show the mean and a ±1 standard deviation band.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from tl_app.controls import ladder
from tl_core import narrate
from tl_core.api import summarize
from tl_core.config import FieldSpec
from tl_core.limits import LIMITS
from tl_core.plots import LAYOUT
from tl_core.strategies import label

SWEEP_SEEDS = FieldSpec(
    name="sweep_seeds",
    kind=int,
    default=min(3, LIMITS.max_seeds),
    help="seeds per point of the sweeps: each curve is their mean, its band ±1 standard deviation",
    low=1,
    high=min(10, LIMITS.max_seeds),
)
SWEEP_POINTS = 6  # values per sweep: enough for a curve, few enough to run during a lecture
DEMO_COLORS = {"linear": "#1f77b4", "logistic": "#ff7f0e", "cnn": "#2ca02c", "rnn": "#9467bd"}


def gap_scenarios(module) -> list[str]:
    """The demo's scenarios whose target the gap shapes (all of them where none ignores it): a
    gap sweep elsewhere would draw a flat line. The CNN's and RNN's: shift."""
    Config = module.Config
    return [c for c in Config.field("scenario").choices if "gap" not in Config.ignored_by_scenario.get(c, ())]


def sweep_values(module, config, over: str) -> list:
    """The values a sweep of `over` steps through, around `config` (a demo config).

    The demo's own `SWEEP_VALUES[over]` when it has one; else n_target: 1, 2, 5, 10, ... from the
    field's lower bound, gap: 0, 0.2, ..., 1. Values that the other settings rule out (more target
    samples than the data has) are left out.
    """
    spec = module.Config.field(over)
    own = getattr(module, "SWEEP_VALUES", {}).get(over)
    if own is not None:
        values = list(own)
    elif over == "n_target":
        values = [int(v) for v in ladder(spec.low, spec.high) if v >= spec.low][:SWEEP_POINTS]
    else:
        values = [
            round(spec.low + i * (spec.high - spec.low) / (SWEEP_POINTS - 1), 6) for i in range(SWEEP_POINTS)
        ]
    return [v for v in values if _allowed(module, config, over, v)][: LIMITS.max_sweep_values]


def _allowed(module, config, over: str, value: Any) -> bool:
    try:
        module.Config.from_dict({**config.to_dict(), over: value})
        return True
    except ValueError:
        return False


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
