"""The page every demo uses: the first screen answers a move, the other views follow below.

The first screen, at a projector's 1280x720 as on a laptop, holds what a lecture moves and what
it changes: the main controls (scenario, gap, labelled samples, λ) in a row under the title,
then the headline numbers beside the source-vs-target chart. The sidebar keeps the rest (the
data, the strategies, training settings, seeds). Below follow the numbers and training curves,
the samples of both tasks, the sweeps, the model view, and share / export / reproduce. On a
phone the columns stack: controls, headline, chart, and so on down the page.

A demo page is `tl_app.demo_page.show("linear")`. It reads the demo's module interface only
(Config, METRIC, run via the cache, samples_figure, model_figure, confusion_figure when there is
one), so a demo lights up here the moment its module lands in `tl_core/demos/`.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import tl_core
from tl_app import cached, controls, exports, figures, glossary, imagenet, user_data
from tl_app.catalog import DEMO_BY_NAME, DemoPage
from tl_app.sweeps import SWEEP_SEEDS, gap_scenarios, sweep_values
from tl_core import narrate, plots
from tl_core.config import FieldSpec
from tl_core.result import RunResult
from tl_core.strategies import BASELINE
from tl_core.userdata import UserData, UserDataError

FIRST_CHART_HEIGHT = 420  # px: under the title and the controls, inside a 1280x720 screen


class Charts:
    """The charts a page drew in this run, in page order, with the sentence under each: the
    Export panel offers them together as one HTML file. `context` names what every chart of the
    page is made from (demo, settings, data): with a chart's key, what it shows."""

    def __init__(self, context: str) -> None:
        self.context = context
        self.drawn: list[tuple[go.Figure, str]] = []

    def show(
        self,
        build: Callable[[], go.Figure],
        key: str,
        sentence: str = "",
        height: int | None = None,
        strategies=(),
        content: str = "",
    ) -> None:
        """Draw the figure `build()` makes (made once per process for this chart of this
        context and `content`: anything else it is made from), then the sentence under it;
        `strategies`: those its legend names, whose meanings a popover beside it gives."""
        drawn = figures.Drawn.of(f"{key}|{self.context}|{content}", build, height)
        figures.show(drawn, key)
        glossary.strategies_popover(strategies, key=f"{key}_strategies")
        if sentence:
            st.markdown(sentence)
        self.drawn.append((drawn.figure, sentence))


def show(demo: str) -> None:
    page = DEMO_BY_NAME[demo]
    st.title(page.title)
    module = tl_core.get_demo(demo)
    warnings = st.container()  # above the controls whose values they explain
    config = experiment_controls(demo, page_specs(module))
    with warnings:
        controls.show_link_warnings()
    if config is None:
        return
    data = None
    if st.session_state.get("data") == "own":
        data = user_data.section(demo, module)
        if data is None:
            return
    try:
        result = cached.run(demo, config.to_dict(), **cached.with_data(data))
    except UserDataError as err:  # e.g. more labelled samples per class than the data has
        st.warning(
            f"These settings do not fit your data: {controls.escape(str(err))}. Change them above.",
            icon=":material/tune:",
        )
        return
    charts = Charts(repr((demo, sorted(config.to_dict().items()), data.fingerprint if data else None)))
    first_screen(result, charts)
    numbers_section(result, charts)
    samples_section(demo, config, charts, data)
    sweeps = {
        "n_target": sweep_section(demo, module, config, "n_target", charts, data),
        "gap": sweep_section(demo, module, config, "gap", charts, data),
    }
    model_section(demo, module, config, result, charts, data)
    take_away(page, module, config, result, {k: v for k, v in sweeps.items() if v}, charts, data)


def page_specs(module) -> list[FieldSpec]:
    """Every control of a demo page: the data choice (when the demo takes a user's data), the
    config's fields, the sweeps' seed count."""
    data = [user_data.DATA_SOURCE] if user_data.takes_user_data(module) else []
    table = user_data.table_source(module)
    return data + ([table] if table else []) + controls.controls_of(module.Config) + [SWEEP_SEEDS]


