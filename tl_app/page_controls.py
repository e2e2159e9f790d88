"""A demo page's controls: the main ones in a row under the title, the rest in the sidebar.

The row holds what a lecture moves (scenario, gap, labelled samples, λ), beside what it
changes; the sidebar keeps the data, the strategies, training settings and seeds. Every control
is mirrored into the page's link.
"""

from __future__ import annotations

import streamlit as st

from tl_app import controls, glossary, user_data
from tl_app.sweeps import SWEEP_SEEDS
from tl_core.config import DemoConfig, FieldSpec

ROW_FIELDS = ("scenario", "gap", "n_target", "lam")  # what a lecture moves: beside what it changes
PAGE_ONLY = ("sweep_seeds", "data", "table")  # controls of the page, not of the demo's config
OWN_PLACE = ("seed", *PAGE_ONLY)  # drawn in a place of their own, not under "More settings"


def page_specs(module) -> list[FieldSpec]:
    """Every control of a demo page: the data choice (when the demo takes a user's data), the
    config's fields, the sweeps' seed count."""
    data = [user_data.DATA_SOURCE] if user_data.takes_user_data(module) else []
    table = user_data.table_source(module)
    return data + ([table] if table else []) + controls.controls_of(module.Config) + [SWEEP_SEEDS]


def experiment_controls(demo: str, module, specs: list[FieldSpec]) -> DemoConfig | None:
    """Draw the controls; put them in the link; return the demo config, or None when invalid."""
    entered = controls.enter_page(demo, specs)
    user_data.fall_back_from_link(demo, entered)
    by_name = {s.name: s for s in specs}
    own = data_controls(module, by_name)
    ignored = row_controls(module, [by_name[name] for name in ROW_FIELDS if name in by_name], own)
    sidebar_controls(specs, by_name, ignored, per_class=module.METRIC == "accuracy")
    controls.write_link(specs)
    controls.remember(demo, specs)
    return config_of(module, specs)


def data_controls(module, by_name: dict[str, FieldSpec]) -> tuple[str, ...]:
    """The data choice first, in the sidebar: it decides the rest. Returns the settings that a
    user's own data leaves without effect."""
    own: tuple[str, ...] = ()
    with st.sidebar:
        st.header("Experiment")
        if "data" in by_name and user_data.data_widget() == "own":
            own = user_data.ignored_with_own_data(module)
        if "table" in by_name:  # which table, with one's own data: greyed out without
            mine = st.session_state["data"] == "own"
            controls.widget(by_name["table"], format_func=user_data.table_words, ignored=not mine)
    return own


def row_controls(module, row: list[FieldSpec], own: tuple[str, ...]) -> tuple[str, ...]:
    """The main controls in a row, the scenario first (it decides which settings apply); returns
    the settings ignored, greyed out wherever they are drawn."""
    ignored, per_class = own, module.METRIC == "accuracy"  # a classifier counts per class
    for column, spec in zip(st.columns(len(row)), row):
        with column:
            value = controls.widget(
                spec, ignored=spec.name in ignored, per_class=per_class, more_help=glossary_help(spec)
            )
        if spec.name == "scenario":
            ignored = module.Config.ignored_by_scenario.get(value, ()) + own
    return ignored


def sidebar_controls(
    specs: list[FieldSpec], by_name: dict[str, FieldSpec], ignored: tuple[str, ...], per_class: bool
) -> None:
    """The rest in the sidebar: the other main settings, then "More settings", seeds, reset."""
    side = [s for s in specs if s.name in controls.MAIN_FIELDS and s.name not in ROW_FIELDS]
    more = [s for s in specs if s.name not in controls.MAIN_FIELDS and s.name not in OWN_PLACE]
    with st.sidebar:
        for spec in side:
            controls.widget(spec, ignored=spec.name in ignored, more_help=glossary_help(spec))
        with st.expander("More settings"):
            if "n_target" in by_name:  # the row's slider stops at a few counts; any other here
                words = controls.label_of(by_name["n_target"], per_class).lower()
                controls.exact_widget(by_name["n_target"], f"Exact number of {words}")
            for spec in more:
                controls.widget(spec, ignored=spec.name in ignored)
        controls.widget(SWEEP_SEEDS)
        controls.widget(by_name["seed"])
        st.button(
            "Reset to defaults",
            key="reset",
            on_click=controls.reset,
            args=(specs,),
            icon=":material/restart_alt:",
            width="stretch",
        )
        st.caption("The address bar always holds this experiment: copy it to share it.")


def config_of(module, specs: list[FieldSpec]) -> DemoConfig | None:
    """The demo config the controls hold, or None (with a warning saying what to change)."""
    values = {s.name: controls.value_of(s) for s in specs if s.name not in PAGE_ONLY}
    if not values.get("strategies", ("x",)):
        st.warning(
            "Pick at least one strategy to compare with scratch (sidebar, "
            "“Strategies to compare with scratch”)."
        )
        return None
    try:
        return module.Config.from_dict(values)
    except ValueError as err:  # a rule between fields, e.g. diabetes has at most 150 target samples
        st.warning(f"These settings do not go together: {controls.escape(str(err))}. Change one of them.")
        return None


def glossary_help(spec: FieldSpec) -> str:
    """What a control's choices mean: each strategy, or the strategy λ belongs to."""
    if spec.name == "strategies":
        return glossary.lines(spec.choices)
    return glossary.help_for("regularized") if spec.name == "lam" else ""
