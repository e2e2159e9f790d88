"""Your own sequences as the RNN's target task: the CSV reader and the demo on its data.

Files are built in memory: sine, square and sawtooth waves with random phase, frequency and
noise, three classes a recurrent model tells apart by shape. Torch runs on one thread (as in
test_rnn.py); the source model is the default one, cached and shared with test_rnn.py.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import assert_close, one_example

import tl_core
from tl_core.demos import rnn, rnn_data
from tl_core.limits import LIMITS
from tl_core.userdata import SequenceData, UserDataError, sequences
from tl_core.userdata.sequences import read_sequence_csv

CLASSES = ("sine", "square", "sawtooth")
EPOCHS = 10  # target epochs in these tests: enough to learn the waves, fast


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def waves(per_class: int = 20, steps: int = 30, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Noisy waves around 5 with amplitude 3 (far from MNIST-1D's range): (x [N, T], labels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    rows, labels = [], []
    for k in range(per_class * len(CLASSES)):
        kind = CLASSES[k % len(CLASSES)]
        phase = rng.uniform(0, 2 * np.pi) + rng.uniform(0.3, 0.5) * t
        shape = {
            "sine": np.sin(phase),
            "square": np.sign(np.sin(phase)),
            "sawtooth": (phase / (2 * np.pi)) % 1 * 2 - 1,
        }[kind]
        rows.append(5 + 3 * (shape + rng.normal(0, 0.2, steps)))
        labels.append(kind)
    return np.array(rows), labels


def wide_csv(x, labels, lengths=None, label_column="label") -> bytes:
    """One row per sequence: the label, then t0..t{T-1}; a shorter sequence leaves its end empty."""
    lines = [label_column + "," + ",".join(f"t{i}" for i in range(x.shape[1]))]
    for k, (row, lab) in enumerate(zip(x, labels)):
        n = len(row) if lengths is None else lengths[k]
        lines.append(lab + "," + ",".join([f"{v:.4f}" for v in row[:n]] + [""] * (len(row) - n)))
    return "\n".join(lines).encode()


def long_csv(x, labels, lengths=None) -> bytes:
    """One row per value (sequence, time, value, label), the rows of each sequence shuffled."""
    rng = np.random.default_rng(1)
    lines = ["sequence,time,value,label"]
    for k, (row, lab) in enumerate(zip(x, labels)):
        n = len(row) if lengths is None else lengths[k]
        for step in rng.permutation(n):
            lines.append(f"s{k},{step},{row[step]:.4f},{lab}")
    return "\n".join(lines).encode()


@pytest.fixture(scope="module")
def wave_data() -> SequenceData:
    x, labels = waves()
    return read_sequence_csv(wide_csv(x, labels), "waves.csv")


def config(**fields) -> rnn.Config:
    return rnn.Config(epochs=EPOCHS, **fields)


# ------------------------------------------------------------------------------ reading formats
def test_wide_format_reads_every_sequence_with_its_class():
    x, labels = waves(per_class=4, steps=12)
    data = read_sequence_csv(wide_csv(x, labels), "waves.csv")
    assert data.class_names == ("sawtooth", "sine", "square")  # sorted
    assert data.sequences.shape == (12, 12) and data.sequences.dtype == np.float32
    np.testing.assert_allclose(data.sequences, x, atol=1e-4)
    assert [data.class_names[i] for i in data.labels] == labels
    assert (data.lengths == 12).all()
    assert data.summary()["n_sequences"] == 12 and data.summary()["n_classes"] == 3
    assert any("label column 'label'" in note for note in data.notes)


def test_long_format_gives_the_same_sequences_as_wide_in_time_order():
    x, labels = waves(per_class=4, steps=12)
    wide = read_sequence_csv(wide_csv(x, labels), "waves.csv")
    long = read_sequence_csv(long_csv(x, labels), "waves_long.csv")
    np.testing.assert_array_equal(long.sequences, wide.sequences)
    np.testing.assert_array_equal(long.labels, wide.labels)
    assert any(note.startswith("long layout") for note in long.notes)


def test_unequal_lengths_are_padded_by_repeating_the_last_value():
    x, labels = waves(per_class=4, steps=12)
    lengths = [12] * 12
    lengths[1], lengths[5] = 7, 9
    for raw in (wide_csv(x, labels, lengths), long_csv(x, labels, lengths)):
        data = read_sequence_csv(raw, "uneven.csv")
        assert data.lengths.tolist() == lengths
        assert data.sequences.shape == (12, 12)
        np.testing.assert_allclose(data.sequences[1, :7], x[1, :7], atol=1e-4)
        assert (data.sequences[1, 7:] == data.sequences[1, 6]).all()
        assert "padded 2 of 12 sequences to 12 steps by repeating their last value" in data.notes


def test_missing_values_are_dropped_or_filled_with_the_mean_of_their_step():
    x, labels = waves(per_class=4, steps=12)
    raw = wide_csv(x, labels).decode().splitlines()
    for row in (2, 7):  # a hole before the end of two sequences (rows 1 and 6 of the data)
        cells = raw[row].split(",")
        cells[4] = ""  # t3
        raw[row] = ",".join(cells)
    raw = "\n".join(raw).encode()
    dropped = read_sequence_csv(raw, "holes.csv")
    assert len(dropped.labels) == 10
    assert any("dropped 2 sequences with a missing value" in n for n in dropped.notes)
    filled = read_sequence_csv(raw, "holes.csv", missing="mean")
    assert len(filled.labels) == 12
    assert "filled 2 missing values in 2 sequences with the mean of their time step" in filled.notes
    others = np.delete(x[:, 3], [1, 6]).round(4)
    assert filled.sequences[1, 3] == pytest.approx(others.mean(), abs=1e-4)


@pytest.mark.parametrize("missing", ["drop", "mean"])
def test_infinite_values_are_missing_values_and_the_notes_say_how_many_where(missing):
    x, labels = waves(per_class=4, steps=12)
    raw = wide_csv(x, labels).decode().splitlines()
    for row, step, text in ((2, 3, "inf"), (7, 3, "-inf"), (9, 5, "1e309")):  # inside three rows
        cells = raw[row].split(",")
        cells[1 + step] = text
        raw[row] = ",".join(cells)
    data = read_sequence_csv("\n".join(raw).encode(), "nan_inf.csv", missing=missing)
    assert "read 3 infinite values as missing (t3: 2, t5: 1)" in data.notes
    assert np.isfinite(data.sequences).all()
    assert len(data.labels) == (9 if missing == "drop" else 12)
    long = long_csv(x, labels).decode().replace(f",{x[0, 4]:.4f},", ",-Infinity,", 1).encode()
    data = read_sequence_csv(long, "nan_inf_long.csv")
    assert "read 1 infinite value as missing (value: 1)" in data.notes
    assert "dropped 1 row with a missing id, time or value" in data.notes


def test_values_up_to_the_cap_train_to_finite_numbers():
    x, labels = waves(per_class=6, steps=12)
    x *= sequences.MAX_MAGNITUDE / sequences.MAX_SPREAD_RATIO  # values far apart, yet not too far
    x[2, 5], x[9, 3] = sequences.MAX_MAGNITUDE, -sequences.MAX_MAGNITUDE
    data = read_sequence_csv(wide_csv(x, labels), "big.csv")
    result = tl_core.run("rnn", config=config(n_target=3), data=data)
    for s in result.strategies:
        assert np.isfinite([s.source_metric, s.target_metric, s.source_loss, s.target_loss]).all()


def test_long_format_rows_without_a_value_are_dropped_and_counted():
    x, labels = waves(per_class=3, steps=8)
    raw = long_csv(x, labels) + b"\ns0,8,,sine\ns1,,2.0,square"
    data = read_sequence_csv(raw, "gaps.csv")
    assert "dropped 2 rows with a missing id, time or value" in data.notes
    assert data.sequences.shape == (9, 8)


def test_label_column_is_guessed_by_name_or_as_the_one_text_column_or_given():
    x, labels = waves(per_class=3, steps=6)
    for column in ("class", "Target", "kind"):
        data = read_sequence_csv(wide_csv(x, labels, label_column=column), "w.csv")
        assert data.class_names == ("sawtooth", "sine", "square")
    numeric_labels = [str(CLASSES.index(lab) * 5) for lab in labels]  # 0, 5, 10
    data = read_sequence_csv(wide_csv(x, numeric_labels, label_column="group"), "w.csv", label="group")
    assert data.class_names == ("0", "5", "10")  # numbers sorted as numbers
    assert data.sequences.shape == (9, 6)  # the label is not a time step


def test_an_id_column_and_a_byte_order_mark_and_semicolons_are_read():
    text = "\ufeffid;t0;t1;t2;label\n" + "\n".join(
        f"s{k};{k};{k + 1};{k + 2};{'ab'[k % 2]}" for k in range(6)
    )
    data = read_sequence_csv(text.encode(), "excel.csv")
    assert data.sequences.shape == (6, 3)
    assert data.sequences[2].tolist() == [2, 3, 4]


def test_same_bytes_and_options_read_the_same_data_again():
    x, labels = waves(per_class=3, steps=8)
    raw = wide_csv(x, labels)
    first = read_sequence_csv(raw, "w.csv", missing="mean")
    again = read_sequence_csv(raw, "w.csv", **first.options)
    np.testing.assert_array_equal(first.sequences, again.sequences)
    assert first.fingerprint == again.fingerprint
    assert json.loads(json.dumps(first.summary())) == first.summary()
    assert read_sequence_csv(raw, "w.csv").fingerprint != first.fingerprint  # other options


# ------------------------------------------------------------------------------ malformed files
def _good_wide() -> bytes:
    return b"t0,t1,label\n1,2,a\n2,3,b\n1,3,a\n2,4,b\n"


MALFORMED = {
    "empty": (b"", ["empty"]),
    "blank lines": (b"\n \n\n", ["empty"]),
    "header only": (b"t0,t1,label\n", ["no rows"]),
    "binary": (bytes(range(256)), ["not a CSV", "binary"]),
    "excel workbook": (b"PK\x03\x04" + bytes(60), ["not a CSV", "Excel"]),
    "latin-1": ("t0,t1,étiquette\n1,2,a\n".encode("latin-1"), ["not UTF-8", "CSV UTF-8"]),
    "utf-16": ("t0,t1,label\n1,2,a\n".encode("utf-16"), ["UTF-16", "CSV UTF-8"]),
    "ragged rows": (b"t0,t1,label\n1,2,a\n1,2,3,4,b\n", ["could not be read as a CSV"]),
    "no numeric columns": (b"name,label\nx,a\ny,b\n", ["no numeric columns", "name"]),
    "no label": (b"t0,t1,t2\n1,2,3\n2,3,4\n", ["cannot tell which column is the label", "t0"]),
    "two text columns": (b"t0,kind,site\n1,a,x\n2,b,y\n", ["cannot tell", "kind, site"]),
    "two label names": (b"t0,label,class\n1,a,x\n2,b,y\n", ["cannot tell", "label, class"]),
    "text in a step": (b"t0,t1,label\n1,2,a\n2,oops,b\n1,2,a\n2,3,b\n", ["'t1'", "oops", "row 3"]),
    "single class": (b"t0,t1,label\n1,2,a\n2,3,a\n1,3,a\n", ["single class", "'a'", "2 classes"]),
    "one sequence in a class": (b"t0,t1,label\n1,2,a\n2,3,b\n1,3,a\n", ["at least 2 sequences", "'b' (1)"]),
    "two labels in a long sequence": (
        b"id,time,value,label\ns1,0,1,a\ns1,1,2,b\ns2,0,1,a\ns2,1,2,a\n",
        ["sequence 's1'", "2 labels", "one label"],
    ),
    "two values at one time": (
        b"id,time,value,label\ns1,0,1,a\ns1,0,2,a\n",
        ["sequence 's1'", "two values at time 0"],
    ),
    "repeated column": (b"t0,t0 ,label\n1,2,a\n", ["two columns named 't0'"]),
    "a value too large": (
        b"t0,t1,label\n1,2,a\n2,-2e31,b\n1,2,a\n2,3e40,b\n",
        ["'t1'", "too large to compute with (-2e+31, in rows 3 and 5 of the file)", "at most 1e+30"],
    ),
    "a value too far from the others": (
        b"t0,t1,label\n1e-300,2e-300,a\n2e-300,1e-275,b\n1e-300,2e-300,a\n2e-300,3e-300,b\n",
        ["'t1'", "too far from the others", "1e-275, in row 3 of the file", "more than 1e+20 times less"],
    ),
    "a time too large": (
        b"id,time,value,label\ns1,0,1,a\ns1,1e31,2,a\n",
        ["'time'", "too large", "row 3 of the file"],
    ),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_malformed_file_says_what_is_wrong(case):
    raw, words = MALFORMED[case]
    with pytest.raises(UserDataError) as error:
        read_sequence_csv(raw, "bad.csv")
    for word in words:
        assert word in str(error.value)


def test_a_long_layout_without_a_time_column_says_which_to_choose():
    with pytest.raises(UserDataError, match="cannot find the time column.*time_column"):
        read_sequence_csv(b"id,value,label\ns1,1,a\n", "long.csv", layout="long")


def test_a_chosen_label_that_is_not_a_column_lists_the_columns():
    with pytest.raises(UserDataError, match="no column 'kind'.*t0, t1, label"):
        read_sequence_csv(_good_wide(), "w.csv", label="kind")


def test_bad_options_are_named():
    with pytest.raises(UserDataError, match="layout must be one of auto, wide, long"):
        read_sequence_csv(_good_wide(), "w.csv", layout="tall")
    with pytest.raises(UserDataError, match="missing must be drop"):
        read_sequence_csv(_good_wide(), "w.csv", missing="zero")


@pytest.mark.parametrize(
    "cap, value, raw, words",
    [
        ("max_upload_mb", 1, b"t0,label\n" + b"1,a\n2,b\n" * 300_000, ["MB", "at most 1 MB"]),
        ("max_upload_rows", 3, _good_wide(), ["more than 3 rows"]),
        (
            "max_upload_columns",
            2,
            b"t0,t1,t2,label\n1,2,3,a\n2,3,4,b\n1,2,3,a\n2,3,4,b\n",
            ["3 time steps", "at most 2"],
        ),
        (
            "max_upload_columns",
            2,
            b"id,time,value,label\ns,0,1,a\ns,1,1,a\ns,2,1,a\n",
            ["sequence 's' has 3 time steps", "at most 2"],
        ),
    ],
)
def test_files_over_the_hosts_caps_are_refused(monkeypatch, cap, value, raw, words):
    monkeypatch.setattr(sequences, "LIMITS", dataclasses.replace(LIMITS, **{cap: value}))
    with pytest.raises(UserDataError) as error:
        read_sequence_csv(raw, "big.csv")
    for word in words:
        assert word in str(error.value)


def test_too_many_classes_are_refused():
    rows = "\n".join(f"{k},{k + 1},c{k // 2}" for k in range(2 * (sequences.MAX_CLASSES + 1)))
    with pytest.raises(UserDataError, match=f"{sequences.MAX_CLASSES + 1} classes"):
        read_sequence_csv(f"t0,t1,label\n{rows}".encode(), "ids.csv")


def test_any_bytes_give_data_or_a_user_data_error():
    """Random bytes, truncated files, flipped bytes, CSV-like noise: nothing else escapes."""
    rng = np.random.default_rng(0)
    x, labels = waves(per_class=2, steps=5)
    files = [wide_csv(x, labels), long_csv(x, labels)]
    alphabet = list(b"0123456789,;.\n\t-+eE aAxX\"'\rlabeidtmv")
    for i in range(1500):
        source = bytearray(files[i % 2])
        kind = i % 4
        if kind == 0:
            raw = rng.bytes(int(rng.integers(0, 300)))
        elif kind == 1:
            raw = bytes(source[: int(rng.integers(0, len(source)))])
        elif kind == 2:
            for _ in range(int(rng.integers(1, 6))):
                source[int(rng.integers(0, len(source)))] = int(rng.integers(0, 256))
            raw = bytes(source)
        else:
            raw = bytes(rng.choice(alphabet, int(rng.integers(0, 200))))
        options = ({}, {"missing": "mean"}, {"layout": "long"}, {"layout": "wide"})[i % 4]
        try:
            data = read_sequence_csv(raw, "fuzz.csv", **options)
        except UserDataError:
            continue
        assert np.isfinite(data.sequences).all() and len(set(data.labels.tolist())) >= 2


# ------------------------------------------------------------------------- the RNN on your data
def test_every_transfer_strategy_runs_on_your_sequences(wave_data):
    result = tl_core.run("rnn", config=config(), data=wave_data)
    names = result.names()
    assert "source_only" not in names  # the source head names digits, not your classes
    assert set(names) == set(rnn.STRATEGIES) - {"source_only"}
    for s in result.strategies:
        assert 0.0 <= s.target_metric <= 1.0 and 0.0 <= s.source_metric <= 1.0
    assert result.extras["n_target_train"] == 5 * 3  # n_target per class
    assert result.extras["n_target_test"] == 60 - 15  # every other sequence tests
    assert result.extras["target_classes"] == list(wave_data.class_names)
    assert result.extras["user_data"] == wave_data.summary()
    assert result.config == config().to_dict()
    assert json.loads(json.dumps(result.extras)) == result.extras


def test_a_sweep_on_sequences_of_another_length_gives_the_single_runs_numbers(wave_data):
    """30-step waves beside 40-step MNIST-1D: joint training cannot stack the two batches, and a
    sweep's points are still the single runs of their configs (to rounding: conftest.py)."""
    assert wave_data.sequences.shape[1] != 40
    fields = {"epochs": EPOCHS, "strategies": ("fine_tune", "joint"), "device": "cpu"}
    table = tl_core.sweep("rnn", over="n_target", values=[1, 3], seeds=1, data=wave_data, **fields)
    for n in (1, 3):
        alone = tl_core.run("rnn", data=wave_data, n_target=n, **fields)
        examples = {f"{d}_metric": alone.extras[f"n_{d}_test"] for d in ("source", "target")}
        for s in alone.strategies:
            row = table[(table.n_target == n) & (table.strategy == s.strategy)].iloc[0]
            for key, n_test in examples.items():
                assert row[key] == pytest.approx(getattr(s, key), abs=one_example(n_test)), key


