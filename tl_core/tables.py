"""The tables of a sweep: one row per value, seed and strategy (`sweep_table`), and their means
over seeds (`summarize`). The API builds them; the charts and sentences read them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tl_core.result import RunResult
from tl_core.strategies import BASELINE

# Columns of a sweep table, after the swept field's own column.
SWEEP_COLUMNS = [
    "seed",
    "strategy",
    "source_metric",
    "target_metric",
    "source_loss",
    "target_loss",
    "gain",
    "wall_time",
]


def sweep_table(results: Sequence[RunResult], over: str) -> pd.DataFrame:
    """The tidy table of a sweep's results (see :func:`tl_core.api.sweep`)."""
    rows = []
    for result in results:
        baseline = result.strategy(BASELINE).target_metric if BASELINE in result.names() else float("nan")
        for s in result.strategies:
            rows.append(
                {
                    over: result.config[over],
                    "seed": result.config["seed"],
                    "strategy": s.strategy,
                    "source_metric": s.source_metric,
                    "target_metric": s.target_metric,
                    "source_loss": s.source_loss,
                    "target_loss": s.target_loss,
                    "gain": s.target_metric - baseline,
                    "wall_time": s.wall_time,
                }
            )
    table = pd.DataFrame(rows, columns=[over] + SWEEP_COLUMNS)
    table.attrs["over"] = over
    if results:
        table.attrs.update(demo=results[0].demo, metric=results[0].metric_name)
    return table


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Mean, standard deviation and count over seeds, per swept value and strategy."""
    over = table.columns[0]
    metrics = ["source_metric", "target_metric", "gain"]
    summary = table.groupby([over, "strategy"], sort=False)[metrics].agg(["mean", "std", "count"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary = summary.reset_index()
    summary.attrs = dict(table.attrs)
    return summary


def strategy_rows(summary: pd.DataFrame, strategy: str) -> pd.DataFrame:
    """The rows of one strategy in a `summarize` table, sorted by the swept value."""
    return summary[summary.strategy == strategy].sort_values(summary.columns[0])
