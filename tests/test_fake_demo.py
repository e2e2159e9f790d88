"""Adding a demo changes nothing in tl_app but the catalog.

This test module is itself a tiny demo: the members of :class:`tl_core.demos.protocol.Demo`
(a Config of two fields and the seed, two strategies, a `run` that trains nothing, two small figures) and
an `OFFERS` that offers nothing more. The test puts it in the registry and in the catalog, with
a page file that names it as every demo's page does, and renders that page as a student opens
it: no exception, the title, the headline, the source-vs-target chart.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from tl_app import catalog
from tl_core import demos
from tl_core.config import DemoConfig, param, seed_field
from tl_core.demos.protocol import Demo, Offers
from tl_core.result import RunResult, StrategyResult

# ---------------------------------------------------------------------------------- the fake demo

NAME = "toy"
STRATEGIES = ("scratch", "fine_tune")
METRIC = "R²"
LOSS = "MSE"
SCENARIOS = ("plain",)


@dataclass(frozen=True)
class Config(DemoConfig):
    """Settings of the toy demo: a scenario and the labelled target samples."""

    demo = NAME

    scenario: str = param("plain", "plain: one made-up task carried to another", choices=SCENARIOS)
    n_target: int = param(5, "labelled target samples the target models learn from", low=2, high=50)
    seed: int = seed_field()


def run(config: Config | None = None, progress=None, data=None) -> RunResult:
    """Made-up numbers: fine-tuning gains on the target more with fewer labels."""
    config = config or Config()
    if progress is not None:
        progress(1.0, "done")
    gain = 1.0 / config.n_target
    return RunResult(
        demo=NAME,
        config=config.to_dict(),
        metric_name=METRIC,
        loss_name=LOSS,
        strategies=[
            StrategyResult("scratch", source_metric=0.1, target_metric=0.5, source_loss=0.9, target_loss=0.5),
            StrategyResult(
                "fine_tune", source_metric=0.6, target_metric=0.5 + gain, source_loss=0.4, target_loss=0.3
            ),
        ],
        extras={"source_model_metric": 0.9},
    )


def samples_figure(config: Config | None = None, data=None) -> go.Figure:
    return go.Figure(
        [go.Scatter(x=[0, 1], y=[0, 1], name="source"), go.Scatter(x=[0, 1], y=[1, 0], name="target")],
        layout=dict(title="Toy samples: source and target"),
    )


def model_figure(result: RunResult, data=None) -> go.Figure:
    return go.Figure([go.Bar(x=result.names(), y=[s.target_metric for s in result.strategies])])


OFFERS = Offers()

# ---------------------------------------------------------------------------------- the test

PAGE = catalog.DemoPage(
    NAME,
    "Toy demo",
    ":material/toys:",
    "",  # set by the test: a page file of its own
    "A made-up task shows that a new demo needs only its entry in the catalog.",
    "two lines and a bar per strategy",
)
APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def toy_page(tmp_path, monkeypatch) -> str:
    """The toy demo in the registry and in the catalog; the path of its page file."""
    page_file = tmp_path / f"{NAME}.py"
    page_file.write_text(f"from tl_app.demo_page import show\n\nshow({NAME!r})\n")
    page = dataclasses.replace(PAGE, path=str(page_file))
    monkeypatch.setitem(demos.DEMOS, NAME, __name__)
    monkeypatch.setattr(catalog, "DEMO_PAGES", (*catalog.DEMO_PAGES, page))
    monkeypatch.setitem(catalog.DEMO_BY_NAME, NAME, page)
    return page.path


def test_the_toy_demo_satisfies_the_contract():
    assert isinstance(sys.modules[__name__], Demo)


def test_a_demo_added_to_the_registry_and_the_catalog_has_its_page(toy_page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page(toy_page).run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Toy demo"
    labels = [m.label for m in at.metric]
    assert "Target R² of the best transfer: fine-tune" in labels, labels
    charts = [chart.key for chart in at.get("plotly_chart")]
    assert {"source_vs_target_chart", "samples_chart", "model_chart"} <= set(charts), charts
    assert not [s for s in at.subheader if "gap" in s.value], "no gap setting, no gap sweep"
    before = at.metric[0].value
    at.select_slider(key="n_target").set_value(2).run()  # its controls drive it like any demo's
    assert not at.exception and not at.error
    assert at.metric[0].value != before and at.query_params["n_target"] == "2"


def test_home_links_the_added_demo(toy_page):
    at = AppTest.from_file(APP, default_timeout=60)
    at.switch_page("app_pages/home.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert "Toy demo" in [link.label.removeprefix("Open ") for link in at.get("page_link")]


def test_the_lecture_grid_of_a_demo_without_a_gap_moves_and_sweeps_its_labels_only():
    """What `prepare` computes for a demo whose config has no gap (the page asks it, to say
    whether a sweep would be prepared): no gap sweep, no gap moved."""
    from tl_core import lecture

    grid = lecture.grid(sys.modules[__name__])
    assert [s.over for s in grid.sweeps] == ["n_target"]
    assert {c.n_target for c in grid.runs} == set(lecture.slider_stops(Config.field("n_target")))
