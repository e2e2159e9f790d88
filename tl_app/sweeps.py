"""Which values a sweep steps through, and the Compare page's chart of every demo's gain
(drawn by :func:`tl_core.plots.compare_gains`, told by :func:`tl_core.narrate.describe_compare_gains`).

A sweep varies one setting (the number of target labels, or the gap) and runs every strategy
for several seeds at each value; the charts show the mean and a ±1 standard deviation band.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from tl_core import lecture, narrate, plots
from tl_core.config import FieldSpec
from tl_core.lecture import gap_scenarios, sweep_values  # noqa: F401 - the pages read them here
from tl_core.limits import LIMITS

SWEEP_SEEDS = FieldSpec(
    name="sweep_seeds",
    kind=int,
    default=min(lecture.SWEEP_SEEDS, LIMITS.max_seeds),
    help="seeds per point of the sweeps: each curve is their mean, its band ±1 standard deviation",
    low=1,
    high=min(10, LIMITS.max_seeds),
)


def gain_figure(
    tables: dict[str, pd.DataFrame], titles: dict[str, str], strategy: str, over: str
) -> go.Figure:
    """One line per demo: `strategy`'s target gain over scratch against `over` (mean ± 1 sd)."""
    return plots.compare_gains(tables, titles, strategy, over)


def describe_gains(tables: dict[str, pd.DataFrame], titles: dict[str, str], strategy: str, over: str) -> str:
    """How `strategy`'s gain moves over the swept values, demo by demo."""
    return narrate.describe_compare_gains(tables, titles, strategy, over)
