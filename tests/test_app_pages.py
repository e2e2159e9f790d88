"""Every page of the app, driven through Streamlit's AppTest as a student would drive it.

A page renders without an exception; each main control changes what the page shows; a link
(query string) restores the same controls and is written back unchanged; a malformed link gives
a warning naming what it ignored, never an exception.
"""

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import tl_core
from tl_app import controls, demo_page, glossary, sweeps
from tl_app.catalog import DEMO_PAGES
from tl_core import lecture

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60  # seconds per script run: CI is a slow shared 2-core box
AVAILABLE = tl_core.available_demos()
# The numpy demos train in a blink; tests of code that is the same for every demo (reset, sweeps,
# every widget kind in a link) run on them, and the torch demos get the per-page checks.
CHEAP = [d for d in AVAILABLE if d in ("linear", "logistic")]
DEMOS = [page.demo for page in DEMO_PAGES]
PATH = {page.demo: page.path for page in DEMO_PAGES}
MAIN = ["scenario", "gap", "n_target", "strategies", "lam", "epochs", "lr", "seed"]
WIDGETS = ("slider", "select_slider", "selectbox", "multiselect", "checkbox", "number_input")


def fast(demo: str) -> dict[str, str]:
    """Small settings for tests that are not about the defaults: short training for torch demos."""
    if demo in ("linear", "logistic"):
        return {}
    Config, small = tl_core.get_demo(demo).Config, {}
    for name, value in (("epochs", 3), ("source_epochs", 2), ("n_source", 500), ("hidden", 16)):
        if name in Config.field_names():
            spec = Config.field(name)
            small[name] = controls.to_text(spec.check(max(spec.low, min(spec.default, value))))
    return small


def open_page(path: str, query: dict[str, str] | None = None) -> AppTest:
    """Load the app at `path` with `query` in its link, as a browser opening a shared link would."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query or {})
    return at.switch_page(path).run()


def failures(at: AppTest) -> list[str]:
    """What went wrong on the page: exceptions, and the message app.py shows in place of one
    (the page never shows a traceback to a visitor; the log keeps it)."""
    return [e.message for e in at.exception] + [e.value for e in at.error]


def control(at: AppTest, name: str):
    for kind in WIDGETS:
        try:
            return getattr(at, kind)(key=name)
        except KeyError:
            continue
    raise KeyError(f"no control with key {name!r}")


def shown(at: AppTest) -> tuple:
    """What the page shows of its results: every chart's figure, every table, the headline."""
    return (
        [chart.proto.spec for chart in at.get("plotly_chart")],
        [table.value.to_json() for table in at.table],
        [(m.label, m.value, m.delta) for m in at.metric],
    )


def other_value(spec, current):
    """A nearby allowed value different from `current`, cheap to run (fewer epochs, not more)."""
    if spec.kind is tuple:
        return (
            tuple(current[:-1]) if len(current) > 1 else tuple(c for c in spec.choices if c != current[0])[:1]
        )
    if spec.kind is bool:
        return not current
    if spec.choices is not None:
        return next(c for c in spec.choices if c != current)
    if spec.name in lecture.MAIN_CONTROLS or spec.log:  # the next stop down (up from the first)
        stops = sorted({*lecture.slider_stops(spec), current}) if spec.name in lecture.MAIN_CONTROLS else None
        stops = stops or controls.ladder(spec.low, spec.high, extra=(current,))
        i = stops.index(current)
        return stops[i - 1] if i > 0 else stops[i + 1]
    if spec.name == "seed":
        return current + 1
    delta = max(1, round((spec.high - spec.low) / 10)) if spec.kind is int else (spec.high - spec.low) / 10
    # downward where there is room: fewer epochs and samples keep the test quick
    value = (
        current - delta
        if current - delta >= spec.low
        else spec.low
        if current > spec.low
        else current + delta
    )
    return spec.check(round(value, 6) if spec.kind is float else value)


def widget_value(value):
    return list(value) if isinstance(value, tuple) else value


# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["app_pages/home.py", "app_pages/compare.py", "app_pages/theory.py"] + [PATH[d] for d in DEMOS]
)
def test_every_page_renders_without_an_exception(path):
    demo = next((d for d in DEMOS if PATH[d] == path), None)
    at = open_page(path, fast(demo) if demo is not None else None)
    assert not failures(at), failures(at)
    assert at.title, "every page has a title"
    if demo is not None:
        assert len(at.metric) >= 2
        assert "source_vs_target_chart" in [chart.key for chart in at.get("plotly_chart")]


