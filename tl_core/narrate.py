"""Sentences computed from what a chart shows, for the text under each chart (never canned text)."""

from __future__ import annotations

import pandas as pd

from tl_core.api import summarize
from tl_core.result import RunResult
from tl_core.strategies import BASELINE, label

FORGOT = 0.05  # a source score this much below the best kept one is called forgetting


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
    """The strategy other than scratch with the highest target metric (RunResult.ranked)."""
    return next((s.strategy for s in result.ranked() if s.strategy != BASELINE), None)


def _names(strategies, first_in_sentence: bool = False) -> str:
    """Strategy names joined in a sentence: "a", "a and b", "a, b and c"."""
    words = [name_in_text(s.strategy) for s in strategies]
    if first_in_sentence:
        words[0] = label(strategies[0].strategy)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe_result(result: RunResult) -> str:
    """Headline: how the best transfer strategy compares to scratch on the target."""
    metric = result.metric_name
    best = best_transfer(result)
    if best is None:
        return (
            f"Only scratch was run: target {metric} {fmt(result.strategy(BASELINE).target_metric, metric)}."
        )
    gain = result.gain(best)
    scratch = result.strategy(BASELINE).target_metric
    scores = f"({fmt(result.strategy(best).target_metric, metric)} against {fmt(scratch, metric)})"
    opening = f"With {labels_phrase(result.config['n_target'], metric)}, {name_in_text(best)}"
    if fmt_diff(gain, metric) in ("0 points", "0.00"):
        return f"{opening} ties with scratch on the target {scores}."
    verb = "beats" if gain > 0 else "still loses to"
    return f"{opening} {verb} scratch on the target by {fmt_diff(gain, metric)} {scores}."


def describe_negative_r2(result: RunResult) -> str:
    """What an R² below 0 on the target means, when some strategy has one ("" otherwise)."""
    if result.metric_name != "R²":
        return ""
    below = [s for s in result.ranked() if s.target_metric < 0]
    reasons = []
    if any(s.strategy == BASELINE for s in below):
        reasons.append("scratch has too few labelled samples for the parameters it fits")
    if transfer := [s for s in below if s.strategy != BASELINE]:
        verb = "is" if len(transfer) == 1 else "are"
        reasons.append(f"{_names(transfer)} {verb} led astray by a source unlike the target")
    if not reasons:
        return ""
    return "An R² below 0 predicts the target worse than its mean would: " + "; ".join(reasons) + "."


def describe_source_vs_target(result: RunResult) -> str:
    """Which strategies kept the source best and which forgot the most. Source only is left out:
    it does not train, so it keeps the source model's accuracy by definition."""
    metric = result.metric_name
    candidates = [s for s in result.strategies if s.strategy not in (BASELINE, "source_only")]
    if not candidates:
        return ""
    most = max(s.source_metric for s in candidates)
    least = min(s.source_metric for s in candidates)
    kept = [s for s in candidates if fmt(s.source_metric, metric) == fmt(most, metric)]
    lost = [s for s in candidates if fmt(s.source_metric, metric) == fmt(least, metric)]
    verb = "keeps" if len(kept) == 1 else "keep"
    text = (
        f"{_names(kept, first_in_sentence=True)} {verb} the most of the source task "
        f"(source {metric} {fmt(most, metric)})"
    )
    if lost[0] not in kept:
        verb = "keeps" if len(lost) == 1 else "keep"
        text += f"; {_names(lost)} {verb} the least ({fmt(least, metric)})"
        if most - least >= FORGOT:  # a drop worth a cause; a point or two is noise
            text += (
                f": what {'it' if len(lost) == 1 else 'they'} learned for the target "
                f"overwrote some of the source"
            )
    return text + "."


def describe_best_and_worst(result: RunResult) -> str:
    """Under a model view: the strategies best and worst on the target (RunResult.ranked)."""
    metric = result.metric_name
    ranked = result.ranked()
    best, worst = ranked[0], ranked[-1]
    if best is worst:
        return ""
    return (
        f"Best on the target: {name_in_text(best.strategy)} ({metric} "
        f"{fmt(best.target_metric, metric)}); worst: {name_in_text(worst.strategy)} "
        f"({fmt(worst.target_metric, metric)})."
    )


def describe_history(result: RunResult) -> str:
    """How target and source metric moved during target training, for each iterative strategy."""
    metric = result.metric_name
    parts = []
    for s in result.strategies:
        h = s.history
        if not h.get("step") or len(h["step"]) < 2:
            continue
        parts.append(
            f"{label(s.strategy)}: target {fmt(h['target_metric'][0], metric)} → "
            f"{fmt(h['target_metric'][-1], metric)}, source {fmt(h['source_metric'][0], metric)}"
            f" → {fmt(h['source_metric'][-1], metric)}"
        )
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
    gain = at_fewest.gain_mean
    if gain > 0:
        opening = f"{name_in_text(at_fewest.strategy)} beats scratch by {fmt_diff(gain, metric)}"
    else:  # transfer hurts: the best of it still loses
        opening = (
            f"even the best transfer, {name_in_text(at_fewest.strategy)}, loses to scratch "
            f"by {fmt_diff(gain, metric)}"
        )
    caught_up = 0 < gain and at_most.gain_mean < gain / 2
    return (
        f"With {labels_phrase(int(fewest), metric)}, {opening} on average; with "
        f"{labels_phrase(int(most), metric)} the best gain is "
        f"{'+' if at_most.gain_mean >= 0 else '−'}{fmt_diff(at_most.gain_mean, metric)}"
        + (": scratch has caught up." if caught_up else ".")
    )


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
            parts.append(
                f"{name_in_text(name)} falls below scratch from {over} {first[over]:g} "
                f"({'−'}{fmt_diff(first.gain_mean, metric)})"
            )
    return ("As the domains drift apart, " + "; ".join(parts) + ".") if parts else ""
