"""Compare: every demo's transfer gain on the same axes, against target labels and against the gap."""

import pandas as pd
import streamlit as st

import tl_core
from tl_app import cached, controls, figures, glossary, sweep_section, sweeps
from tl_app.catalog import DEMO_BY_NAME
from tl_core import lecture, narrate, plots
from tl_core.config import FieldSpec
from tl_core.strategies import BASELINE, STRATEGIES, label

available = tl_core.available_demos()
strategies = [
    s for s in STRATEGIES if s != BASELINE and any(s in tl_core.get_demo(d).STRATEGIES for d in available)
]
DEMOS = FieldSpec(
    "demos",
    tuple,
    tuple(available),
    "demos to put on the charts, each with its default settings",
    choices=tuple(available),
)
STRATEGY = FieldSpec(
    "strategy",
    str,
    "fine_tune" if "fine_tune" in strategies else strategies[0],
    "whose gain over scratch to draw (a demo without it is left out)",
    choices=tuple(strategies),
)
SPECS = [DEMOS, STRATEGY, sweeps.SWEEP_SEEDS, controls.SEED]
titles = {d: DEMO_BY_NAME[d].title for d in available}


def prepared(demo: str, over: str, values: tuple, fields: dict, seeds: int) -> bool:
    """Whether `transfer-lab prepare` stores this demo's sweep (tl_core.lecture.prepared)."""
    module = tl_core.get_demo(demo)
    return lecture.prepared(module, lecture.Sweep(over, values, seeds, module.Config(**fields)))


controls.enter_page("compare", SPECS)
with st.sidebar:
    st.header("Compare")
    controls.widget(DEMOS, format_func=titles.get)
    controls.widget(STRATEGY, format_func=label, more_help=glossary.lines(strategies))
    controls.widget(sweeps.SWEEP_SEEDS)
    controls.widget(controls.SEED)
    st.button(
        "Reset to defaults",
        key="reset",
        on_click=controls.reset,
        args=(SPECS,),
        icon=":material/restart_alt:",
        width="stretch",
    )
controls.write_link(SPECS)
controls.remember("compare", SPECS)

st.title("Compare the demos")
controls.show_link_warnings()
st.markdown(
    "The same two questions for every demo, each at its default settings: how does the "
    "**gain over scratch** change as the target gets **more labels**, and as the **gap** "
    "between source and target grows (for a demo whose default scenario has no gap "
    "setting, in the scenario that has one)? Above the dashed line transfer helps; below "
    "it, it hurts."
)
chosen = [d for d in st.session_state["demos"] if d in available]
strategy, seeds, seed = (
    st.session_state["strategy"],
    st.session_state["sweep_seeds"],
    st.session_state["seed"],
)
missing = [titles[d] for d in chosen if strategy not in tl_core.get_demo(d).STRATEGIES]
if missing:
    st.info(
        f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no "
        f"{label(strategy).lower()}: left out of the charts."
    )
chosen = [d for d in chosen if strategy in tl_core.get_demo(d).STRATEGIES]
if not chosen:
    st.warning("Pick at least one demo (sidebar, “Demos”).")


for over, heading, button in (
    ("n_target", "Gain vs number of target labels", "Run the label sweeps"),
    ("gap", "Gain vs gap", "Run the gap sweeps"),
):
    st.subheader(heading)
    if not chosen:
        continue
    plan, moved = {}, []
    for demo in chosen:
        module = tl_core.get_demo(demo)
        base = module.Config(seed=seed)
        fields = {"seed": seed}
        if over == "gap" and "gap" in base.ignored_fields():  # a flat line there: its shift instead
            fields["scenario"] = lecture.gap_scenarios(module)[0]
            moved.append(f"{titles[demo]} in its {controls.choice_label(fields['scenario'])} scenario")
        plan[demo] = (tuple(lecture.sweep_values(module, base, over)), fields)
        try:  # e.g. the seed at the top of its range: the sweep's further seeds are not seeds
            tl_core.api.sweep_configs(demo, over, plan[demo][0], seeds, **fields)
        except ValueError as err:
            st.caption(f"No sweep of {titles[demo]}: {controls.escape(str(err))}.")
            del plan[demo]
    if not plan:
        continue
    work = repr(("compare", over, sorted(plan.items()), seeds))
    ready = {}  # sweeps already in the store of results (prepared before class): drawn at once
    if not controls.asked(work):
        for demo, (values, fields) in plan.items():
            table = cached.stored_sweep(demo, over, tuple(values), seeds, fields)
            if table is not None:
                ready[demo] = table
        if len(ready) == len(plan):
            controls.mark_asked(work)
    missing = [demo for demo in plan if demo not in ready]
    runs = sum(len(plan[demo][0]) * seeds for demo in missing)
    note = (
        f"{runs} runs ({seeds} seed{'s' if seeds > 1 else ''} per value) for "
        f"{', '.join(titles[d] for d in missing)}; the torch demos take longest."
        + (
            f" Some demos have the gap in one scenario only, and sweep it there: {', '.join(moved)}."
            if moved
            else ""
        )
    )
    if missing and not controls.asked(work) and all(prepared(d, over, *plan[d], seeds) for d in missing):
        note += sweep_section.prepare_hint("these sweeps are")
    if controls.asked(work) or controls.requested(work, button, key=f"run_{over}_sweeps", note=note):
        tables = {
            demo: ready[demo] if demo in ready else cached.sweep(demo, over, values, seeds, fields)
            for demo, (values, fields) in plan.items()
        }
    elif ready:
        st.caption(
            f"Drawn at once from the results prepared on this server: {', '.join(titles[d] for d in ready)}; "
            "the button adds the others."
        )
        tables = ready
    else:
        continue
    drawn = sorted((demo, int(pd.util.hash_pandas_object(table).sum())) for demo, table in tables.items())
    figures.show(
        figures.Drawn.of(
            repr(("compare", over, strategy, drawn)),
            lambda tables=tables, over=over: plots.compare_gains(tables, titles, strategy, over),
        ),
        key=f"compare_{over}_chart",
    )
    glossary.strategies_popover([strategy, BASELINE], key=f"compare_{over}_strategies")
    st.markdown(narrate.describe_compare_gains(tables, titles, strategy, over))
