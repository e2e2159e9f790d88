"""Bring your own data through the pages, as a student would: choose "Your own data", upload a
file (or pick a bundled table), and every strategy, chart and export works on it.

A file the readers refuse shows the reader's message and no exception, and the page keeps
working; a shared link cannot carry a file, so it says so and falls back to the built-in data.
"""

import io
import zipfile

import numpy as np
import plotly.graph_objects as go
import pytest
import streamlit as st
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest
from test_app_pages import APP, failures, fast

import tl_core
from tl_app import controls, results_section
from tl_app.catalog import DEMO_BY_NAME
from tl_core import userdata

TIMEOUT = 180  # a torch page trains its source model on the first run


# ----------------------------------------------------------------------------------------------
# Files a student might upload, made here


def sales_csv(rows: int = 90) -> bytes:
    """Sales in two regions: the north's line is the south's, shifted a little."""
    rng = np.random.default_rng(0)
    lines = ["region,price,advertising,sales"]
    for i in range(rows):
        north = i % 3 == 0
        price, advertising = rng.uniform(1, 5), rng.uniform(0, 10)
        sales = 20 - 2.5 * price + 1.5 * advertising + (3 if north else 0) + rng.normal(0, 1)
        lines.append(f"{'north' if north else 'south'},{price:.2f},{advertising:.2f},{sales:.2f}")
    return "\n".join(lines).encode()


def shapes_zip(per_class: int = 6) -> bytes:
    """A zip of three class folders of drawn shapes, the layout ImageFolder reads."""
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for shape in ("circle", "square", "cross"):
            for i in range(per_class):
                image = Image.new("RGB", (40, 40), "white")
                draw, (a, b) = ImageDraw.Draw(image), rng.integers(4, 12, size=2)
                if shape == "circle":
                    draw.ellipse((a, b, 40 - b, 40 - a), outline="black", width=4)
                elif shape == "square":
                    draw.rectangle((a, a, 40 - b, 40 - b), outline="black", width=4)
                else:
                    draw.line((a, b, 40 - a, 40 - b), fill="black", width=4)
                    draw.line((a, 40 - b, 40 - a, b), fill="black", width=4)
                png = io.BytesIO()
                image.save(png, format="PNG")
                archive.writestr(f"{shape}/{i}.png", png.getvalue())
    return buffer.getvalue()


def waves_csv(per_class: int = 8, steps: int = 40) -> bytes:
    """Wide sequences: one row per sequence, a sine, a square or a sawtooth wave, with noise."""
    rng = np.random.default_rng(2)
    t = np.linspace(0, 4 * np.pi, steps)
    waves = {
        "sine": np.sin,
        "square": lambda x: np.sign(np.sin(x)),
        "saw": lambda x: (x % (2 * np.pi)) / np.pi - 1,
    }
    lines = [",".join(f"t{i}" for i in range(steps)) + ",label"]
    for name, wave in waves.items():
        for _ in range(per_class):
            values = wave(t + rng.uniform(0, 2 * np.pi)) + rng.normal(0, 0.2, steps)
            lines.append(",".join(f"{v:.3f}" for v in values) + f",{name}")
    return "\n".join(lines).encode()


# ----------------------------------------------------------------------------------------------
# Driving a page