@pytest.mark.slow
def test_source_only_says_why_it_is_missing_where_the_classes_differ():
    def says_left_out(query):
        at = open_page(PATH["rnn"], {**fast("rnn"), **query})
        assert not failures(at), failures(at)
        return any("Source only is left out" in c.value for c in at.caption)

    assert says_left_out({})  # new_classes: the target's digits 5-9 are new to the source head
    assert not says_left_out({"scenario": "shift"})  # the same ten digits: source only runs


@pytest.mark.parametrize(
    "demo,name", [(d, n) for d in AVAILABLE for n in MAIN if n in tl_core.get_demo(d).Config.field_names()]
)
def test_each_main_control_changes_what_the_page_shows(demo, name):
    """In the default scenario, or else in another one (the gap may only shape one scenario);
    never in a scenario that ignores the control, where it is greyed out."""
    Config = tl_core.get_demo(demo).Config
    spec, scenario = Config.field(name), Config.field("scenario")
    scenarios = (
        [scenario.default]
        if name == "scenario"
        else [scenario.default] + [c for c in scenario.choices if c != scenario.default]
    )
    scenarios = [c for c in scenarios if name not in Config.ignored_by_scenario.get(c, ())]
    for choice in scenarios:
        at = open_page(PATH[demo], {**fast(demo), "scenario": choice})
        before = shown(at)
        current = control(at, name).value
        new = other_value(spec, tuple(current) if spec.kind is tuple else current)
        control(at, name).set_value(widget_value(new)).run()
        assert not failures(at), failures(at)
        assert at.query_params[name] == controls.to_text(new), "the link follows the control"
        if shown(at) != before:
            return
    pytest.fail(
        f"changing {name} changed no chart, table or headline on the {demo} page "
        f"in any scenario ({', '.join(scenarios)})"
    )


def test_every_visitor_of_a_setting_sees_its_own_tables_drawn_once_and_replayed():
    """The results' tables are drawn once per setting in a server process and replayed for
    later visitors: each setting must still show its own numbers, the same on every visit."""
    tables = {}
    for seed in (1, 2, 1):
        at = open_page(PATH["linear"], {"seed": str(seed)})
        seen = [table.value.to_json() for table in at.table]
        assert len(seen) == 2 and not failures(at), failures(at)
        assert tables.setdefault(seed, seen) == seen
    assert tables[1] != tables[2]


@pytest.mark.parametrize("demo", AVAILABLE)
def test_a_link_restores_every_control_and_is_written_back_unchanged(demo):
    """Every control of the numpy demos (all widget kinds); the main ones of the torch demos. The
    data choice stays built-in: a link cannot carry a file (test_app_user_data covers `data=own`)."""
    specs = demo_page.page_specs(tl_core.get_demo(demo))
    values = {s.name: s.default for s in specs}
    values.update(
        {
            s.name: other_value(s, s.default)
            for s in specs
            if (demo in CHEAP or s.name in MAIN + ["sweep_seeds"]) and s.name != "data"
        }
    )
    values.update({k: s.check(v) for k, v in fast(demo).items() for s in specs if s.name == k})
    try:
        tl_core.make_config(demo, **{k: v for k, v in values.items() if k != "sweep_seeds"})
    except ValueError:  # e.g. the other scenario has fewer target samples: keep the default one
        values["scenario"] = tl_core.get_demo(demo).Config.field("scenario").default
    link = {name: controls.to_text(value) for name, value in values.items()}
    at = open_page(PATH[demo], link)
    assert not failures(at) and not at.warning, failures(at) + [w.value for w in at.warning]
    for name, value in values.items():
        assert control(at, name).value == widget_value(value), name
    assert at.query_params == link


@pytest.mark.parametrize("demo", AVAILABLE)
def test_a_malformed_link_warns_and_falls_back_without_an_exception(demo):
    Config = tl_core.get_demo(demo).Config
    bad = {
        "gap": "abc",
        "n_target": "1e9",
        "strategies": "bogus,fine_tune",
        "lam": "nan",
        "seed": "-3",
        "nonsense": "<b>1</b>",
        "device": "cuda",
        **fast(demo),
    }
    at = open_page(PATH[demo], bad)
    assert not failures(at), failures(at)
    warnings = " ".join(w.value for w in at.warning)
    for name in ("gap", "n_target", "lam", "seed", "nonsense", "device"):
        assert name.replace("_", "\\_") in warnings or name in warnings, name
    assert control(at, "gap").value == Config.field("gap").default
    assert control(at, "n_target").value == Config.field("n_target").high  # clamped
    assert control(at, "seed").value == 0  # clamped to the lowest seed
    assert control(at, "strategies").value == ["fine_tune"]  # the known member kept
    assert at.metric, "the page still shows its results"