def scenario_caption(module, config, data: UserData | None) -> None:
    scenario = f"**{controls.choice_label(config.scenario).capitalize()} scenario**"
    if data is None:
        st.caption(f"{scenario} — {module.Config.field('scenario').help}.")
    elif "scenario" not in user_data.ignored_with_own_data(module):
        st.caption(
            f"Target: your data. Source: the {scenario}'s source model (the scenario "
            "setting picks it) — " + module.Config.field("scenario").help + "."
        )


# ----------------------------------------------------------------------------------------------
# Controls: the main ones in a row on the page, the rest in the sidebar


ROW_FIELDS = ("scenario", "gap", "n_target", "lam")  # what a lecture moves: beside what it changes
NOT_CONFIG = ("seed", "sweep_seeds", "data", "table")  # controls of the page, not of the demo's config


def experiment_controls(demo: str, specs: list[FieldSpec]):
    """Draw the controls; put them in the link; return the demo config, or None when invalid."""
    entered = controls.enter_page(demo, specs)
    user_data.fall_back_from_link(demo, entered)
    module = tl_core.get_demo(demo)
    Config = module.Config
    by_name = {s.name: s for s in specs}
    row = [by_name[name] for name in ROW_FIELDS if name in by_name]
    side = [s for s in specs if s.name in controls.MAIN_FIELDS and s.name not in ROW_FIELDS]
    more = [s for s in specs if s.name not in controls.MAIN_FIELDS and s.name not in NOT_CONFIG]
    with st.sidebar:
        st.header("Experiment")
        own: tuple[str, ...] = ()
        if "data" in by_name:  # the data comes first: it decides the rest
            if user_data.data_widget() == "own":
                own = user_data.ignored_with_own_data(module)
        if "table" in by_name:  # which table, with one's own data: greyed out without
            mine = st.session_state["data"] == "own"
            controls.widget(by_name["table"], format_func=user_data.table_words, ignored=not mine)
    ignored, per_class = own, module.METRIC == "accuracy"  # a classifier counts per class
    for column, spec in zip(st.columns(len(row)), row):  # the scenario first: it decides the rest
        with column:
            value = controls.widget(
                spec, ignored=spec.name in ignored, per_class=per_class, more_help=glossary_help(spec)
            )
        if spec.name == "scenario":
            ignored = Config.ignored_by_scenario.get(value, ()) + own
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
    controls.write_link(specs)
    controls.remember(demo, specs)
    values = {s.name: controls.value_of(s) for s in specs if s.name not in ("sweep_seeds", "data", "table")}
    if not values.get("strategies", ("x",)):
        st.warning(
            "Pick at least one strategy to compare with scratch (sidebar, "
            "“Strategies to compare with scratch”)."
        )
        return None
    try:
        return Config.from_dict(values)
    except ValueError as err:  # a rule between fields, e.g. diabetes has at most 150 target samples
        st.warning(f"These settings do not go together: {controls.escape(str(err))}. Change one of them.")
        return None


def glossary_help(spec: FieldSpec) -> str:
    """What a control's choices mean: each strategy, or the strategy λ belongs to."""
    if spec.name == "strategies":
        return glossary.lines(spec.choices)
    return glossary.help_for("regularized") if spec.name == "lam" else ""


# ----------------------------------------------------------------------------------------------
# Main sections


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


def samples_section(demo: str, config, charts: Charts, data: UserData | None = None) -> None:
    st.subheader("2 · The two tasks: source and target samples")
    module = tl_core.get_demo(demo)
    labels = f"The target models learn from {narrate.labels_phrase(config.n_target, module.METRIC)}."
    if data is not None:
        sentence = labels + " The rest of your target data is held out to measure them."
    elif "gap" in config.ignored_fields():  # (new classes: the gap does not apply)
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
    metric = result.metric_name
    best = narrate.best_transfer(result)
    scratch = result.strategy(BASELINE)
    meaning = glossary.help_for(metric)
    if best is None:
        st.metric(f"Target {metric} of scratch", narrate.fmt(scratch.target_metric, metric), help=meaning)
    else:
        chosen, before = result.strategy(best), narrate.source_model_metric(result)
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
    st.markdown("**" + narrate.describe_result(result) + "**")
    if negative := narrate.describe_negative_r2(result):
        st.caption(negative)
    if "source_only" in result.config.get("strategies", ()) and "source_only" not in result.names():
        st.caption(
            "Source only is left out: the source model's head names the source's classes, "
            "not the target's, so it cannot be applied to the target as it is."
        )


