"""Property-based fuzzing (Hypothesis) of everything a visitor sends: the three readers of their
files (tables, image zips, sequences) and the link parser.

The properties, for any input:
- the reader returns usable data, or raises the project's own UserDataError (a message for the
  visitor), never any other exception; the link parser returns checked values and short,
  Markdown-safe warnings, never an exception;
- what comes back stays within the host's caps (set small here): rows, columns, images, sizes,
  finite numbers, and a table's data runs through its demo to finite numbers (or a UserDataError);
- no call allocates more than a bound that follows from the caps (tracemalloc's peak: Python's
  and numpy's allocations), and an image zip leaves no temporary file behind.
Time is bounded the same way, by the caps on what is read (no wall-clock assertion: timings are
for the benchmarks).

Inputs are drawn from grammars (CSV tables with hostile cells and names, zips with hostile paths,
bombs and image headers, query strings with hostile keys and values) and from raw bytes. The runs
are deterministic: derandomized, no example database, a fixed number of examples, so CI sees the
same cases every time. The seeded loops in test_userdata_*.py and test_link_fuzz.py stay as
regressions beside these.
"""

from __future__ import annotations

import io
import struct
import tempfile
import tracemalloc
import warnings
import zipfile
import zlib
from contextlib import contextmanager
from urllib.parse import parse_qs

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

import tl_core
from tl_app import controls, demo_page
from tl_core import limits
from tl_core.limits import Limits
from tl_core.userdata import UserDataError, images, sequences, tables

CAPS = Limits(max_upload_mb=1, max_upload_rows=300, max_upload_columns=40, max_upload_images=30)
MEMORY_BOUND = 64 * 2**20  # peak bytes allocated by one call; a 1 MB upload needs far less


def fuzzed(examples: int):
    """Hypothesis settings for CI: the same examples every run, nothing stored between runs."""
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )


@pytest.fixture
def small_caps(monkeypatch, tmp_path):
    """The host's caps, small; temporary folders in this test's own folder, watched."""
    images.image_endings()  # imports torchvision (its allocations and its own folder) once, before
    monkeypatch.setattr(limits, "LIMITS", CAPS)
    monkeypatch.setattr(sequences, "LIMITS", CAPS)  # bound at its import
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@contextmanager
def bounded_memory():
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MEMORY_BOUND, f"one call allocated {peak / 2**20:.0f} MB"


def read(reader, raw: bytes, name: str, **options):
    """The reader's data, or None when it raised UserDataError (anything else fails the test)."""
    with bounded_memory():
        try:
            return reader(raw, name, **options)
        except UserDataError as error:
            assert str(error).strip(), "a message says what is wrong"
            return None


# ----------------------------------------------------------------------------------------------
# Tables

SPECIAL_CELLS = ["", "inf", "-inf", "1e309", "-1e400", "nan", "NA", "?", "1,5", "1e200", "-1e308", "0", "x"]
NUMBER_CELLS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda v: f"{v:.4g}"),
    st.integers(-1000, 1000).map(str),
)
CELLS = st.one_of(NUMBER_CELLS, NUMBER_CELLS, st.sampled_from(SPECIAL_CELLS), st.text(max_size=6))
NAMES = st.one_of(
    st.sampled_from(["x", "y", "label", "region", "<b>b</b>", " ", "", "x.1", "é", "a,b"]),
    st.text(max_size=8),
)