def test_a_repeated_link_setting_counts_once_with_a_warning():
    demo = CHEAP[0]
    at = open_page(PATH[demo], {"gap": ["0.1", "0.9"]})
    assert not failures(at), failures(at)
    assert control(at, "gap").value == 0.9
    assert any("appears 2 times" in w.value for w in at.warning)


@pytest.mark.parametrize("path", ["app_pages/home.py", "app_pages/compare.py", "app_pages/theory.py"])
def test_a_malformed_link_on_the_other_pages_warns_without_an_exception(path):
    at = open_page(path, {"bogus": "[x](http://example.com)", "seed": "abc"})
    assert not failures(at), failures(at)
    assert any("bogus" in w.value for w in at.warning)
    assert all("](http" not in w.value for w in at.warning), "visitor text is never a live link"


@pytest.mark.parametrize("demo", CHEAP)
def test_reset_to_defaults_restores_every_control(demo):
    specs = controls.controls_of(tl_core.get_demo(demo).Config)
    at = open_page(PATH[demo], {s.name: controls.to_text(other_value(s, s.default)) for s in specs})
    at.button(key="reset").click().run()
    assert not failures(at), failures(at)
    for spec in specs:
        assert control(at, spec.name).value == widget_value(spec.default), spec.name


@pytest.mark.parametrize("demo", CHEAP)
def test_a_sweep_not_stored_runs_on_its_button_and_stays_marked_as_earlier_when_a_setting_changes(demo):
    at = open_page(PATH[demo], {"sweep_seeds": "1", **fast(demo)})
    charts = len(at.get("plotly_chart"))
    at.button(key="run_n_target_sweep").click().run()
    at.button(key="run_gap_sweep").click().run()
    assert not failures(at), failures(at)
    assert len(at.get("plotly_chart")) == charts + 2
    assert {"efficiency_chart", "gap_chart"} <= {c.key for c in at.get("plotly_chart")}
    titles = " ".join(m.value for m in at.markdown)  # a chart's title is text above it
    assert "Data efficiency" in titles and "negative transfer" in titles
    assert any("beats scratch" in m.value or "loses" in m.value for m in at.markdown)
    at.run()  # a rerun with the same settings keeps both curves
    assert len(at.get("plotly_chart")) == charts + 2 and not at.info
    control(at, "seed").set_value(1).run()  # new settings: the curves stay, marked, beside a button
    assert len(at.get("plotly_chart")) == charts + 2, "the earlier curves stay on screen"
    assert at.button(key="run_n_target_sweep") and at.button(key="run_gap_sweep")
    marks = [i.value for i in at.info if "made with the earlier settings" in i.value]
    assert len(marks) == 2 and all("Seed 0 → 1" in m for m in marks), marks
    assert sum("Made with the earlier settings" in m.value for m in at.markdown) == 2, "their titles say so"
    at.button(key="run_n_target_sweep").click().run()  # rerun: this one is now of the settings
    assert len([i for i in at.info if "earlier settings" in i.value]) == 1


def test_a_stored_sweep_is_drawn_without_a_button_and_compare_draws_at_once(result_store, monkeypatch):
    """The store holds the defaults' run and sweeps (as `prepare` leaves them): the linear page
    draws both sweeps at once, and so does the Compare page at its defaults, training nothing."""
    module, seeds = tl_core.get_demo("linear"), sweeps.SWEEP_SEEDS.default
    config = module.Config()
    tl_core.run("linear", config=config)
    for over in ("n_target", "gap"):
        fields = {k: v for k, v in config.to_dict().items() if k != over}
        tl_core.sweep("linear", over, lecture.sweep_values(module, config, over), seeds, **fields)

    def no_training(*args, **kwargs):
        raise AssertionError("the page trained a model the store holds")

    monkeypatch.setattr(module, "run", no_training)
    monkeypatch.setattr(module, "run_many", no_training, raising=False)
    at = open_page(PATH["linear"])
    assert not failures(at), failures(at)
    assert {"efficiency_chart", "gap_chart"} <= {c.key for c in at.get("plotly_chart")}
    assert not [b for b in at.button if b.key in ("run_n_target_sweep", "run_gap_sweep")], "no button"
    compare = open_page("app_pages/compare.py", {"demos": "linear"})
    assert not failures(compare), failures(compare)
    assert {c.key for c in compare.get("plotly_chart")} == {"compare_n_target_chart", "compare_gap_chart"}
    assert not [b for b in compare.button if b.key.startswith("run_")], "drawn at once, no button"


