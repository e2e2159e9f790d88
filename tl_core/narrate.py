"""Sentences computed from what a chart shows, for the text under each chart (never canned text)."""

from __future__ import annotations

import pandas as pd

from tl_core.result import RunResult
from tl_core.strategies import BASELINE, SOURCE_ONLY, label
from tl_core.tables import strategy_rows, summarize

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


def signed(value: float, metric: str, minus: str = "−") -> str:
    """A difference with its sign: "+25 points", "−0.30"; one that rounds to zero has none
    ("0 points"), so a chart's 0 is never read as a loss."""
    text = fmt_diff(value, metric)
    if rounds_to_zero(value, metric):
        return text
    return ("+" if value > 0 else minus) + text


def rounds_to_zero(value: float, metric: str) -> bool:
    """Whether a difference reads as nothing at the precision the page gives it."""
    return fmt_diff(value, metric) in ("0 points", "0.00")


def comparable(a: float, b: float, metric: str) -> bool:
    """Whether "a beats b by a − b" means something: not for an R² below 0, which says only that
    the model predicts worse than the mean would (by how much says nothing a student can use)."""
    return metric != "R²" or min(a, b) >= 0


def labels_phrase(n_target: int, metric: str) -> str:
    if metric == "accuracy":
        return f"{n_target} label{'s' if n_target != 1 else ''} per class"
    return f"{n_target} labelled target sample{'s' if n_target != 1 else ''}"


def best_transfer(result: RunResult) -> str | None:
    """The strategy other than scratch with the highest target metric (RunResult.ranked)."""
    return next((s.strategy for s in result.ranked() if s.strategy != BASELINE), None)


def _names(strategies) -> str:
    """Strategy names joined in a sentence: "a", "a and b", "a, b and c"."""
    words = [name_in_text(s.strategy) for s in strategies]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def describe_result(result: RunResult) -> str:
    """Headline: how the best transfer strategy compares to scratch on the target.

    Two R² of which one is below 0 are not subtracted: "worse than predicting the mean" is what
    such an R² says, and a difference of 8.88 between 0.47 and −8.41 says nothing more.
    """
    metric = result.metric_name
    best = best_transfer(result)
    if best is None:
        return (
            f"Only scratch was run: target {metric} {fmt(result.strategy(BASELINE).target_metric, metric)}."
        )
    gain = result.gain(best)
    chosen, scratch = result.strategy(best).target_metric, result.strategy(BASELINE).target_metric
    opening = f"With {labels_phrase(result.config['n_target'], metric)}"
    if not comparable(chosen, scratch, metric):
        return (
            f"{opening}, {_r2_words(name_in_text(best), chosen, 'the target')}; "
            f"{_r2_words('scratch', scratch, 'it')}."
        )
    scores = f"({fmt(chosen, metric)} against {fmt(scratch, metric)})"
    if rounds_to_zero(gain, metric):
        return f"{opening}, {name_in_text(best)} ties with scratch on the target {scores}."
    verb = "beats" if gain > 0 else "loses to"
    return (
        f"{opening}, {name_in_text(best)} {verb} scratch on the target by {fmt_diff(gain, metric)} {scores}."
    )


def _r2_words(name: str, r2: float, what: str) -> str:
    """How well a model predicts the target, in words when its R² is below 0."""
    if r2 < 0:
        return f"{name} predicts {what} worse than its mean would (R² {fmt(r2, 'R²')})"
    return f"{name} predicts {what} with R² {fmt(r2, 'R²')}"


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


def source_model_metric(result: RunResult) -> float | None:
    """The source model's own source metric, before any target training."""
    if "source_model_metric" in result.extras:
        return result.extras["source_model_metric"]
    if SOURCE_ONLY in result.names():
        return result.strategy(SOURCE_ONLY).source_metric
    return None


