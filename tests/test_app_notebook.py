"""The "Reproduce in a notebook" code reruns exactly the experiment on the page: same numbers."""

import json
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest
from test_app_pages import failures, fast

import tl_core
from tl_app import controls, exports
from tl_app.catalog import DEMO_BY_NAME
from tl_app.sweeps import sweep_values
from tl_core import narrate

APP = str(Path(__file__).resolve().parent.parent / "app.py")
AVAILABLE = tl_core.available_demos()


def settings(demo: str) -> dict:
    """Settings away from the defaults (so the notebook must carry them), cheap to run."""
    spec = tl_core.get_demo(demo).Config.field
    values = {"gap": 0.55, "n_target": spec("n_target").low + 3, "seed": 7, "sweep_seeds": 1}
    values.update({k: spec(k).check(v) for k, v in fast(demo).items()})
    return values


def page_with(demo: str, values: dict, sweep: bool) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({k: controls.to_text(v) for k, v in values.items()})
    at.switch_page(DEMO_BY_NAME[demo].path).run()
    if sweep:
        at.button(key="run_n_target_sweep").click().run()
    assert not failures(at), failures(at)
    return at


def run_cells(cells: list[str], monkeypatch) -> dict:
    """Execute notebook code cells in one fresh namespace, as a kernel would (figures not shown)."""
    shown = []
    monkeypatch.setattr(go.Figure, "show", lambda fig, *a, **k: shown.append(fig))
    namespace: dict = {}
    for cell in cells:
        exec(compile(cell, "<notebook cell>", "exec"), namespace)
    namespace["_shown"] = shown
    return namespace


@pytest.mark.parametrize("demo", AVAILABLE)
def test_the_notebook_reproduces_the_numbers_on_the_page(demo, monkeypatch):
    values = settings(demo)
    sweep = demo in ("linear", "logistic")  # a torch sweep is slow; its code path is the same
    at = page_with(demo, values, sweep)
    (code,) = [c.value for c in at.code if c.language == "python"]
    config = tl_core.make_config(demo, **{k: v for k, v in values.items() if k != "sweep_seeds"})
    module = tl_core.get_demo(demo)
    sweeps = {"n_target": (sweep_values(module, config, "n_target"), 1)} if sweep else {}
    cells = exports.reproduce_cells(demo, config.to_dict(), sweeps, exports.views_of(module))
    assert code == "\n\n".join(cells), "the page shows exactly the notebook's code"
    notebook = nbformat.reads(exports.notebook_bytes("t", "what it shows", cells).decode(), as_version=4)
    assert notebook.cells[0].cell_type == "markdown"
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")

    namespace = run_cells(exports.code_of_notebook(nbformat.writes(notebook).encode()), monkeypatch)
    page_table = at.dataframe[0].value
    notebook_table = exports.display_table(namespace["result"])
    assert page_table.equals(notebook_table), "same strategies, same numbers, to the last digit"
    assert namespace["result"].config["seed"] == 7 and namespace["result"].config["gap"] == 0.55
    if not sweep:
        return
    page_curve = next(
        json.loads(c.proto.spec) for c in at.get("plotly_chart") if "Data efficiency" in c.proto.spec
    )
    notebook_curve = next(
        json.loads(f.to_json())
        for f in namespace["_shown"]
        if "Data efficiency" in (f.layout.title.text or "")
    )
    assert notebook_curve["data"] == page_curve["data"], "the same data-efficiency curve"
    sentence = narrate.describe_data_efficiency(namespace["efficiency"])
    assert any(m.value == sentence for m in at.markdown)


def test_the_notebook_file_has_a_lesson_cell_then_code_without_outputs():
    cells = ["x = 1", "print(x)"]
    notebook = nbformat.reads(
        exports.notebook_bytes("Title", "It shows a thing.", cells).decode(), as_version=4
    )
    nbformat.validate(notebook)
    assert notebook.cells[0].source.startswith("# Title") and "It shows a thing." in notebook.cells[0].source
    assert [c.source for c in notebook.cells[1:]] == cells
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells[1:])
