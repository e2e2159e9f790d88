"""What a page offers to take away: result tables, CSV, JSON, its charts in one HTML file, a notebook.

The notebook's code is the few `tl_core` lines that reproduce the run on screen, every setting
written out, so it gives the same numbers wherever the package is installed (same config and
seed, same numbers). What a user chose (a file's name, a column, a value) enters the code only as
a Python literal (repr), never as code or inside a comment.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import nbformat
import pandas as pd
import plotly.graph_objects as go

from tl_core.result import RunResult
from tl_core.strategies import BASELINE, label
from tl_core.userdata import UserData


def results_table(result: RunResult) -> pd.DataFrame:
    """One row per strategy: its source and target metric, the gain over scratch, the losses."""
    metric, loss = result.metric_name, result.loss_name
    rows = [
        {
            "strategy": label(s.strategy),
            f"source {metric}": s.source_metric,
            f"target {metric}": s.target_metric,
            "target gain over scratch": result.gain(s.strategy) if BASELINE in result.names() else None,
            f"source {loss}": s.source_loss,
            f"target {loss}": s.target_loss,
        }
        for s in result.strategies
    ]
    return pd.DataFrame(rows)


def display_table(result: RunResult) -> pd.DataFrame:
    """The results table as a student reads it: accuracy in percent and gains in points, R² as is."""
    table = results_table(result)
    if result.metric_name != "accuracy":
        return table
    metric_columns = [c for c in table.columns if c.endswith(" accuracy") or c == "target gain over scratch"]
    table[metric_columns] = table[metric_columns] * 100
    return table.rename(columns={c: c + (" (points)" if "gain" in c else " (%)") for c in metric_columns})


def csv_bytes(result: RunResult) -> bytes:
    """The results table with the run's settings as leading columns (one row per strategy)."""
    rows = [
        {
            "demo": result.demo,
            **{k: _cell(v) for k, v in result.config.items()},
            "strategy": s.strategy,
            "metric": result.metric_name,
            "source_metric": s.source_metric,
            "target_metric": s.target_metric,
            "gain": result.gain(s.strategy) if BASELINE in result.names() else None,
            "loss": result.loss_name,
            "source_loss": s.source_loss,
            "target_loss": s.target_loss,
        }
        for s in result.strategies
    ]
    return pd.DataFrame(rows).to_csv(index=False).encode()


def json_bytes(result: RunResult) -> bytes:
    """The whole result, config and per-epoch history included (`RunResult.from_json` reads it)."""
    return result.to_json(indent=2).encode()


def charts_html(title: str, charts: Sequence[tuple[go.Figure, str]]) -> bytes:
    """Every chart of a page in one HTML file that opens anywhere, offline too: plotly.js once
    (about 5 MB), then each chart (a few kB) with the sentence the page wrote under it."""
    parts = [
        fig.to_html(include_plotlyjs=i == 0, full_html=False, default_width="100%")
        + (f"<p>{html.escape(sentence.replace('**', ''))}</p>" if sentence else "")
        for i, (fig, sentence) in enumerate(charts)
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        '<body style="font-family: sans-serif; max-width: 1100px; margin: auto; padding: 1em">'
        f"<h1>{html.escape(title)}</h1>\n" + "\n<hr>\n".join(parts) + "\n</body></html>"
    ).encode()


def _cell(value: Any) -> Any:
    return ";".join(value) if isinstance(value, (list, tuple)) else value


# ----------------------------------------------------------------------------------------------
# Reproduce in a notebook


def config_code(demo: str, config: dict[str, Any]) -> str:
    """`config = tl_core.make_config(...)` with every setting written out (the device left to auto)."""
    lines = [f"    {name}={_literal(value)}," for name, value in config.items() if name != "device"]
    return "config = tl_core.make_config(\n    " + repr(demo) + ",\n" + "\n".join(lines) + "\n)"


def _literal(value: Any) -> str:
    return repr(tuple(value)) if isinstance(value, list) else repr(value)


def sweep_code(demo: str, name: str, over: str, values: Sequence[Any], seeds: int, data: str = "") -> str:
    """A sweep around the config, as the page runs it."""
    return (
        f"{name} = tl_core.sweep({demo!r}, over={over!r}, values={list(values)!r}, seeds={seeds},\n"
        f"                       {data}**config.to_dict())"
    )


