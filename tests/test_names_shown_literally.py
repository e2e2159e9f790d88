"""Names a visitor chose are shown as text, never as markup, on each demo's own-data path.

Plotly renders a subset of HTML in any text of a figure (titles, legends, axis ticks, hover
labels): <b>, <br>, <a href=...>, and entities such as &amp;. A class folder, a column or a file
named like that must appear as typed, in the page's figures and in every chart exported as HTML
(the same figures); the results exported as CSV or JSON keep the names as they are (data).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import torch
from PIL import Image

import tl_core
from tl_core import narrate, plots, userdata
from tl_core.userdata import literal

BOLD = "<b>bold</b>"
LINK = '<a href="https://example.org">link</a>'
ENTITY = "R&amp;D"  # shown as typed, not as "R&D"
FILE = "<b>my</b> data.csv"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def texts(fig: go.Figure) -> list[str]:
    """Every string in a figure: what plotly may render as text."""
    found = []

    def walk(value):
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple, np.ndarray)):
            for v in value:
                walk(v)

    walk(fig.to_plotly_json())
    return found


def assert_literal(fig: go.Figure, raw_names: list[str], shown: list[str]) -> None:
    """No raw name in the figure's text; each of `shown` is there, escaped."""
    strings = texts(fig)
    for name in raw_names:
        leaked = [s for s in strings if name in s]
        assert not leaked, f"{name!r} reaches the figure as markup: {leaked[0]!r}"
    for name in shown:
        assert any(literal(name) in s for s in strings), f"{name!r} is not shown at all"
    html = fig.to_html(include_plotlyjs=False, full_html=False)  # the chart as exported
    for name in raw_names:
        assert name not in html


def assert_plain_sentences(*sentences: str) -> None:
    for sentence in sentences:
        for name in (BOLD, LINK, ENTITY, "<b>"):
            assert name not in sentence


def table_csv() -> bytes:
    rng = np.random.default_rng(0)
    n = 120
    temperature = rng.normal(size=n)
    frame = pd.DataFrame(
        {
            "shop": np.arange(n) % 7,  # a plain first column: a file starting with "<" looks like HTML
            BOLD: temperature,
            LINK: rng.normal(size=n),
            "<br>region": np.where(np.arange(n) % 2, "<i>north</i>", "south"),
            ENTITY: 3 * temperature + rng.normal(size=n),
            "<b>bought</b>": np.where(temperature + rng.normal(size=n) > 0, BOLD, LINK),
        }
    )
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize("demo", ["linear", "logistic"])
def test_table_names_are_shown_literally(demo):
    label = ENTITY if demo == "linear" else "<b>bought</b>"
    task = "regression" if demo == "linear" else "classification"
    data = userdata.read(
        "table",
        table_csv(),
        FILE,
        task=task,
        label=label,
        features=[BOLD, LINK] if demo == "logistic" else [BOLD],
        split_column="<br>region",
        split_value="<i>north</i>",
    )
    module = tl_core.get_demo(demo)
    result = tl_core.run(demo, data=data, n_target=4)
    sweep = tl_core.sweep(demo, over="n_target", values=[2, 4], seeds=1, data=data)
    raw = [BOLD, LINK, ENTITY, "<i>north</i>", "<br>region", "<b>bought</b>"]
    shown = {"linear": [BOLD, ENTITY, "<i>north</i>"], "logistic": [BOLD, LINK, "<i>north</i>"]}[demo]
    assert_literal(module.samples_figure(module.Config(), data=data), raw, shown)
    assert_literal(module.model_figure(result, data=data), raw, [])
    for fig in (plots.source_vs_target(result), plots.training_curves(result), plots.data_efficiency(sweep)):
        assert_literal(fig, raw, [])
    assert_plain_sentences(
        narrate.describe_result(result),
        narrate.describe_source_vs_target(result),
        narrate.describe_best_and_worst(result),
        narrate.describe_data_efficiency(sweep),
    )
    assert result.extras["user_data"]["name"] == FILE, "the results keep the name as typed"
    if demo == "logistic":
        assert set(result.extras["class_names"]) == {BOLD, LINK}


def sequence_csv() -> bytes:
    rng = np.random.default_rng(0)
    steps = np.arange(20)
    lines = ['id,"<b>label</b>",' + ",".join(f"<i>t{t}</i>" for t in steps)]
    for k in range(40):
        name = (BOLD, LINK, ENTITY)[k % 3]
        wave = np.sin(steps * (0.3, 0.6, 0.9)[k % 3]) + rng.normal(0, 0.1, len(steps))
        quoted = '"' + name.replace('"', '""') + '"'
        lines.append(f"s{k},{quoted}," + ",".join(f"{v:.3f}" for v in wave))
    return "\n".join(lines).encode()


def test_sequence_class_names_are_shown_literally():
    data = userdata.read("sequences", sequence_csv(), FILE, label="<b>label</b>")
    assert set(data.class_names) == {BOLD, LINK, ENTITY}
    module = tl_core.get_demo("rnn")
    result = tl_core.run("rnn", data=data, n_target=3, epochs=2, hidden=16)
    raw = [BOLD, LINK, "<b>my</b>", "<i>t"]
    classes = [BOLD, LINK, ENTITY]
    assert_literal(module.samples_figure(module.Config(), data=data), raw, classes + [FILE])
    assert_literal(module.model_figure(result, data=data), raw, classes)
    assert_literal(module.confusion_figure(result, data=data), raw, classes)
    assert_literal(plots.source_vs_target(result), raw, [])
    assert_plain_sentences(module.describe_model(result), narrate.describe_result(result))


def image_zip(folders: list[str]) -> bytes:
    def png(shade: int) -> bytes:
        pixels = np.full((16, 16, 3), 255, np.uint8)
        pixels[4:12, 4:12] = shade
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "PNG")
        return buffer.getvalue()

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for c, folder in enumerate(folders):  # a folder name holds no "/": the link's text is one
            for i in range(12):
                zipped.writestr(f"{folder}/{i}.png", png(60 * c))
    return archive.getvalue()


def test_image_class_folders_are_shown_literally():
    folders = ["<b>cats", '<a href="javascript:alert(1)">dogs', ENTITY]
    data = userdata.read("images", image_zip(folders), "<b>pets</b>.zip")
    module = tl_core.get_demo("cnn")
    result = tl_core.run("cnn", data=data, n_target=3, epochs=2)
    raw = ["<b>", "<a href", "<b>pets"]
    assert_literal(module.samples_figure(module.Config(), data=data), raw, ["<b>pets</b>.zip", "<b>cats"])
    assert_literal(module.model_figure(result, data=data), raw, [])
    assert_literal(module.confusion_figure(result, data=data), raw, folders)
    assert_literal(plots.source_vs_target(result), raw, [])
    assert_plain_sentences(module.describe_model(result), narrate.describe_result(result))
