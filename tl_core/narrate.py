"""Sentences computed from what a chart shows, for the text under each chart (never canned text)."""

from __future__ import annotations

import pandas as pd

from tl_core.api import summarize
from tl_core.result import RunResult
from tl_core.strategies import BASELINE, label


def name_in_text(strategy: str) -> str:
    """A strategy's label inside a sentence: lower case, but acronyms (CORAL) stay as they are."""
    text = label(strategy)
    return text if text.isupper() else text[0].lower() + text[1:]


def fmt(value: float, metric: str) -> str:
    """A metric value as a student reads it: accuracy in percent, R² with two decimals."""
    return f"{100 * value:.0f}%" if metric == "accuracy" else f"{value:.2f}"


def fmt_diff(value: float, metric: str) -> str:
    """A difference of metrics: accuracy in percentage points, R² with two decimals."""
    if metric == "accuracy":
        points = round(abs(100 * value))
        return f"{points} point{'s' if points != 1 else ''}"
    return f"{abs(value):.2f}"


def labels_phrase(n_target: int, metric: str) -> str:
    if metric == "accuracy":
        return f"{n_target} label{'s' if n_target != 1 else ''} per class"
    return f"{n_target} labelled target sample{'s' if n_target != 1 else ''}"


def best_transfer(result: RunResult) -> str | None:
    """The strategy other than scratch with the highest target metric."""
    others = [s for s in result.strategies if s.strategy != BASELINE]
    return max(others, key=lambda s: s.target_metric).strategy if others else None


def describe_result(result: RunResult) -> str:
    """Headline: how the best transfer strategy compares to scratch on the target."""
    metric = result.metric_name
    best = best_transfer(result)
    if best is None:
        return f"Only scratch was run: target {metric} {fmt(result.strategy(BASELINE).target_metric, metric)}."
    gain = result.gain(best)
    scratch = result.strategy(BASELINE).target_metric
    scores = f"({fmt(result.strategy(best).target_metric, metric)} against {fmt(scratch, metric)})"
    opening = f"With {labels_phrase(result.config['n_target'], metric)}, {name_in_text(best)}"
    if fmt_diff(gain, metric) in ("0 points", "0.00"):
        return f"{opening} ties with scratch on the target {scores}."
    verb = "beats" if gain > 0 else "still loses to"
    return f"{opening} {verb} scratch on the target by {fmt_diff(gain, metric)} {scores}."


def describe_source_vs_target(result: RunResult) -> str:
    """Which strategy kept the source best and which forgot the most."""
    metric = result.metric_name
    candidates = [s for s in result.strategies if s.strategy != BASELINE]
    if not candidates:
        return ""
    kept = max(candidates, key=lambda s: s.source_metric)
    lost = min(candidates, key=lambda s: s.source_metric)
    text = (f"{label(kept.strategy)} keeps the most of the source task "
            f"(source {metric} {fmt(kept.source_metric, metric)})")
    if lost is not kept:
        text += (f"; {name_in_text(lost.strategy)} keeps the least "
                 f"({fmt(lost.source_metric, metric)}): what it learned for the target overwrote "
                 f"some of the source")
    return text + "."


def describe_history(result: RunResult) -> str:
    """How target and source metric moved during target training, for each iterative strategy."""
    metric = result.metric_name
    parts = []
    for s in result.strategies:
        h = s.history
        if not h.get("step") or len(h["step"]) < 2:
            continue
        parts.append(f"{label(s.strategy)}: target {fmt(h['target_metric'][0], metric)} → "
                     f"{fmt(h['target_metric'][-1], metric)}, source {fmt(h['source_metric'][0], metric)}"
                     f" → {fmt(h['source_metric'][-1], metric)}")
    if not parts:
        return ""
    return "Over the epochs of target training — " + "; ".join(parts) + "."


def describe_data_efficiency(table: pd.DataFrame) -> str:
    """How the gain of the best strategy changes from the fewest to the most target labels."""
    summary, metric, over = summarize(table), table.attrs.get("metric", "accuracy"), table.columns[0]
    transfer = summary[summary.strategy != BASELINE]
    if transfer.empty:
        return ""
    fewest, most = summary[over].min(), summary[over].max()
    at_fewest = transfer[transfer[over] == fewest].sort_values("gain_mean").iloc[-1]
    at_most = transfer[transfer[over] == most].sort_values("gain_mean").iloc[-1]
    return (f"With {labels_phrase(int(fewest), metric)}, {name_in_text(at_fewest.strategy)} beats scratch "
            f"by {fmt_diff(at_fewest.gain_mean, metric)} on average"
            + ("" if at_fewest.gain_mean > 0 else " (it loses)")
            + f"; with {labels_phrase(int(most), metric)} the best gain is "
            f"{'+' if at_most.gain_mean >= 0 else '−'}{fmt_diff(at_most.gain_mean, metric)}"
            + (": scratch has caught up." if at_most.gain_mean < at_fewest.gain_mean / 2 else "."))


def describe_gap_curve(table: pd.DataFrame) -> str:
    """Where each strategy's gain over scratch turns negative as the gap grows."""
    summary, metric = summarize(table), table.attrs.get("metric", "accuracy")
    over = table.columns[0]
    parts = []
    for name, rows in summary[summary.strategy != BASELINE].groupby("strategy", sort=False):
        rows = rows.sort_values(over)
        negative = rows[rows.gain_mean < 0]
        if negative.empty:
            parts.append(f"{name_in_text(name)} stays above scratch up to {over} {rows[over].max():g}")
        else:
            first = negative.iloc[0]
            parts.append(f"{name_in_text(name)} falls below scratch from {over} {first[over]:g} "
                         f"({'−'}{fmt_diff(first.gain_mean, metric)})")
    return ("As the domains drift apart, " + "; ".join(parts) + ".") if parts else ""