def test_a_sweep_prepare_would_store_says_so_under_its_button(result_store):
    """On a machine not prepared, the lecture grid's sweeps wait on their buttons: the note above
    each tells the teacher that `transfer-lab prepare` makes them appear at once (only those it
    computes: not a sweep around moved settings, nor one of more seeds)."""
    hint = "On a machine prepared before class (`transfer-lab prepare`), "
    st.cache_data.clear()  # a new server: no sweep found in the store before (as another test left)

    def notes(at) -> str:
        return " ".join(c.value for c in at.caption)

    at = open_page(PATH["linear"])
    assert not failures(at), failures(at)
    assert notes(at).count(hint + "this sweep is drawn at once.") == 2  # both sweeps
    moved = open_page(PATH["linear"], {"lam": "1"})
    assert moved.button(key="run_n_target_sweep") and hint not in notes(moved)
    compare = open_page("app_pages/compare.py", {"demos": "linear,logistic"})
    assert notes(compare).count(hint + "these sweeps are drawn at once.") == 2
    other_seeds = open_page("app_pages/compare.py", {"demos": "linear", "sweep_seeds": "5"})
    assert other_seeds.button(key="run_n_target_sweeps") and hint not in notes(other_seeds)


@pytest.mark.parametrize("demo, scenario", [("cnn", "sim2real"), ("rnn", "new_classes")])
def test_a_scenario_without_a_gap_offers_no_gap_sweep_and_names_the_one_with_it(demo, scenario):
    """A gap sweep there would draw a flat line (the gap shapes only the shift scenario)."""
    at = open_page(PATH[demo], {**fast(demo), "scenario": scenario})
    assert not failures(at), failures(at)
    assert control(at, "gap").disabled
    assert at.button(key="run_n_target_sweep") and not [b for b in at.button if b.key == "run_gap_sweep"]
    captions = " ".join(c.value for c in at.caption)
    assert "The gap is a setting of the **shift** scenario only" in captions
    assert "Gap 0." not in " ".join(m.value for m in at.markdown)  # nor a sentence about it
    control(at, "scenario").set_value("shift").run()
    assert at.button(key="run_gap_sweep")


def test_compare_sweeps_the_gap_of_the_torch_demos_in_their_shift_scenario():
    at = open_page("app_pages/compare.py", {"demos": "linear,cnn,rnn", "sweep_seeds": "1"})
    assert not failures(at), failures(at)
    note = " ".join(c.value for c in at.caption)
    assert "sweep it there: CNN in its shift scenario, RNN in its shift scenario." in note
    assert lecture.gap_scenarios(tl_core.get_demo("linear")) == list(
        tl_core.get_demo("linear").Config.field("scenario").choices
    )


def test_home_draws_the_transfer_flow_and_links_every_demo():
    at = open_page("app_pages/home.py")
    flow = at.get("graphviz_chart")[0].proto.spec
    for step in ("Source data", "Features", "Knowledge", "Target data", "Adaptation", "Target prediction"):
        assert step in flow
    linked = {link.proto.page for link in at.get("page_link")}
    assert {page.path.split("/")[1][:-3] for page in DEMO_PAGES if page.demo in AVAILABLE} <= linked
    assert {"compare", "theory"} <= linked


def test_theory_writes_the_maths_and_links_each_formula_to_its_page():
    at = open_page("app_pages/theory.py")
    maths = " ".join(latex.value for latex in at.latex)
    for formula in (
        r"X^\top X\,\hat w = X^\top y",
        r"\sigma(w^\top x + b)",
        r"(X * K)_{ij}",
        r"h_t = \tanh",
        r"\lambda \lVert \theta - \theta_s \rVert^2",
        r"L_s(\theta) + w \cdot L_t",
    ):
        assert formula in maths, formula
    assert {"linear", "logistic", "cnn", "rnn"} <= {link.proto.page for link in at.get("page_link")}


