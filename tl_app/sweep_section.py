"""A demo page's sweeps: data efficiency (over the labelled target samples) and the gap.

A sweep runs every strategy at each value of one setting around the page's settings, for a few
seeds. It is drawn at once when it is stored (prepared before class, or computed before on this
machine), else on its button. A sweep drawn before stays on screen when a setting changes,
marked as made with the earlier settings, until it is run for the new ones.
"""

from __future__ import annotations

import functools

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import tl_core
from tl_app import cached, controls
from tl_app.page_charts import Charts
from tl_core import lecture, narrate, plots
from tl_core.lecture import gap_scenarios, sweep_values
from tl_core.limits import LIMITS
from tl_core.userdata import UserData

SWEEP_TEXT = {
    "n_target": (
        "3 · Data efficiency: how many target labels does transfer save?",
        "Run the data-efficiency sweep",
        "labelled target samples",
    ),
    "gap": ("4 · The gap: when does transfer hurt?", "Run the gap sweep", "gap"),
}
SWEEP_VIEWS = {  # each sweep's chart, its sentence, its chart's key
    "n_target": (plots.data_efficiency, narrate.describe_data_efficiency, "efficiency"),
    "gap": (plots.gap_curve, narrate.describe_gap_curve, "gap"),
}
EARLIER = "_tl_sweeps_drawn"  # session state: the last sweep each page drew, by (demo, over)


def sweep_section(demo: str, module, config, over: str, charts: Charts, data: UserData | None = None):
    """The sweep of `over` around the page's settings, where one applies (a demo with no such
    setting has no such section).

    Returns (values, seeds) when the sweep shown is that of the page's settings, for the
    notebook; else None.
    """
    if over not in module.Config.field_names():
        return None
    title, button, _ = SWEEP_TEXT[over]
    st.subheader(title)
    values, seeds = values_that_apply(module, config, over, data), st.session_state["sweep_seeds"]
    if values is None:
        return None
    fields = {k: v for k, v in config.to_dict().items() if k != over}
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in fields.items()))
    problem = no_sweep_because(demo, over, tuple(values), seeds, frozen)
    if problem:  # e.g. the seed at the top of its range: the sweep's further seeds are not seeds
        st.caption(f"No sweep for these settings: {controls.escape(problem)}.")
        return None
    which = data.name if data is not None else "built-in scenario"
    settings = {**fields, "values": values, "seeds": seeds, "data": which}
    work = repr((demo, over, sorted(settings.items()), data.fingerprint if data is not None else None))
    table = stored_table(work, demo, over, values, seeds, fields, data)
    if table is None:
        note = "" if controls.asked(work) else button_note(module, config, over, values, seeds, data)
        if not controls.requested(work, button, key=f"run_{over}_sweep", note=note):
            earlier_sweep(demo, over, settings, charts)
            return None
        table = cached.sweep(demo, over, tuple(values), seeds, fields, **cached.with_data(data))
    draw_sweep(table, charts, over)
    st.session_state.setdefault(EARLIER, {})[(demo, over)] = {"settings": settings, "table": table}
    return values, seeds


def button_note(module, config, over: str, values: list, seeds: int, data: UserData | None) -> str:
    """The note above a sweep's button: what it runs and, for a sweep `prepare` stores, that it
    need not wait."""
    words = SWEEP_TEXT[over][2]
    note = (
        f"Runs every strategy for {words} = {', '.join(f'{v:g}' for v in values)}, "
        f"{seeds} seed{'s' if seeds > 1 else ''} each ({len(values) * seeds} runs)."
    )
    if data is None and lecture.prepared(module, lecture.Sweep(over, tuple(values), seeds, config)):
        note += prepare_hint("this sweep is")
    return note


def prepare_hint(what: str) -> str:
    """Said under the button of sweeps that `prepare` stores, not stored on this machine yet;
    `what` is the subject and its verb ("this sweep is"). Worded for whoever runs the machine: on
    a class's server a student reads it too, and has nothing to run."""
    return f" On a machine prepared before class (`transfer-lab prepare`), {what} drawn at once."