@st.composite
def csv_files(draw) -> bytes:
    """A CSV file: a header of hostile or plain names, rows of numbers, specials and text; some
    rows short or long; commas, semicolons or tabs; UTF-8 with or without a byte-order mark."""
    n_columns = draw(st.integers(1, 7))
    names = draw(st.lists(NAMES, min_size=n_columns, max_size=n_columns))
    separator = draw(st.sampled_from([",", ";", "\t"]))
    rows = draw(
        st.lists(st.lists(CELLS, min_size=max(1, n_columns - 1), max_size=n_columns + 1), max_size=60)
    )
    text = separator.join(names) + "\n" + "\n".join(separator.join(row) for row in rows)
    return (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode()


HOSTILE_NUMBERS = ["inf", "-inf", "1e309", "-1e400", "nan", "", "?", "1e200", "-1e101", "9e99", "1e-320", "x"]


def sprinkle(draw, cells: list[list[str]], columns: range) -> list[list[str]]:
    """A few cells (at most 6) of a well-formed table replaced by hostile values."""
    for _ in range(draw(st.integers(0, 6))):
        row = draw(st.integers(0, len(cells) - 1))
        cells[row][draw(st.sampled_from(columns))] = draw(st.sampled_from(HOSTILE_NUMBERS))
    return cells


@st.composite
def shop_files(draw) -> bytes:
    """A table that is fine but for a few hostile cells: features x0..x2, a split column, a
    numeric label y (sometimes one number in a domain) and a text label kind. Most are read, so
    the data's properties are checked on them."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(24, 90))
    x = rng.normal(size=(n, 3)) * draw(st.sampled_from([1.0, 1e-300, 1e90]))
    region = np.where(rng.random(n) < 0.5, "north", "south")
    y = x[:, 0] + rng.normal(size=n)
    if draw(st.integers(0, 9)) == 0:
        y[region == "north"] = 7.0  # one number in the target: refused
    kind = np.where(x[:, 1] + rng.normal(size=n) > 0, "yes", "no")
    cells = [[f"{v:.6g}" for v in x[i]] + [region[i], f"{y[i]:.6g}", kind[i]] for i in range(n)]
    cells = sprinkle(draw, cells, range(0, 5) if draw(st.booleans()) else range(0, 3))
    return ("x0,x1,x2,region,y,kind\n" + "\n".join(",".join(row) for row in cells)).encode()


@st.composite
def shop_options(draw) -> dict:
    task = draw(st.sampled_from(["regression", "classification"]))
    return {
        "task": task,
        "label": "y" if task == "regression" else "kind",
        "split_column": "region",
        "split_value": "north",
        "features": draw(st.sampled_from([None, ["x0"], ["x0", "x2"], ["x0", "x1", "x2"]])),
        "missing": draw(st.sampled_from(["drop", "mean"])),
    }


ANY_TABLE_OPTIONS = st.fixed_dictionaries(
    {
        "task": st.sampled_from(["regression", "classification"]),
        "label": st.sampled_from(["y", "kind", "x0", "region", "label", "nope"]),
        "split_column": st.sampled_from(["region", "x1", "kind", "y", "nope"]),
        "split_op": st.sampled_from(list(tables.SPLIT_OPS)),
        "split_value": st.one_of(st.sampled_from(["north", "yes", 0, 0.5, "0"]), st.text(max_size=4)),
        "missing": st.sampled_from(["drop", "mean"]),
    }
)


def check_table(data) -> None:
    """What every table the reader accepts must be: within the caps, finite, runnable."""
    for X, y in ((data.source_X, data.source_y), (data.target_X, data.target_y)):
        assert X.ndim == 2 and X.shape[1] == len(data.feature_names) <= CAPS.max_upload_columns
        assert len(X) == len(y) and len(X) <= CAPS.max_upload_rows
        assert np.isfinite(X).all() and np.isfinite(y).all()
        assert (np.abs(X) <= tables.MAX_MAGNITUDE).all()
        if data.task == "regression":
            assert y.min() < y.max(), "a label that varies in each domain"
        else:
            assert set(np.unique(y)) == {0, 1}
    demo = "linear" if data.task == "regression" else "logistic"
    try:
        result = tl_core.run(demo, data=data, n_target=2)
    except UserDataError:  # too few rows for this n_target: said so
        return
    for s in result.strategies:
        assert np.isfinite([s.source_metric, s.target_metric, s.source_loss, s.target_loss]).all()


ISSUE_FILE = b"x0,x1,x2,region,y,kind\n" + b"\n".join(  # the issue's nan_inf.csv, in spirit
    f"{i % 5},{i % 3},{'inf' if i == 3 else i % 7},{'north' if i % 2 else 'south'},"
    f"{'1e309' if i == 8 else i * 1.5},{'yes' if i % 4 else 'no'}".encode()
    for i in range(51)
)


@fuzzed(200)
@given(raw=shop_files(), options=shop_options())
@example(
    raw=ISSUE_FILE,
    options={
        "task": "regression",
        "label": "y",
        "split_column": "region",
        "split_value": "north",
        "features": None,
        "missing": "drop",
    },
)
def test_a_table_with_hostile_cells_gives_finite_runnable_data_or_a_user_data_error(small_caps, raw, options):
    data = read(tables.read_table_data, raw, "fuzz.csv", **options)
    if data is not None:
        check_table(data)


@fuzzed(150)
@given(raw=st.one_of(csv_files(), shop_files(), st.binary(max_size=600)), options=ANY_TABLE_OPTIONS)
def test_any_table_file_and_choices_give_usable_data_or_a_user_data_error(small_caps, raw, options):
    data = read(tables.read_table_data, raw, "fuzz.csv", **options)
    if data is not None:
        check_table(data)


# ----------------------------------------------------------------------------------------------
# Sequences


@st.composite
def wide_sequence_files(draw) -> bytes:
    """Sequences that are fine but for a few hostile cells: one row per sequence, three classes,
    some sequences shorter than others (their last cells empty)."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, steps = draw(st.integers(6, 40)), draw(st.integers(1, 12))
    labels = [("a", "b", "<b>c</b>")[i % 3] for i in range(n)]
    x = rng.normal(size=(n, steps)) * draw(st.sampled_from([1.0, 1e-300, 1e25]))
    lengths = rng.integers(1, steps + 1, n) if draw(st.booleans()) else np.full(n, steps)
    cells = [[f"{v:.6g}" if t < lengths[i] else "" for t, v in enumerate(x[i])] for i in range(n)]
    cells = sprinkle(draw, cells, range(steps))
    header = "label," + ",".join(f"t{t}" for t in range(steps))
    return (
        header + "\n" + "\n".join(f"{labels[i]}," + ",".join(row) for i, row in enumerate(cells))
    ).encode()


@st.composite
def long_sequence_files(draw) -> bytes:
    """The same in the long layout (id, time, value, label), rows shuffled."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, steps = draw(st.integers(6, 20)), draw(st.integers(1, 8))
    rows = [
        [f"s{i}", str(t), f"{rng.normal():.6g}", ("a", "b")[i % 2]] for i in range(n) for t in range(steps)
    ]
    rows = [rows[i] for i in rng.permutation(len(rows))]
    rows = sprinkle(draw, rows, range(1, 3))
    return ("id,time,value,label\n" + "\n".join(",".join(row) for row in rows)).encode()


SEQUENCE_OPTIONS = st.fixed_dictionaries(
    {
        "layout": st.sampled_from(list(sequences.LAYOUTS)),
        "missing": st.sampled_from(list(sequences.MISSING)),
        "label": st.sampled_from([None, None, "label", "t0", "nope"]),
    }
)


def check_sequences(data) -> None:
    if data is None:
        return
    n, steps = data.sequences.shape
    assert data.sequences.dtype == np.float32 and np.isfinite(data.sequences).all()
    assert n <= CAPS.max_upload_rows and steps <= CAPS.max_upload_columns
    assert (np.abs(data.sequences) <= sequences.MAX_MAGNITUDE).all()
    assert ((1 <= data.lengths) & (data.lengths <= steps)).all()
    counts = np.bincount(data.labels, minlength=len(data.class_names))
    assert len(data.class_names) >= 2 and counts.min() >= sequences.MIN_PER_CLASS


@fuzzed(120)
@given(
    raw=st.one_of(wide_sequence_files(), long_sequence_files()), missing=st.sampled_from(sequences.MISSING)
)
def test_sequences_with_hostile_cells_give_finite_sequences_or_a_user_data_error(small_caps, raw, missing):
    check_sequences(read(sequences.read_sequence_csv, raw, "fuzz.csv", missing=missing))


@fuzzed(12)  # each trains the RNN's target models (a second or so): few examples
@given(raw=wide_sequence_files())
def test_sequences_with_hostile_cells_train_to_finite_numbers(small_caps, raw, one_torch_thread):
    data = read(sequences.read_sequence_csv, raw, "fuzz.csv")
    if data is None:
        return
    try:
        result = tl_core.run("rnn", data=data, n_target=1, epochs=2, hidden=8)
    except UserDataError:  # a class too small for this n_target: said so
        return
    for s in result.strategies:
        assert np.isfinite([s.source_metric, s.target_metric, s.source_loss, s.target_loss]).all()


@fuzzed(150)
@given(
    raw=st.one_of(wide_sequence_files(), long_sequence_files(), csv_files(), st.binary(max_size=600)),
    options=SEQUENCE_OPTIONS,
)
def test_any_sequence_file_and_choices_give_usable_sequences_or_a_user_data_error(small_caps, raw, options):
    check_sequences(read(sequences.read_sequence_csv, raw, "fuzz.csv", **options))


# ----------------------------------------------------------------------------------------------
# Image zips


def png(width: int, height: int, mode: str) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 128 if mode in ("L", "P") else (90, 30, 200)[: len(mode)]).save(
        buffer, "PNG"
    )
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels (a decompression bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


FOLDERS = st.one_of(
    st.sampled_from(["cats", "dogs", "<b>", "a b", "é", "__MACOSX", ".hidden"]),
    st.text(st.characters(blacklist_characters="/\\", blacklist_categories=("Cs",)), min_size=1, max_size=5),
)
TRICKY_PATHS = st.sampled_from(
    ["../evil.png", "/abs.png", "a/../../b.png", "C:\\x.png", "a//b.png", "top/cats/x.png", "cats/", "x.png"]
)
CONTENTS = st.one_of(
    st.builds(png, st.integers(1, 40), st.integers(1, 40), st.sampled_from(["L", "RGB", "RGBA", "P"])),
    st.builds(png_header_claiming, st.integers(1, 200_000), st.integers(1, 200_000)),
    st.binary(max_size=200),
    st.integers(1, 8).map(lambda mb: b"\0" * (mb * 2**20)),  # compresses a thousandfold: a bomb
)


@st.composite
def image_zips(draw) -> bytes:
    """A zip of two or three class folders of small images, with a few hostile entries (paths
    that leave the folder, bombs, headers claiming a huge image, junk), sometimes cut short."""
    entries = [
        (f"{folder}/{i}.png", png(draw(st.integers(1, 40)), draw(st.integers(1, 40)), "RGB"))
        for folder in draw(st.lists(FOLDERS, min_size=2, max_size=3, unique=True))
        for i in range(draw(st.integers(2, 4)))
    ]
    for _ in range(draw(st.integers(0, 3))):
        if draw(st.booleans()):
            path = draw(TRICKY_PATHS)
        else:
            ending = draw(st.sampled_from([".png", ".jpg", ".txt", ""]))
            path = f"{draw(FOLDERS)}/{draw(st.text(max_size=4))}{ending}"
        entries.insert(draw(st.integers(0, len(entries))), (path, draw(CONTENTS)))
    archive = io.BytesIO()
    # Two entries of one name are one of the hostile cases: zipfile warns as it writes them.
    with zipfile.ZipFile(archive, "w") as zipped, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)
        for path, content in entries:
            method = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            zipped.writestr(path, content, compress_type=method)
    raw = archive.getvalue()
    if draw(st.integers(0, 9)) == 0:  # cut short, as a failed upload leaves it
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


@fuzzed(100)
@given(raw=st.one_of(image_zips(), image_zips(), st.binary(max_size=600)))
def test_any_image_zip_gives_usable_images_or_a_user_data_error_and_leaves_nothing(small_caps, raw):
    data = read(images.read_image_zip, raw, "fuzz.zip")
    assert list(small_caps.iterdir()) == [], "the unpacked files are removed, whatever happened"
    if data is None:
        return
    n = len(data.labels)
    assert data.images.shape == (n, images.IMAGE_SIZE, images.IMAGE_SIZE, 3) and data.images.dtype == np.uint8
    assert n <= CAPS.max_upload_images and 2 <= len(data.class_names) <= images.MAX_CLASSES


# ----------------------------------------------------------------------------------------------
# The link parser

PAGES = {demo: demo_page.page_specs(tl_core.get_demo(demo)) for demo in tl_core.available_demos()}
FIELD_NAMES = sorted({s.name for specs in PAGES.values() for s in specs} | set(controls.HIDDEN))
LINK_VALUES = st.one_of(
    st.text(max_size=30),
    st.floats().map(repr),
    st.integers().map(str),
    st.sampled_from(["nan", "-inf", "1e309", "1e-400", "0x10", "<script>x</script>", "[a](http://x)", "$x$"]),
    st.sampled_from(sorted({str(c) for specs in PAGES.values() for s in specs for c in s.choices or ()})),
    st.integers(0, 10_000).map(lambda n: ",".join(["scratch", "fine_tune"] * n)),  # 10,000-element lists
)


def check_parse(query: dict[str, list[str]], demo: str) -> None:
    specs = PAGES[demo]
    by_name = {s.name: s for s in specs}
    with bounded_memory():
        values, problems, others = controls.parse_link(query, specs)
    for name, value in values.items():
        assert by_name[name].check(value) == value, "every value taken is a valid setting"
    warnings = list(problems.values()) + others
    for warning in warnings:
        assert len(warning) < 1200, "warnings stay short"
        assert "](" not in warning and "<" not in warning.replace("\\<", ""), "Markdown-safe"
    assert len(others) <= 2 and set(problems) <= set(by_name)


@fuzzed(300)
@given(
    query=st.dictionaries(
        st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=12)),
        st.lists(LINK_VALUES, min_size=1, max_size=4),
        max_size=12,
    ),
    demo=st.sampled_from(sorted(PAGES)),
)
def test_any_link_gives_valid_settings_and_safe_warnings(query, demo):
    check_parse(query, demo)


@fuzzed(300)
@given(text=st.text(max_size=400), demo=st.sampled_from(sorted(PAGES)))
def test_any_query_string_parses_to_valid_settings_and_safe_warnings(text, demo):
    """The raw text after "?", split as Streamlit splits it."""
    check_parse(parse_qs(text, keep_blank_values=True), demo)