def test_same_data_config_and_seed_give_the_same_numbers(wave_data):
    first, again = (rnn.run(config(seed=3), data=wave_data) for _ in range(2))
    assert [s.target_metric for s in first.strategies] == [s.target_metric for s in again.strategies]
    other = rnn.user_target(config(seed=4), wave_data)
    assert not np.array_equal(other.labelled, rnn.user_target(config(seed=3), wave_data).labelled)


def test_the_mnist1d_model_helps_on_waves_with_few_labels(wave_data):
    """Fine-tuning the digit model beats a model trained from scratch on 2 waves per class (from
    5 on, scratch, read by its mean state, learns these clean waves nearly as well)."""
    runs = [rnn.run(config(seed=s, n_target=2, strategies=("fine_tune",)), data=wave_data) for s in range(3)]
    gain = np.mean(
        [r.strategy("fine_tune").target_metric - r.strategy("scratch").target_metric for r in runs]
    )
    assert gain > 0.15


def test_long_uneven_sequences_run_and_run_many_matches_run():
    x, labels = waves(per_class=6, steps=24, seed=1)
    lengths = [24 - (k % 5) for k in range(len(labels))]
    data = read_sequence_csv(long_csv(x, labels, lengths), "waves_long.csv")
    configs = [config(seed=s, n_target=2, strategies=("feature_extraction",)) for s in (0, 1)]
    many = rnn.run_many(configs, data=data)
    alone = rnn.run(configs[1], data=data)
    assert_close(alone, many[1], (alone.extras["n_source_test"], alone.extras["n_target_test"]))
    assert many[0].extras["n_target_test"] == 18 - 6