def data_code(data: UserData) -> str:
    """`data = ...`: the user's data read again as the page read it (an upload from its file,
    which must sit beside the notebook)."""
    options = ", ".join(f"{k}={_literal(v)}" for k, v in data.options.items())
    if data.bundled:
        return (
            f"from tl_core.userdata import tables\n\n"
            f"data = tables.bundled_table_data({data.bundled!r}, {options})"
        )
    return (
        "from tl_core import userdata\n\n"
        f"file_name = {data.name!r}  # the file you uploaded, in this notebook's folder\n"
        'with open(file_name, "rb") as file:\n'
        f"    data = userdata.read({data.kind!r}, file.read(), file_name, {options})\n"
        "for note in data.notes:\n    print(note)"
    )


VIEWS = ("samples_figure", "model_figure", "confusion_figure")  # a demo's own figures, in page order


def views_of(module) -> list[str]:
    """The demo's own figures: the two every demo draws, and the confusion matrix where its
    OFFERS has one."""
    return list(VIEWS if module.OFFERS.confusion_figure is not None else VIEWS[:2])


def reproduce_cells(
    demo: str,
    config: dict[str, Any],
    sweeps: dict[str, tuple[Sequence[Any], int]] | None = None,
    views: Sequence[str] = VIEWS,
    data: UserData | None = None,
) -> list[str]:
    """The code cells that reproduce a demo page: the run, its table and charts, and the sweeps.

    `sweeps` maps "n_target" and/or "gap" to (values, seeds) for the sweeps the page has shown;
    `views` names the demo's own figures to draw (samples_figure takes the config, the rest the
    result); `data`: the user's data the page ran on, read again first.
    """
    given = "" if data is None else "data=data, "
    cells = [data_code(data)] if data is not None else []
    cells += [
        "import tl_core\nfrom tl_core import narrate, plots\n\n"
        f"demo = tl_core.get_demo({demo!r})\n" + config_code(demo, config) + "\n"
        f"result = tl_core.run({demo!r}, config=config{', data=data' if data is not None else ''})\n"
        "print(narrate.describe_result(result))",
        "for s in result.strategies:\n"
        '    print(f"{s.strategy:20} source {result.metric_name} {s.source_metric:.3f}   "\n'
        '          f"target {result.metric_name} {s.target_metric:.3f}")',
    ]
    if "samples_figure" in views:
        cells.append(f"demo.samples_figure(config{', data=data' if data is not None else ''}).show()")
    cells += [
        "plots.source_vs_target(result).show()\nprint(narrate.describe_source_vs_target(result))",
        "plots.training_curves(result).show()\nprint(narrate.describe_history(result))",
    ]
    model_views = [
        f"demo.{name}(result{', data=data' if data is not None else ''}).show()"
        for name in views
        if name != "samples_figure"
    ]
    if model_views:
        cells.append("\n".join(model_views))
    sweeps = sweeps or {}
    if "n_target" in sweeps:
        values, seeds = sweeps["n_target"]
        cells.append(
            sweep_code(demo, "efficiency", "n_target", values, seeds, given) + "\n"
            "plots.data_efficiency(efficiency).show()\n"
            "print(narrate.describe_data_efficiency(efficiency))"
        )
    if "gap" in sweeps:
        values, seeds = sweeps["gap"]
        cells.append(
            sweep_code(demo, "gaps", "gap", values, seeds, given) + "\n"
            "plots.gap_curve(gaps).show()\nprint(narrate.describe_gap_curve(gaps))"
        )
    return cells


def setup_text() -> str:
    """What a notebook's reader installs, and how, before running it anywhere."""
    try:
        version = f" {metadata.version('transfer-lab')}"
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        version = ""
    return (
        "**To run it** (in any folder): Python 3.11 or newer with the `transfer-lab` package"
        f"{version}, which brings torch, scikit-learn, plotly and the rest. It is not on PyPI: "
        "install it from a copy of the Transfer Lab repository, in a terminal\n\n"
        "    pip install /path/to/transfer-lab\n\n"
        "(the folder that holds its `pyproject.toml`; `pip install git+URL` with the "
        "repository's Git address works too), then run the cells in order. With your own data, "
        "put your file in the notebook's folder. Same settings and seed give the page's numbers "
        "(on another processor or a GPU, to rounding)."
    )


def notebook_bytes(title: str, what_it_shows: str, cells: list[str]) -> bytes:
    """A Jupyter notebook: one Markdown cell saying what the experiment shows and how to run it,
    then the code, no outputs."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell(f"# {title}\n\n{what_it_shows}\n\n{setup_text()}")]
    notebook.cells += [nbformat.v4.new_code_cell(code) for code in cells]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.validate(notebook)
    return nbformat.writes(notebook).encode()


def code_of_notebook(data: bytes) -> list[str]:
    """The code cells of a notebook (for tests, and for anyone checking a download)."""
    notebook = nbformat.reads(data.decode(), as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]