def page(demo: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update({**fast(demo), **(query or {})})
    return at.switch_page(DEMO_BY_NAME[demo].path).run()


def own_data(at: AppTest) -> AppTest:
    return at.selectbox(key="data").set_value("own").run()


def upload(at: AppTest, demo: str, name: str, raw: bytes) -> AppTest:
    return at.file_uploader(key=f"upload_{demo}").set_value((name, raw, "application/octet-stream")).run()


def results_table(at: AppTest):
    """The page's table of every strategy's numbers (the other table previews the user's)."""
    return next(t.value.reset_index() for t in at.table if t.value.index.name == "strategy")


def results(at: AppTest) -> list[str]:
    """The strategies in the page's results table."""
    return list(results_table(at)["strategy"])


def charts(at: AppTest) -> list[str]:
    return [c.proto.spec for c in at.get("plotly_chart")]


def errors(at: AppTest) -> list[str]:
    """Error messages as a student reads them (the page escapes Markdown in what a file holds)."""
    return [e.value.replace("\\", "") for e in at.error]


def notebook_code(at: AppTest) -> str:
    """The "Reproduce in a notebook" code the page shows."""
    (code,) = [c.value for c in at.code if c.language == "python"]
    return code


def run_cells(code: str, folder, monkeypatch) -> dict:
    """The page's notebook code run in `folder` (where the uploaded file is), figures not shown."""
    monkeypatch.chdir(folder)
    monkeypatch.setattr(go.Figure, "show", lambda fig, *a, **k: None)
    namespace: dict = {}
    exec(compile(code, "<notebook>", "exec"), namespace)
    return namespace


# ----------------------------------------------------------------------------------------------
# Tables


def test_an_uploaded_csv_runs_every_strategy_and_the_notebook_reproduces_it(tmp_path, monkeypatch):
    at = own_data(page("linear"))
    assert not errors(at) and at.file_uploader(key="upload_linear")
    assert not at.get("plotly_chart"), "nothing runs before a file is there"
    at = upload(at, "linear", "sales.csv", sales_csv())
    assert not failures(at), failures(at)
    assert results(at) == ["Scratch", "Source only", "Fine-tune", "Regularized transfer", "Joint training"]
    assert len(charts(at)) >= 3 and len(at.metric) == 2
    assert any("sales.csv" in s.value.replace("\\", "") for s in at.success)
    assert at.query_params["data"] == "own", "the link says the data came from an upload"
    assert any("cannot carry your file" in m.value for m in at.markdown)
    # the notebook reads the file again and gives the page's numbers
    (tmp_path / "sales.csv").write_bytes(sales_csv())
    code = notebook_code(at)
    assert "userdata.read('table'" in code and "data=data" in code
    namespace = run_cells(code, tmp_path, monkeypatch)
    assert results_section.results_tables(namespace["result"])[0].reset_index().equals(results_table(at))


def test_the_charts_of_an_upload_are_never_kept_on_disk_those_of_built_in_data_are(result_store):
    """A visitor's file shows in its charts (their values, their images): on a shared server those
    charts stay in the server's memory, while built-in scenarios' charts are kept for every process."""
    st.cache_resource.clear()  # a new server process: no chart drawn yet
    at = page("linear")
    kept = set(result_store.glob("chart-*"))
    assert kept, "the built-in scenario's charts are kept on disk"
    at = upload(own_data(at), "linear", "sales.csv", sales_csv())
    assert not failures(at) and len(charts(at)) >= 3
    assert set(result_store.glob("chart-*")) == kept, "no chart of the upload on disk"


def test_the_split_column_and_threshold_decide_the_domains():
    at = upload(own_data(page("linear")), "linear", "sales.csv", sales_csv())
    at.selectbox(key="ud_linear_sales.csv_" + str(len(sales_csv())) + "_split").set_value("price").run()
    assert not failures(at), failures(at)
    caption = next(c.value for c in at.caption if c.value.startswith("Target:"))
    assert controls.escape("price >") in caption and "Source: the other" in caption  # Markdown source


def test_a_bundled_table_needs_no_file_and_offers_its_classes():
    at = own_data(page("logistic"))
    at.selectbox(key="table").set_value("iris").run()
    assert not failures(at), failures(at)
    assert at.query_params["table"] == "iris" and at.query_params["data"] == "own"
    positive = at.selectbox(key="ud_logistic_iris_positive")
    assert positive.value == "virginica" and set(positive.options) == {"setosa", "versicolor", "virginica"}
    assert "CORAL" in results(at)
    positive.set_value("setosa").run()
    assert not failures(at), failures(at)


@pytest.mark.parametrize(
    "name, raw, words",
    [
        ("empty.csv", b"", "empty"),
        ("photo.csv", bytes(range(256)) * 40, "not a text file"),
        ("latin.csv", "city,x,y\nKöln,1,2\nWien,3,4\n".encode("cp1252"), "UTF-8"),
        ("words.csv", b"a,b\nx,y\nz,w\n", "no numeric columns"),
    ],
)
def test_a_malformed_csv_says_what_is_wrong_and_the_page_keeps_working(name, raw, words):
    at = upload(own_data(page("linear")), "linear", name, raw)
    assert not at.exception
    assert any(words in e for e in errors(at)), errors(at)
    at = upload(at, "linear", "sales.csv", sales_csv())  # a good file afterwards just works
    assert not failures(at), failures(at)
    assert len(results(at)) == 5


def test_settings_the_data_cannot_satisfy_say_so():
    at = upload(own_data(page("logistic")), "logistic", "sales.csv", sales_csv())
    label = next(s for s in at.selectbox if s.label.startswith("Label"))
    label.set_value("region").run()  # predict the region... then split by price
    at.selectbox(key=label.key.replace("_label", "_split")).set_value("price").run()
    at.select_slider(key="n_target").set_value(50).run()
    assert not at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert any("do not fit your data" in w and "n_target" in w for w in warnings), warnings


def test_a_link_saying_own_data_falls_back_to_the_built_in_scenario():
    at = page("linear", {"data": "own", "n_target": "7"})
    assert not failures(at), failures(at)
    assert at.selectbox(key="data").value == "builtin"
    assert any(
        "file uploaded by whoever shared it" in w.value and "cannot carry a file" in w.value
        for w in at.warning
    )
    assert at.select_slider(key="n_target").value == 7, "the rest of the link still counts"
    assert results(at), "the built-in experiment runs"


def test_a_link_to_a_bundled_table_opens_that_table_with_the_same_numbers():
    shared = own_data(page("linear", {"n_target": "7", "seed": "3"}))
    shared.selectbox(key="table").set_value("diabetes").run()
    assert not failures(shared), failures(shared)
    assert any(
        "opens this page on the same table bundled with scikit-learn" in m.value for m in shared.markdown
    )
    at = page("linear", dict(shared.query_params))  # the link, opened in a fresh session
    assert not failures(at) and not at.warning, [w.value for w in at.warning]
    assert at.selectbox(key="data").value == "own" and at.selectbox(key="table").value == "diabetes"
    assert results_table(at).equals(results_table(shared)), "the sharer's numbers"
    assert not any("uploaded by whoever shared it" in m.value for m in [*at.markdown, *at.warning])


def test_a_changed_column_of_a_bundled_table_is_said_to_stay_behind_a_link():
    at = own_data(page("linear"))
    at.selectbox(key="table").set_value("diabetes").run()
    missing = next(r for r in at.radio if r.label == "Rows with a missing value")
    missing.set_value("mean").run()
    assert any(
        "does not carry the table's column choices you changed** (missing)" in m.value for m in at.markdown
    )


def test_the_split_defaults_to_the_column_that_looks_like_a_domain_and_no_column_drops_silently():
    regions = ("north", "south", "east")
    rows = ["sqm,rooms,region,note,price"] + [
        f"{50 + 7 * i},{1 + i % 4},{regions[i % 3]},flat {i},{100 + 3 * i + 9 * (i % 3 > 0)}"
        for i in range(60)
    ]
    raw = "\n".join(rows).encode()
    at = upload(own_data(page("linear")), "linear", "houses.csv", raw)
    assert not failures(at), failures(at)
    key = f"ud_linear_houses.csv_{len(raw)}"
    assert at.selectbox(key=f"{key}_label").value == "price"
    assert at.selectbox(key=f"{key}_split").value == "region", "text with 3 values, not sqm > 112"
    said = next(c.value.replace("\\", "") for c in at.caption if c.value.startswith("Not features"))
    assert all(part in said for part in ("price (the label)", "region (the split)", "note (text)"))
    assert set(at.multiselect(key=f"{key}_features_price_region").value) == {"sqm", "rooms"}
    at.selectbox(key=f"{key}_split").set_value("sqm").run()  # sqm splits now: not a feature
    at.selectbox(key=f"{key}_split").set_value("region").run()  # and back: a feature again
    assert set(at.multiselect(key=f"{key}_features_price_region").value) == {"sqm", "rooms"}
    at.multiselect(key=f"{key}_features_price_region").set_value(["rooms"]).run()
    said = next(c.value.replace("\\", "") for c in at.caption if c.value.startswith("Not features"))
    assert "sqm (unticked)" in said, "a column left out is named"


# ----------------------------------------------------------------------------------------------
# Images (CNN) and sequences (RNN)


def test_a_zip_of_image_folders_is_the_cnns_target(tmp_path, monkeypatch):
    at = upload(own_data(page("cnn", {"n_target": "2"})), "cnn", "shapes.zip", shapes_zip())
    assert not failures(at), failures(at)
    shown = results(at)
    assert "Source only" not in shown and {"Scratch", "Fine-tune", "Feature extraction"} <= set(shown)
    assert any("circle" in c for c in charts(at)), "the confusion matrix names the user's classes"
    assert at.select_slider(key="gap").disabled, "the gap is the data's own"
    said = " ".join(c.value for c in at.caption)
    assert "8x8 in grey" in said and "64x64 RGB" in said, "what the reader keeps, and what the CNN reads"
    (tmp_path / "shapes.zip").write_bytes(shapes_zip())
    namespace = run_cells(notebook_code(at), tmp_path, monkeypatch)
    assert results_section.results_tables(namespace["result"])[0].reset_index().equals(results_table(at))


@pytest.mark.parametrize(
    "name, raw, words",
    [
        ("notes.zip", b"not a zip at all", "not a zip"),
        ("evil.zip", None, "leaves its folder"),
    ],
)
def test_a_bad_zip_is_refused_with_its_reason(name, raw, words):
    if raw is None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("../evil.png", b"x")
            archive.writestr("a/1.png", b"x")
        raw = buffer.getvalue()
    at = upload(own_data(page("cnn")), "cnn", name, raw)
    assert not at.exception
    assert any(words in e for e in errors(at)), errors(at)


def test_a_sequence_csv_is_the_rnns_target():
    at = upload(own_data(page("rnn", {"n_target": "2"})), "rnn", "waves.csv", waves_csv())
    assert not failures(at), failures(at)
    assert "Source only" not in results(at) and "Fine-tune" in results(at)
    assert any("Source only is left out" in c.value for c in at.caption)  # it was asked for
    assert any("saw" in c for c in charts(at))
    data = userdata.read("sequences", waves_csv(), "waves.csv", layout="auto", label=None)
    result = tl_core.run(
        "rnn", data=data, **tl_core.make_config("rnn", **{**fast("rnn"), "n_target": "2"}).to_dict()
    )
    assert results_section.results_tables(result)[0].reset_index().equals(results_table(at))


@pytest.mark.parametrize(
    "demo, name, raw",
    [
        ("linear", "sales.csv", sales_csv()),
        ("cnn", "shapes.zip", shapes_zip()),
        ("rnn", "waves.csv", waves_csv(steps=30)),  # not MNIST-1D's 40 steps
    ],
)
def test_the_data_efficiency_sweep_runs_on_your_data(demo, name, raw):
    """The sweep's button on your file draws the data-efficiency curve (on 30-step sequences
    the RNN's joint training used to fail: it stacked them with the 40-step source batches)."""
    at = upload(own_data(page(demo, {"n_target": "2", "sweep_seeds": "1"})), demo, name, raw)
    assert not failures(at), failures(at)
    before = len(charts(at))
    at.button(key="run_n_target_sweep").click().run()
    assert not failures(at), failures(at)
    assert len(charts(at)) == before + 1 and "efficiency_chart" in [c.key for c in at.get("plotly_chart")]
    assert any("Data efficiency" in m.value for m in at.markdown), "its title, above it"
