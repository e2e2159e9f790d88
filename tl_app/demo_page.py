"""The page every demo uses: the first screen answers a move, the other views follow below.

The first screen, at a projector's 1280x720 as on a laptop, holds what a lecture moves and what
it changes: the main controls (scenario, gap, labelled samples, λ) in a row under the title,
then the headline numbers beside the source-vs-target chart. The sidebar keeps the rest (the
data, the strategies, training settings, seeds). Below follow the numbers and training curves,
the samples of both tasks, the sweeps, the model view, and share / export / reproduce. On a
phone the columns stack: controls, headline, chart, and so on down the page.

A demo page is `tl_app.demo_page.show("linear")`. It reads a demo through its contract only
(:class:`tl_core.demos.protocol.Demo`, and what its `OFFERS` declare), so a new demo needs
nothing here: its entry in `tl_app.catalog` and a page file that names it.

Each part of the page has a module of its own: `page_controls` (the controls), `results_section`
(the headline, the numbers), `sweep_section`, `take_away` (share, export, reproduce).
"""

from __future__ import annotations

import streamlit as st

import tl_core
from tl_app import cached, controls, imagenet, user_data
from tl_app.catalog import DEMO_BY_NAME
from tl_app.page_charts import Charts
from tl_app.page_controls import experiment_controls, page_specs
from tl_app.results_section import first_screen, numbers_section
from tl_app.sweep_section import sweep_section
from tl_app.take_away import take_away
from tl_core import narrate
from tl_core.result import RunResult
from tl_core.userdata import UserData, UserDataError


def show(demo: str) -> None:
    page = DEMO_BY_NAME[demo]
    st.title(page.title)
    module = tl_core.get_demo(demo)
    warnings = st.container()  # above the controls whose values they explain
    config = experiment_controls(demo, module, page_specs(module))
    with warnings:
        controls.show_link_warnings()
    if config is None:
        return
    data = None
    if st.session_state.get("data") == "own":
        data = user_data.section(demo, module)
        if data is None:
            return
    result = run(demo, config, data)
    if result is None:
        return
    context = repr((demo, sorted(config.to_dict().items()), data.fingerprint if data else None))
    charts = Charts(context, on_disk=data is None)
    first_screen(result, charts)
    numbers_section(result, charts)
    samples_section(demo, module, config, charts, data)
    sweeps = {over: sweep_section(demo, module, config, over, charts, data) for over in ("n_target", "gap")}
    model_section(demo, module, config, result, charts, data)
    take_away(page, module, config, result, {k: v for k, v in sweeps.items() if v}, charts, data)


def run(demo: str, config, data: UserData | None) -> RunResult | None:
    """The page's run (cached), or None with a warning when the settings do not fit the data."""
    try:
        return cached.run(demo, config.to_dict(), **cached.with_data(data))
    except UserDataError as err:  # e.g. more labelled samples per class than the data has
        st.warning(
            f"These settings do not fit your data: {controls.escape(str(err))}. Change them above.",
            icon=":material/tune:",
        )
        return None


def scenario_caption(module, config, data: UserData | None) -> None:
    scenario = f"**{controls.choice_label(config.scenario).capitalize()} scenario**"
    if data is None:
        st.caption(f"{scenario} — {module.Config.field('scenario').help}.")
    elif "scenario" not in user_data.ignored_with_own_data(module):
        st.caption(
            f"Target: your data. Source: the {scenario}'s source model (the scenario "
            "setting picks it) — " + module.Config.field("scenario").help + "."
        )


def samples_section(demo: str, module, config, charts: Charts, data: UserData | None = None) -> None:
    st.subheader("2 · The two tasks: source and target samples")
    labels = f"The target models learn from {narrate.labels_phrase(config.n_target, module.METRIC)}."
    if data is not None:
        sentence = labels + " The rest of your target data is held out to measure them."
    elif "gap" not in config.field_names() or "gap" in config.ignored_fields():  # (new classes)
        sentence = labels
    else:
        sentence = f"{labels} Gap {config.gap:g}: {module.Config.field('gap').help}."
    scenario_caption(module, config, data)
    try:  # the figure is made before anything is drawn: an error leaves no half a chart
        charts.show(
            lambda: cached.samples_figure(demo, config.to_dict(), **cached.with_data(data)),
            "samples_chart",
            sentence,
        )
    except UserDataError as err:  # the run says what to change
        st.caption(controls.escape(str(err)))
        st.markdown(sentence)


def model_section(
    demo: str, module, config, result: RunResult, charts: Charts, data: UserData | None = None
) -> None:
    """The model view with its sentence (the demo's own, where it offers one), then what the
    demo offers besides: a confusion matrix, the ImageNet comparison."""
    st.subheader("5 · Inside the models")
    describe = module.OFFERS.describe_model or narrate.describe_best_and_worst
    charts.show(
        lambda: module.model_figure(result, **user_data.keyword(data)),
        "model_chart",
        describe(result),
        strategies=result.names(),
    )
    if (confusion := module.OFFERS.confusion_figure) is not None:
        charts.show(lambda: confusion(result, **user_data.keyword(data)), "confusion_chart")
    if imagenet.offered(module):
        imagenet.section(demo, module, config, result, data)