def numbers_section(result: RunResult, charts: Charts) -> None:
    """What the chart above shows in words and numbers, then during target training."""
    st.subheader("1 · Source vs target: the numbers, and epoch by epoch")
    metrics, losses = results_tables(result)
    with st.expander(f"Source and target {result.metric_name} of every strategy", expanded=True):
        st.table(styled(metrics))
        st.caption(
            f"The {result.loss_name} each strategy reaches (what training minimises; lower is better):"
        )
        st.table(styled(losses))
        st.caption(glossary.lines([result.metric_name, result.loss_name]))
    if any(s.history.get("step") for s in result.strategies):
        charts.show(
            lambda: plots.training_curves(result),
            "training_curves_chart",
            narrate.describe_history(result),
            strategies=result.names(),
        )


def results_tables(result: RunResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results as a student reads them, one row per strategy: the metrics and the gain, then
    the losses (two narrow tables rather than one wide one: they fit a phone without scrolling)."""
    table = exports.display_table(result).rename(columns=lambda c: c.replace("target gain", "gain"))
    table = table.set_index("strategy")
    losses = [c for c in table.columns if c.endswith(result.loss_name)]
    return table.drop(columns=losses), table[losses]


def styled(table: pd.DataFrame):
    """One decimal for percentages and points, three for R² and losses; gains with their sign."""

    def style(name: str) -> str:
        decimals = 1 if name.endswith(("(%)", "(points)")) else 3
        return f"{{:{'+' if 'gain' in name else ''}.{decimals}f}}"

    return table.style.format({name: style(name) for name in table.columns}, na_rep="—")


SWEEP_TEXT = {
    "n_target": (
        "3 · Data efficiency: how many target labels does transfer save?",
        "Run the data-efficiency sweep",
        "labelled target samples",
    ),
    "gap": ("4 · The gap: when does transfer hurt?", "Run the gap sweep", "gap"),
}
EARLIER = "_tl_sweeps_drawn"  # session state: the last sweep each page drew, by (demo, over)


def sweep_section(demo: str, module, config, over: str, charts: Charts, data: UserData | None = None):
    """A sweep of `over` around the page's settings: drawn at once when it is stored (prepared
    before class, or computed before on this machine), else on its button. A sweep drawn before
    stays on screen when a setting changes, marked as made with the earlier settings, until it
    is run for the new ones.

    Returns (values, seeds) when the sweep shown is that of the page's settings, for the
    notebook; else None.
    """
    title, button, words = SWEEP_TEXT[over]
    st.subheader(title)
    values, seeds = sweep_values(module, config, over), st.session_state["sweep_seeds"]
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
    fields = {k: v for k, v in config.to_dict().items() if k != over}
    try:  # e.g. the seed at the top of its range: the sweep's further seeds are not seeds
        tl_core.api.sweep_configs(demo, over, values, seeds, **fields)
    except ValueError as err:
        st.caption(f"No sweep for these settings: {controls.escape(str(err))}.")
        return None
    which = data.name if data is not None else "built-in scenario"
    settings = {**fields, "values": values, "seeds": seeds, "data": which}
    work = repr((demo, over, sorted(settings.items()), data.fingerprint if data is not None else None))
    table = None
    if not controls.asked(work):  # the store first: a prepared sweep needs no button
        table = cached.stored_sweep(demo, over, tuple(values), seeds, fields, data)
        if table is not None:
            controls.mark_asked(work)
    note = (
        f"Runs every strategy for {words} = {', '.join(f'{v:g}' for v in values)}, "
        f"{seeds} seed{'s' if seeds > 1 else ''} each ({len(values) * seeds} runs)."
    )
    earlier = st.session_state.get(EARLIER, {}).get((demo, over))
    if table is None and not controls.requested(work, button, key=f"run_{over}_sweep", note=note):
        if earlier is not None:
            earlier_sweep(earlier, settings, charts, over)
        return None
    if table is None:
        table = cached.sweep(demo, over, tuple(values), seeds, fields, **cached.with_data(data))
    draw_sweep(table, charts, over)
    st.session_state.setdefault(EARLIER, {})[(demo, over)] = {"settings": settings, "table": table}
    return values, seeds


def draw_sweep(table: pd.DataFrame, charts: Charts, over: str, earlier: str = "") -> None:
    """The sweep's chart and sentence; `earlier`: the note of a sweep made with other settings,
    written on its title too, so that no one takes it for the settings above."""
    if over == "n_target":
        draw, sentence, key = plots.data_efficiency, narrate.describe_data_efficiency(table), "efficiency"
    else:
        draw, sentence, key = plots.gap_curve, narrate.describe_gap_curve(table), "gap"

    def build() -> go.Figure:
        fig = draw(table)
        if earlier:
            fig.update_layout(title=f"Made with the earlier settings — {fig.layout.title.text}")
        return fig

    if earlier:
        st.info(earlier, icon=":material/history:")
    content = f"{pd.util.hash_pandas_object(table).sum()}|{bool(earlier)}"  # the table drawn
    charts.show(build, f"{key}_chart", sentence, strategies=table.strategy.unique(), content=content)


def earlier_sweep(earlier: dict, settings: dict, charts: Charts, over: str) -> None:
    """The sweep this page drew before, kept in view and said to be made with other settings."""
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


def model_section(
    demo: str, module, config, result: RunResult, charts: Charts, data: UserData | None = None
) -> None:
    st.subheader("5 · Inside the models")
    describe = module.OFFERS.describe_model or narrate.describe_best_and_worst
    charts.show(
        lambda: module.model_figure(result, **data_keyword(data)),
        "model_chart",
        describe(result),
        strategies=result.names(),
    )
    if module.OFFERS.confusion_figure is not None:
        confusion = module.OFFERS.confusion_figure
        charts.show(lambda: confusion(result, **data_keyword(data)), "confusion_chart")
    if imagenet.offered(module):
        imagenet.section(demo, module, config, result, data)


def data_keyword(data: UserData | None) -> dict:
    return {} if data is None else {"data": data}


# ----------------------------------------------------------------------------------------------
# Share, export, reproduce


def share_link(query: dict[str, str]) -> str:
    """The link of this experiment: absolute when the browser's address is known, else relative."""
    url = getattr(st.context, "url", None)
    base = url.split("?")[0] if url else ""
    return f"{base}?{urlencode(query, safe=',')}"