def test_compare_draws_one_gain_curve_per_demo_on_its_button():
    demos = AVAILABLE[:2]
    at = open_page("app_pages/compare.py", {"demos": ",".join(demos), "sweep_seeds": "1"})
    assert not at.get("plotly_chart"), "no sweep runs before its button"
    at.button(key="run_gap_sweeps").click().run()
    assert not failures(at), failures(at)
    (chart,) = at.get("plotly_chart")
    titles = [page.title for page in DEMO_PAGES if page.demo in demos]
    assert all(title in chart.proto.spec for title in titles)
    sentence = at.markdown[-1].value
    assert all(title in sentence for title in titles) and "gain over scratch" in sentence
    before = chart.proto.spec
    control(at, "strategy").set_value("joint").run()  # same sweeps, another strategy's gain
    assert at.get("plotly_chart")[0].proto.spec != before


@pytest.mark.parametrize("demo, per_class", [("linear", False), ("cnn", True)])
def test_controls_read_as_words(demo, per_class):
    """A classifier's target labels are counted per class, and its label says so; a choice
    named by code (sim2real) reads as words, while the link keeps the code."""
    at = open_page(PATH[demo], fast(demo))
    assert control(at, "n_target").label.endswith("per class") == per_class
    if demo == "cnn":
        scenario = control(at, "scenario")
        assert scenario.value == "sim2real" and "sim-to-real" in scenario.options


def test_every_strategy_and_measure_carries_its_sentence_and_a_link_to_its_theory_section():
    theory = open_page("app_pages/theory.py")
    anchors = {heading.proto.anchor for heading in [*theory.header, *theory.subheader]}
    assert glossary.ANCHORS <= anchors, "every link lands on a section of the Theory page"
    for demo in AVAILABLE:
        module = tl_core.get_demo(demo)
        assert set(module.Config.field("strategies").choices) <= set(glossary.STRATEGY_TERMS), demo
        assert {module.METRIC, module.LOSS} <= set(glossary.TERMS), demo
    at = open_page(PATH["logistic"])
    offered = control(at, "strategies")
    for name in tl_core.get_demo("logistic").Config.field("strategies").choices:
        term = glossary.TERMS[name]
        assert f"**{term.words}**: {term.sentence}" in offered.help and glossary.link(term) in offered.help
    assert "theory#regularized-transfer" in control(at, "lam").help
    assert all("theory#measures" in metric.help for metric in at.metric), "accuracy, in the headline"
    beside_legends = " ".join(m.value for m in at.markdown)  # the popovers beside the charts
    assert "theory#coral" in beside_legends and "theory#joint-training" in beside_legends
    assert "theory#measures" in " ".join(c.value for c in at.caption), (
        "accuracy and log-loss, under the table"
    )


def test_the_main_controls_stop_where_a_hand_can_and_any_other_value_stays_possible():
    at = open_page(PATH["linear"], {"n_target": "7"})  # a link's value off the stops joins them
    assert not failures(at) and not at.warning, failures(at)
    samples = control(at, "n_target")
    assert samples.value == 7 and samples.options == [
        str(v) for v in (2, 3, 5, 7, 10, 20, 30, 50, 100, 200, 300, 500)
    ], "1 to 500 on one slider was about 2 samples a pixel: 5 against 10 could not be dragged to"
    assert control(at, "gap").options == [f"{v / 10:g}" for v in range(11)]
    assert "0" in control(at, "lam").options and "1" in control(at, "lam").options
    at.number_input(key="n_target_exact").set_value(12).run()
    assert control(at, "n_target").value == 12 and at.query_params["n_target"] == "12"
    assert at.number_input(key="n_target_exact").value is None, "the field empties: the slider shows 12"
    control(at, "n_target").set_value(20).run()
    assert control(at, "n_target").value == 20 and not failures(at)


@pytest.mark.parametrize("path", [PATH["linear"], "app_pages/compare.py"])
def test_the_highest_seed_says_why_there_is_no_sweep_and_the_page_works(path):
    """A sweep takes the seeds from the page's up: from the highest seed there are none (found
    by the link fuzz once sweeps were looked up in the store on every page load)."""
    at = open_page(path, {"seed": str(controls.SEED.high), "demos": "linear"})
    assert not failures(at), failures(at)
    assert any("No sweep" in c.value and "seed must be" in c.value for c in at.caption)
