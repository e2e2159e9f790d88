"""The "Reproduce in a notebook" code reruns exactly the experiment on the page: same numbers, in
any folder where the package is installed; what a user named enters its code only as a string."""

import ast
import dataclasses
import json
import re
import sys
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest
from nbclient import NotebookClient
from streamlit.testing.v1 import AppTest
from test_app_pages import failures, fast
from test_app_user_data import sales_csv

import tl_core
from tl_app import controls, exports, results_section
from tl_app.catalog import DEMO_BY_NAME
from tl_core import narrate, userdata
from tl_core.lecture import sweep_values

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


@pytest.mark.parametrize(
    "demo", [pytest.param(d, marks=pytest.mark.slow if d == "rnn" else ()) for d in AVAILABLE]
)
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
    page_table = at.table[0].value
    notebook_table, _ = results_section.results_tables(namespace["result"])
    assert page_table.equals(notebook_table), "same strategies, same numbers, to the last digit"
    assert namespace["result"].config["seed"] == 7 and namespace["result"].config["gap"] == 0.55
    if not sweep:
        return
    page_curve = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.key == "efficiency_chart")
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
    assert "pip install /path/to/transfer-lab" in notebook.cells[0].source, "what to install, and how"
    assert [c.source for c in notebook.cells[1:]] == cells
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells[1:])


# ---------------------------------------------------------------------------- the file, elsewhere
SALES = {"task": "regression", "label": "sales", "split_column": "region", "split_value": "north"}
OWN_FILE = "Q3 sales (Anne's).csv"  # a name that is not a Python identifier, quote included


def notebook_of(demo: str, config, data=None) -> bytes:
    """The notebook the page's download button gives (see tl_app/take_away.py)."""
    module = tl_core.get_demo(demo)
    cells = exports.reproduce_cells(demo, config.to_dict(), {}, exports.views_of(module), data=data)
    return exports.notebook_bytes(f"Transfer Lab: {demo}", "What it shows.", cells)


def execute_elsewhere(notebook: bytes, folder: Path) -> str:
    """Run the notebook top to bottom in `folder` with a Jupyter kernel of this environment, and
    return what it printed; a last cell of the test's own prints where tl_core came from."""
    cells = nbformat.reads(notebook.decode(), as_version=4)
    cells.cells.append(
        nbformat.v4.new_code_cell("import sys, tl_core\nprint(sys.executable, tl_core.__file__)")
    )
    client = NotebookClient(
        cells, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    client.execute()
    return "".join(
        output.get("text", "") for cell in cells.cells if cell.cell_type == "code" for output in cell.outputs
    )


@pytest.mark.slow
@pytest.mark.parametrize("demo", ["linear", "rnn"])
def test_a_downloaded_notebook_runs_in_an_empty_folder_and_prints_the_pages_numbers(
    demo, installed_package, tmp_path, monkeypatch
):
    """One demo of each family: linear on the user's own file (which sits beside the notebook),
    the RNN on its built-in data; outside the checkout, with the package installed (not editable)
    and nothing of the checkout on the kernel's path."""
    monkeypatch.setenv("PYTHONPATH", str(installed_package))
    data = None
    if demo == "linear":
        (tmp_path / OWN_FILE).write_bytes(sales_csv())
        data = userdata.read("table", sales_csv(), OWN_FILE, **SALES)
        config = tl_core.make_config("linear", n_target=6, seed=4)
    else:
        strategies = ("feature_extraction", "fine_tune")
        config = tl_core.make_config("rnn", n_target=2, epochs=2, seed=3, strategies=strategies)
    printed = execute_elsewhere(notebook_of(demo, config, data), tmp_path)

    python, module = printed.splitlines()[-1].rsplit(" ", 1)
    assert python == sys.executable and Path(module).is_relative_to(installed_package)
    page = tl_core.run(demo, config=config, data=data)  # what the page shows: the same code path
    shown = re.findall(r"^(\w+) +source .+? (-?[0-9.]+) +target .+? (-?[0-9.]+)$", printed, re.MULTILINE)
    assert shown == [
        (s.strategy, f"{s.source_metric:.3f}", f"{s.target_metric:.3f}") for s in page.strategies
    ]


HOSTILE = "x.csv\nimport os; os.system('echo pwned')\n# ' \" ''' \\"


@pytest.mark.parametrize(
    "field, plain", [("name", "sales.csv"), ("label", "sales"), ("split_value", "north")]
)
def test_what_a_user_named_enters_the_notebooks_code_only_as_a_string(field, plain):
    """A file's name, a column or a value holding a newline and code stays one string literal:
    with it put back to a plain value, the code is the plain value's code, statement for statement."""
    data = userdata.read("table", sales_csv(), "sales.csv", **SALES)
    named = (
        dataclasses.replace(data, name=HOSTILE)
        if field == "name"
        else dataclasses.replace(data, options={**data.options, field: HOSTILE})
    )
    config = tl_core.make_config("linear").to_dict()
    for cell, reference in zip(
        exports.reproduce_cells("linear", config, data=named),
        exports.reproduce_cells("linear", config, data=data),
        strict=True,
    ):
        tree = ast.parse(cell)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value == HOSTILE:
                node.value = plain
        assert ast.dump(tree) == ast.dump(ast.parse(reference))
    assert repr(HOSTILE) in exports.data_code(named)