SHARE_TEXT = (
    "Send this link: it opens this page with every control as it is now (same seed, "
    "same numbers). The address bar holds the same link."
)
SHARE_OWN_DATA = (
    "Send this link: it opens this page with every control as it is now. **A link "
    "cannot carry your file**: whoever opens it sees the built-in scenario until "
    "they choose “Your own data” and upload the same file (then: same seed, same "
    "numbers)."
)


SHARE_BUNDLED = (
    "Send this link: it opens this page on the same table bundled with scikit-learn, with "
    "every control as it is now (same seed, same numbers)."
)
SHARE_BUNDLED_CHANGED = (
    "Send this link: it opens this page on the same table bundled with scikit-learn, with every "
    "control as it is now. **A link does not carry the table's column choices you changed** "
    "({changed}): whoever opens it starts from the table's suggested ones and must make the "
    "same choices to get the same numbers."
)


def share_text(demo: str, data: UserData | None) -> str:
    """What a link of this page restores, truthfully: a file stays behind, a bundled table opens."""
    if data is None:
        return SHARE_TEXT
    if not data.bundled:
        return SHARE_OWN_DATA
    changed = user_data.changed_columns(demo)
    if not changed:
        return SHARE_BUNDLED
    return SHARE_BUNDLED_CHANGED.format(changed=", ".join(c.replace("_", " ") for c in changed))


