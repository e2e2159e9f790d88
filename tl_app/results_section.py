"""The results of a demo page's run: the headline beside the source-vs-target chart (the first
screen, with the controls above them), then the numbers and the training curves."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from tl_app import exports, glossary
from tl_app.page_charts import Charts
from tl_core import narrate, plots
from tl_core.limits import LIMITS
from tl_core.result import RunResult
from tl_core.strategies import BASELINE, SOURCE_ONLY, SOURCE_ONLY_LEFT_OUT

FIRST_CHART_HEIGHT = 420  # px: under the title and the controls, inside a 1280x720 screen


def first_screen(result: RunResult, charts: Charts) -> None:
    """The headline beside the source-vs-target chart: on screen with the controls above them."""
    left, right = st.columns([1, 2], gap="medium")
    with left:
        headline(result)
    with right:
        charts.show(
            lambda: plots.source_vs_target(result),
            "source_vs_target_chart",
            narrate.describe_source_vs_target(result),
            height=FIRST_CHART_HEIGHT,
            strategies=result.names(),
        )


def delta(value: float, reference: float, metric: str, against: str) -> dict:
    """st.metric's delta for `value` against `reference`: the signed difference ("-" leads a loss,
    which st.metric colours red), grey and without an arrow when it reads as zero; none where an
    R² below 0 makes the difference meaningless (the sentence under it says so in words)."""
    if not narrate.comparable(value, reference, metric):
        return dict(delta=None)
    difference = narrate.signed(value - reference, metric, minus="-")
    words = f"{difference} vs {against} ({narrate.fmt(reference, metric)})"
    if narrate.rounds_to_zero(value - reference, metric):
        return dict(delta=words, delta_color="off", delta_arrow="off")
    return dict(delta=words)


def headline(result: RunResult) -> None:
    """Two numbers: what the best transfer gains on the target, and what it costs on the source."""
    best = narrate.best_transfer(result)
    if best is None:
        metric = result.metric_name
        scratch = result.strategy(BASELINE).target_metric
        st.metric(f"Target {metric} of scratch", narrate.fmt(scratch, metric), help=glossary.help_for(metric))
    else:
        best_transfer_metrics(result, best)
    st.markdown("**" + narrate.describe_result(result) + "**")
    if negative := narrate.describe_negative_r2(result):
        st.caption(negative)
    if SOURCE_ONLY in result.config.get("strategies", ()) and SOURCE_ONLY not in result.names():
        st.caption(SOURCE_ONLY_LEFT_OUT)


def best_transfer_metrics(result: RunResult, best: str) -> None:
    """The best transfer's target metric against scratch's, and its source metric against the
    source model's."""
    metric, meaning = result.metric_name, glossary.help_for(result.metric_name)
    chosen, scratch = result.strategy(best), result.strategy(BASELINE)
    before = narrate.source_model_metric(result)
    st.metric(
        f"Target {metric} of the best transfer: {narrate.name_in_text(best)}",
        narrate.fmt(chosen.target_metric, metric),
        **delta(chosen.target_metric, scratch.target_metric, metric, "scratch"),
        help=glossary.line(best) + "\n\n" + meaning,
    )
    st.metric(
        f"Source {metric} after {narrate.name_in_text(best)}",
        narrate.fmt(chosen.source_metric, metric),
        **({} if before is None else delta(chosen.source_metric, before, metric, "the source model")),
        help=meaning,
    )


def numbers_section(result: RunResult, charts: Charts) -> None:
    """What the chart above shows in words and numbers, then during target training."""
    st.subheader("1 · Source vs target: the numbers, and epoch by epoch")
    with st.expander(f"Source and target {result.metric_name} of every strategy", expanded=True):
        numbers_tables(charts.context, result)
    if any(s.history.get("step") for s in result.strategies):
        charts.show(
            lambda: plots.training_curves(result),
            "training_curves_chart",
            narrate.describe_history(result),
            strategies=result.names(),
        )


@st.cache_data(max_entries=LIMITS.cache_entries * 4, show_spinner=False)
def numbers_tables(context: str, _result: RunResult) -> None:
    """The results' two tables and their captions, for the page of `context` (the demo, its
    settings and data, which make the result). Drawn once per setting in this process; every
    later visit replays the drawn elements (Streamlit's cache keeps what a cached function
    drew): styling the tables cost a stored page more than anything else it draws."""
    metrics, losses = results_tables(_result)
    st.table(styled(metrics))
    st.caption(f"The {_result.loss_name} each strategy reaches (what training minimises; lower is better):")
    st.table(styled(losses))
    st.caption(glossary.lines([_result.metric_name, _result.loss_name]))


def results_tables(result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results as a student reads them, one row per strategy: the metrics and the gain, then
    the losses (two narrow tables rather than one wide one: they fit a phone without scrolling)."""
    table = exports.display_table(result).rename(columns=lambda c: c.replace("target gain", "gain"))
    table = table.set_index("strategy")
    losses = [c for c in table.columns if c.endswith(result.loss_name)]
    return table.drop(columns=losses), table[losses]


def styled(table: pd.DataFrame):
    """One decimal for percentages and points, three for R² and losses; gains with their sign.
    A value that rounds to zero is written 0 (+0.0 for a gain), never "-0.000": its sign would
    contradict the number shown."""

    def style(name: str):
        decimals = 1 if name.endswith(("(%)", "(points)")) else 3
        pattern = f"{{:{'+' if 'gain' in name else ''}.{decimals}f}}"
        return lambda value: pattern.format(round(value, decimals) + 0.0)  # -0.0 + 0.0 is 0.0

    return table.style.format({name: style(name) for name in table.columns}, na_rep="—")
