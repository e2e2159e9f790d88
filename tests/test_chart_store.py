"""Charts drawn once per machine (tl_app.chart_store): a chart drawn by one process is read by the
next instead of being built again, the same chart; a damaged entry is drawn again; nothing is
kept where the store of results is off. `transfer-lab prepare` draws the lecture grid's pages, so
that a new server process builds no chart for them."""

from __future__ import annotations

import json

import plotly.graph_objects as go
import plotly.io as pio
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import tl_core
from tl_app import chart_store, figures, lecture_pages
from tl_app.launch import app_folder, main
from tl_core import diskcache, lecture, store
from tl_core.demos import linear

pytestmark = pytest.mark.usefixtures("result_store", "no_chart_in_memory")


@pytest.fixture
def no_chart_in_memory():
    """Each test starts as a new server process would: no chart kept in memory."""
    st.cache_resource.clear()


def chart() -> go.Figure:
    fig = go.Figure(go.Scatter(x=[0, 1, 2], y=[0.5, 0.7, 0.9], name="fine-tune"))
    fig.update_layout(title="Source vs target", legend=dict(orientation="v"))
    return fig


class Builds:
    """A chart builder that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> go.Figure:
        self.calls += 1
        return chart()


def as_json(drawn: figures.Drawn) -> list:
    return [drawn.title] + [[t, json.loads(pio.to_json(c, validate=False))] for t, c in drawn.panels]


def new_process() -> None:
    """What a new server process starts with: no chart in memory."""
    st.cache_resource.clear()


def test_a_chart_drawn_by_one_process_is_read_by_the_next_not_built_again():
    build = Builds()
    first = figures.Drawn.of("svt|linear|gap=0.3", build, height=420)
    new_process()
    again = figures.Drawn.of("svt|linear|gap=0.3", build, height=420)
    assert build.calls == 1
    assert as_json(again) == as_json(first)
    assert again.panels[0][1].to_dict()["layout"]["height"] == 420
    assert "Plotly.newPlot" in again.figure.to_html(), "the whole figure still exports"


def test_another_content_or_height_is_another_chart():
    build = Builds()
    figures.Drawn.of("svt|linear|gap=0.3", build)
    figures.Drawn.of("svt|linear|gap=0.4", build)
    figures.Drawn.of("svt|linear|gap=0.3", build, height=300)
    assert build.calls == 3


@pytest.mark.parametrize("damage", ["cut short", "not a chart"])
def test_a_damaged_chart_is_drawn_again(damage):
    build = Builds()
    made = figures.Drawn.of("svt|damaged", build)
    path = diskcache.path_for(chart_store.KIND, chart_store._key("svt|damaged", None))
    if damage == "cut short":
        path.write_bytes(path.read_bytes()[:40])
    else:
        chart_store.keep("svt|damaged", None, {"hello": "world"})
    new_process()
    again = figures.Drawn.of("svt|damaged", build)
    assert build.calls == 2 and as_json(again) == as_json(made)


def test_nothing_is_kept_where_the_store_is_off(monkeypatch):
    monkeypatch.setenv(store.ENV, "off")
    build = Builds()
    figures.Drawn.of("svt|off", build)
    new_process()
    figures.Drawn.of("svt|off", build)
    assert build.calls == 2


def test_charts_of_a_visitors_own_data_stay_in_memory(result_store):
    build = Builds()
    figures.Drawn.of("svt|their data", build, on_disk=False)
    new_process()
    figures.Drawn.of("svt|their data", build, on_disk=False)
    assert build.calls == 2
    assert not list(result_store.glob(f"{chart_store.KIND}-*")), "nothing of theirs on disk"


def charts_built_by_a_page(monkeypatch, link: dict[str, str]) -> int:
    """How many charts a new server process builds to draw the linear page at `link`."""
    built = []
    made = figures.Drawn.made
    counted = classmethod(lambda cls, *args, **kwargs: built.append(1) or made(*args, **kwargs))
    monkeypatch.setattr(figures.Drawn, "made", counted)
    new_process()
    page = AppTest.from_file(str(app_folder() / "app.py"), default_timeout=120)
    page.switch_page("app_pages/linear.py")
    for name, value in link.items():
        page.query_params[name] = value
    page.run()
    assert not page.exception, [e.value for e in page.exception]
    return len(built)


@pytest.mark.slow
def test_transfer_lab_prepare_draws_the_lecture_pages_so_a_new_process_builds_no_chart(monkeypatch, capsys):
    assert main(["prepare", "linear"]) == 0
    printed = capsys.readouterr().out
    assert "pages of the lecture grid drawn" in printed and "charts kept" in printed
    moved = tl_core.make_config("linear", gap=0.3)  # the gap slider's stop 0.3
    assert moved in lecture.grid(linear).runs
    assert charts_built_by_a_page(monkeypatch, lecture_pages.link_fields(moved)) == 0
    typed = lecture_pages.link_fields(moved.replace(gap=0.33))  # a value typed in: off the grid
    assert charts_built_by_a_page(monkeypatch, typed) > 0