def test_values_are_scaled_to_the_source_range_by_the_labelled_sequences_only(wave_data):
    split = rnn.user_target(config(), wave_data)
    source_mean, source_std = rnn._source_range("new_classes")
    assert split.train.x.mean() == pytest.approx(source_mean, abs=1e-4)
    assert split.train.x.std() == pytest.approx(source_std, rel=1e-4)
    assert split.scaling["target_mean"] == pytest.approx(5.0, abs=0.5)  # the waves sit around 5
    changed = wave_data.sequences.copy()
    changed[split.test] += 100.0  # the held-out sequences play no part in the scaling
    scaled, scaling = rnn_data.scale_to_source(
        changed, wave_data.lengths, split.labelled, source_mean, source_std
    )
    assert scaling == split.scaling


def test_n_target_larger_than_a_class_allows_names_the_numbers(wave_data):
    assert rnn.max_n_target(wave_data) == 19
    with pytest.raises(
        UserDataError,
        match=r"n_target = 20 per class needs at least 21 "
        r"sequences of class '\w+' in waves.csv .* it has 20",
    ):
        rnn.run(config(n_target=20), data=wave_data)


def test_figures_show_your_sequences_beside_the_digits(wave_data):
    fig = rnn.samples_figure(config(), data=wave_data)
    names = [t.name for t in fig.data]
    assert names[:5] == [f"digit {d}" for d in range(5)]
    assert names[5:] == [f"class {c}" for c in wave_data.class_names]
    assert "Target: your sequences, 3 classes, 5 labelled each" in [a.text for a in fig.layout.annotations]
    result = rnn.run(config(strategies=("fine_tune",)), data=wave_data)
    paths = result.extras["hidden_paths"]["target"]
    assert [p["name"] for p in paths] == list(wave_data.class_names)
    assert all(len(p["path"]) == 30 for p in paths)  # one point per step of your sequences
    model = rnn.model_figure(result, data=wave_data)
    assert "target class sine" in [t.name for t in model.data]
    confusion = rnn.confusion_figure(result, data=wave_data)
    assert list(confusion.data[0].x) == list(wave_data.class_names)
    assert "your classes" in rnn.describe_model(result)


def test_target_weights_of_your_data_load_into_a_model_for_your_classes(wave_data):
    from safetensors.torch import load

    weights = load(rnn.target_weights(config(), "fine_tune", data=wave_data))
    assert weights["head.weight"].shape[0] == 3
    with pytest.raises(ValueError, match="on your data"):
        rnn.target_weights(config(), "source_only", data=wave_data)