def take_away(
    page: DemoPage,
    module,
    config,
    result: RunResult,
    sweeps: dict,
    charts: Charts,
    data: UserData | None = None,
) -> None:
    """Share, export, reproduce. The panels are keyed, so they stay open or shut across reruns,
    and a download starts no rerun: every button's file stays there until the page changes."""
    st.subheader("Share, export, reproduce")
    query = {s.name: controls.to_text(controls.value_of(s)) for s in page_specs(module)}
    with st.expander("Share this experiment", icon=":material/share:", expanded=True, key="share_panel"):
        st.markdown(share_text(page.demo, data))
        st.code(share_link(query), language=None, wrap_lines=True)
    with st.expander("Export", icon=":material/download:", key="export_panel"):
        export_buttons(page, module, config, result, charts, data)
    with st.expander("Reproduce in a notebook", icon=":material/code:", key="notebook_panel"):
        cells = exports.reproduce_cells(
            page.demo, config.to_dict(), sweeps, exports.views_of(module), data=data
        )
        st.markdown(
            "These lines of Python rerun exactly this experiment and draw its charts wherever "
            "the `transfer-lab` package is installed (`pip install` a copy of this repository: "
            "the notebook's first cell says how"
            + (", with your file beside the notebook" if data is not None and not data.bundled else "")
            + ")."
        )
        st.code("\n\n".join(cells), language="python")
        notebook = exports.notebook_bytes(f"Transfer Lab: {page.title}", what_it_shows(page, result), cells)
        st.download_button(
            "Download as a Jupyter notebook",
            notebook,
            key="download_notebook",
            file_name=f"transfer_lab_{page.demo}.ipynb",
            mime="application/x-ipynb+json",
            icon=":material/download:",
            on_click="ignore",
        )


def what_it_shows(page: DemoPage, result: RunResult) -> str:
    return (
        f"{page.lesson}\n\nThis notebook reruns the experiment of the {page.title} page with "
        f"every setting as it was (seed {result.config['seed']}). On the page: "
        f"{narrate.describe_result(result)}"
    )


def export_buttons(
    page: DemoPage, module, config, result: RunResult, charts: Charts, data: UserData | None = None
) -> None:
    """The downloads. None reruns the page (`on_click="ignore"`): a rerun would replace the
    buttons' files while the browser still asks for the old ones, and close nothing."""
    name = f"transfer_lab_{page.demo}_seed{config.seed}"
    left, right = st.columns(2)
    left.download_button(
        "Results as CSV",
        exports.csv_bytes(result),
        file_name=f"{name}.csv",
        mime="text/csv",
        key="download_csv",
        on_click="ignore",
    )
    right.download_button(
        "Results as JSON (config + metrics + history)",
        exports.json_bytes(result),
        file_name=f"{name}.json",
        mime="application/json",
        key="download_json",
        on_click="ignore",
    )
    drawn = list(charts.drawn)
    st.download_button(
        f"All {len(drawn)} charts of this page in one HTML file (opens offline in any browser)",
        lambda: exports.charts_html(f"Transfer Lab: {page.title}", drawn),
        file_name=f"{name}_charts.html",
        mime="text/html",
        key="download_charts_html",
        on_click="ignore",
    )
    weights = module.OFFERS.target_weights
    if weights is not None:  # a torch demo: the trained target model, on request
        st.download_button(
            "Trained target model weights (safetensors)",
            lambda: cached.on_request(
                lambda: weights(config, narrate.best_transfer(result) or BASELINE, **data_keyword(data))
            ),
            file_name=f"{name}_target.safetensors",
            mime="application/octet-stream",
            key="download_weights",
            on_click="ignore",
        )