def describe_source_vs_target(result: RunResult) -> str:
    """Of the strategies that train on the target, which kept the source best and which forgot
    the most, against the source model's own score. Source only is not among them: it trains
    nothing, so it is the source model; scratch never learned the source."""
    metric = result.metric_name
    candidates = [s for s in result.strategies if s.strategy not in (BASELINE, SOURCE_ONLY)]
    if not candidates:
        return ""
    most = max(s.source_metric for s in candidates)
    least = min(s.source_metric for s in candidates)
    kept = [s for s in candidates if fmt(s.source_metric, metric) == fmt(most, metric)]
    lost = [s for s in candidates if fmt(s.source_metric, metric) == fmt(least, metric)]
    before = source_model_metric(result)
    reference = "" if before is None else f"; the source model's own: {fmt(before, metric)}"
    verb = "keeps" if len(kept) == 1 else "keep"
    text = (
        f"Of the strategies trained on the target, {_names(kept)} {verb} the most of the source task "
        f"(source {metric} {fmt(most, metric)}{reference})"
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


def best_gain_curve(table: pd.DataFrame) -> pd.DataFrame:
    """The rows (sorted by the swept value) of the strategy whose gain over scratch is highest at
    some swept value: the best transfer of the sweep (empty without one). The gain is read as the
    data-efficiency chart shows it, the strategy's mean target metric minus scratch's, in
    `gain_mean`."""
    summary, over = summarize(table), table.columns[0]
    transfer = summary[summary.strategy != BASELINE].copy()
    if transfer.empty or BASELINE not in set(summary.strategy):
        return transfer.iloc[0:0]
    scratch = summary[summary.strategy == BASELINE].set_index(over).target_metric_mean
    transfer["gain_mean"] = transfer.target_metric_mean - transfer[over].map(scratch)
    best = transfer.loc[transfer.gain_mean.idxmax(), "strategy"]
    return transfer[transfer.strategy == best].sort_values(over)


def round_for(value: float, metric: str) -> float:
    """A value as the page shows it: whole points of accuracy, R² to two decimals."""
    return round(100 * value) if metric == "accuracy" else round(value, 2)


def describe_gain_path(values: list, gains: list[float], where, metric: str) -> str:
    """A gain curve in words, from its first to its last value, through a peak or a trough
    between them when there is one: "+25 points with 2 labels per class, up to +60 points with
    10, then down to +20 points with 50". `where(value)` words a swept value ("with 10 labels
    per class", "at gap 0.5")."""
    shown = [round_for(g, metric) for g in gains]
    last = len(gains) - 1

    def point(i: int) -> str:
        return f"{signed(gains[i], metric)} {where(values[i])}"

    if last == 0:
        return point(0)
    peak = max(range(last + 1), key=lambda i: (shown[i], -i))
    trough = min(range(last + 1), key=lambda i: (shown[i], i))
    if 0 < peak < last and shown[peak] > max(shown[0], shown[last]):
        return f"{point(0)}, up to {point(peak)}, then down to {point(last)}"
    if 0 < trough < last and shown[trough] < min(shown[0], shown[last]):
        return f"{point(0)}, down to {point(trough)}, then up to {point(last)}"
    return f"{point(0)} → {point(last)}"


def describe_data_efficiency(table: pd.DataFrame) -> str:
    """What the best transfer's gain over scratch does as target labels grow: where it starts,
    where it peaks when that is not the first stop (it grows first and shrinks only after), and
    where it ends; "caught up" only when the gain is gone."""
    metric, over = table.attrs.get("metric", "accuracy"), table.columns[0]
    rows = best_gain_curve(table)
    if rows.empty:
        return ""
    name, values, gains = name_in_text(rows.strategy.iloc[0]), rows[over].tolist(), rows.gain_mean.tolist()
    shown, last = [round_for(g, metric) for g in gains], len(gains) - 1

    def at(i: int) -> str:
        return f"{signed(gains[i], metric)} with {labels_phrase(int(values[i]), metric)}"

    if max(shown) < 0:  # transfer hurts everywhere: no "beats", no "caught up"
        return (
            f"Even the best transfer, {name}, loses to scratch at every number of labels, on "
            f"average: {at(0)}" + (f", {at(last)}." if last else ".")
        )
    if shown[0] == 0:
        opening = f"With {labels_phrase(int(values[0]), metric)}, {name} ties with scratch on average"
    else:
        verb = "beats" if gains[0] > 0 else "loses to"
        opening = (
            f"With {labels_phrase(int(values[0]), metric)}, {name} {verb} scratch by "
            f"{fmt_diff(gains[0], metric)} on average"
        )
    if last == 0:
        return opening + "."
    peak = max(range(last + 1), key=lambda i: (shown[i], -i))  # the first stop of the largest gain
    if shown[last] == shown[peak] > shown[0]:
        return f"{opening}; its gain grows to {at(last)}: within this sweep scratch does not catch up."
    if shown[peak] > shown[0]:  # it grows, then shrinks: say where
        text = f"{opening}; its gain first grows, to {at(peak)}, and only then shrinks, to {at(last)}"
    elif shown[last] < shown[0]:
        text = f"{opening}; the gain shrinks as labels grow, to {at(last)}"
    else:
        return f"{opening}; {at(last)}, the gain is about the same."
    if shown[last] == 0:
        return text + ": scratch has caught up."
    if shown[last] < 0:
        return text + ": scratch has overtaken it."
    return text + "."


def describe_gap_curve(table: pd.DataFrame) -> str:
    """For each strategy, where its gain over scratch is below zero as the gap grows, read at the
    precision the page shows (a gain that rounds to 0 is level, never "−0 points")."""
    summary, metric = summarize(table), table.attrs.get("metric", "accuracy")
    over = table.columns[0]
    parts = []
    for name, rows in summary[summary.strategy != BASELINE].groupby("strategy", sort=False):
        rows = rows.sort_values(over)
        parts.append(
            _gap_words(name_in_text(name), rows[over].tolist(), rows.gain_mean.tolist(), over, metric)
        )
    return ("As the domains drift apart, " + "; ".join(parts) + ".") if parts else ""


def _gap_words(name: str, values: list, gains: list[float], over: str, metric: str) -> str:
    """One strategy's gap curve: where it is below scratch and where it is not."""
    shown = [round_for(g, metric) for g in gains]
    below = [v < 0 for v in shown]
    last = len(gains) - 1

    def at(i: int) -> str:
        return f"{signed(gains[i], metric)} at {over} {values[i]:g}"

    def not_below(rows: list[int]) -> str:
        return "above" if all(shown[i] > 0 for i in rows) else "level with or above"

    if not any(below):
        where = not_below(list(range(last + 1)))
        return f"{name} stays {where} scratch up to {over} {values[last]:g} ({at(last)})"
    if all(below):
        return f"{name} is below scratch at every {over} ({at(0)}, {at(last)})"
    first = below.index(True)
    if all(below[first:]):
        return f"{name} falls below scratch from {over} {values[first]:g} ({at(first)}" + (
            f", {at(last)})" if first < last else ")"
        )
    runs, start = [], 0  # below, then not, then below...: name each stretch
    for i in range(1, last + 2):
        if i > last or below[i] != below[start]:
            span = f"{values[start]:g}" if i - 1 == start else f"{values[start]:g} to {values[i - 1]:g}"
            words = "below" if below[start] else not_below(list(range(start, i)))
            runs.append(f"{words} scratch at {over} {span}")
            start = i
    return f"{name} is " + ", then ".join(runs) + f" ({at(last)})"


def describe_compare_gains(
    tables: dict[str, pd.DataFrame], titles: dict[str, str], strategy: str, over: str
) -> str:
    """Under the Compare page's chart: how `strategy`'s gain moves over the swept values, demo by
    demo: from the first value to the last, through a peak (or a trough) between them when the
    curve rises and falls."""
    parts = []
    for demo, table in tables.items():
        rows = strategy_rows(summarize(table), strategy)
        if rows.empty:
            continue
        metric = table.attrs.get("metric", "accuracy")
        path = describe_gain_path(
            rows[over].tolist(), rows.gain_mean.tolist(), lambda v, m=metric: _where(over, v, m), metric
        )
        parts.append(f"{titles[demo]}: {path}")
    if not parts:
        return ""
    return f"{label(strategy)}'s gain over scratch — " + "; ".join(parts) + "."


def _where(over: str, value: float, metric: str) -> str:
    """A swept value in words: "with 2 labels per class", "at gap 0.5"."""
    if over == "n_target":
        return "with " + labels_phrase(int(value), metric)
    return f"at {over} {value:g}"