@functools.lru_cache(maxsize=256)
def no_sweep_because(demo: str, over: str, values: tuple, seeds: int, fields: tuple) -> str:
    """Why the sweep's configs are not valid, or "" (known once per process: building every
    config of a sweep to check it cost more than drawing the stored sweep)."""
    try:
        tl_core.api.sweep_configs(demo, over, list(values), seeds, **dict(fields))
    except ValueError as err:
        return str(err)
    return ""


@functools.lru_cache(maxsize=1024)
def _sweep_values(module, config, over: str) -> tuple:
    """tl_core.lecture.sweep_values, known once per process and setting: it builds a config
    for every value to check it, which cost a stored page more than its charts."""
    return tuple(sweep_values(module, config, over))


def values_that_apply(module, config, over: str, data: UserData | None) -> list | None:
    """The values the sweep steps through that the data and the scenario allow, or None (with
    a caption saying why) where no sweep applies."""
    values = list(_sweep_values(module, config, over))
    if data is not None:
        if over == "gap":
            st.caption(
                "Your data has its own gap between source and target: the gap sweep "
                "needs a built-in scenario, whose gap is a setting."
            )
            return None
        most = module.OFFERS.max_n_target(data)
        values = [v for v in values if v <= most]
        if len(values) < 2:
            st.caption(
                f"Your data allows at most {most} labelled target samples"
                f"{' per class' if module.METRIC == 'accuracy' else ''}: too few for a curve."
            )
            return None
    if over == "gap" and "gap" in config.ignored_fields():
        others = " or ".join(f"**{controls.choice_label(s)}**" for s in gap_scenarios(module))
        st.caption(
            f"The gap is a setting of the {others} scenario only (in "
            f"{controls.choice_label(config.scenario)}, the target task is fixed): choose "
            "it above to sweep the gap."
        )
        return None
    return values


def stored_table(
    work: str, demo: str, over: str, values: list, seeds: int, fields: dict, data: UserData | None
) -> pd.DataFrame | None:
    """The sweep from the store of results, the first time this session meets `work`: a
    prepared sweep needs no button."""
    if controls.asked(work):
        return None
    table = cached.stored_sweep(demo, over, tuple(values), seeds, fields, data)
    if table is not None:
        controls.mark_asked(work)
    return table


def draw_sweep(table: pd.DataFrame, charts: Charts, over: str, earlier: str = "") -> None:
    """The sweep's chart and sentence; `earlier`: the note of a sweep made with other settings,
    written on its title too, so that no one takes it for the settings above."""
    draw, _, key = SWEEP_VIEWS[over]
    content = f"{pd.util.hash_pandas_object(table).sum()}|{list(table.columns)}|{bool(earlier)}"  # the table

    def build() -> go.Figure:
        fig = draw(table)
        if earlier:
            fig.update_layout(title=f"Made with the earlier settings — {fig.layout.title.text}")
        return fig

    if earlier:
        st.info(earlier, icon=":material/history:")
    sentence = sweep_sentence(over, content, table)
    charts.show(build, f"{key}_chart", sentence, strategies=table.strategy.unique(), content=content)


@st.cache_resource(max_entries=LIMITS.cache_entries * 4, show_spinner=False)
def sweep_sentence(over: str, content: str, _table: pd.DataFrame) -> str:
    """What the sweep's chart shows, in words: written once per process for the table `content`
    names (reading the curves took a tenth of a stored page's time)."""
    _, describe, _ = SWEEP_VIEWS[over]
    return describe(_table)


def earlier_sweep(demo: str, over: str, settings: dict, charts: Charts) -> None:
    """The sweep this page drew before, if any, kept in view and said to be made with other
    settings."""
    earlier = st.session_state.get(EARLIER, {}).get((demo, over))
    if earlier is None:
        return
    changed = [
        f"{controls.label_of_name(name)} {controls.show(old)} → {controls.show(settings.get(name))}"
        for name, old in earlier["settings"].items()
        if settings.get(name) != old
    ]
    draw_sweep(
        earlier["table"],
        charts,
        over,
        "This curve was made with the earlier settings ("
        + "; ".join(controls.escape(c) for c in changed)
        + "). Run the sweep above to redraw it for the settings now.",
    )
