"""The store of results: a run or a sweep computed once on a machine is read back by every later
call, session and process with the same config, data and code, and by none that differ."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import tl_core
from tl_core import api, diskcache, lecture, store
from tl_core.demos import linear
from tl_core.userdata.tables import bundled_table_data

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("result_store")
CNN_QUICK = {"epochs": 2, "n_target": 1, "strategies": ("fine_tune",), "device": "cpu"}


@pytest.fixture
def trainings(monkeypatch):
    """The configs each demo module was asked to train, one list per call."""
    calls = []

    def counting(original):
        def counted(configs, *args, **kwargs):
            calls.append(list(configs) if isinstance(configs, list) else [configs])
            return original(configs, *args, **kwargs)

        return counted

    for demo in ("linear", "cnn"):
        module = tl_core.get_demo(demo)
        monkeypatch.setattr(module, "run", counting(module.run))
        if module.OFFERS.run_many:
            offers = dataclasses.replace(module.OFFERS, run_many=counting(module.OFFERS.run_many))
            monkeypatch.setattr(module, "OFFERS", offers)
    return calls


def plain(result) -> dict:
    """A result as JSON gives it back (tuples become lists), for comparing."""
    return json.loads(result.to_json())


def numbers(result) -> dict:
    """A result without its timings: what two trainings of one config share."""
    out = plain(result)
    del out["wall_time"]
    for s in out["results"]:
        del s["wall_time"]
    return out


@pytest.mark.parametrize("demo, fields", [("linear", {"gap": 0.3}), ("cnn", CNN_QUICK)])
def test_a_stored_run_equals_the_trained_one_and_reading_it_trains_nothing(demo, fields, trainings):
    assert tl_core.api.stored_run(demo, **fields) is None
    trained = tl_core.run(demo, **fields)
    assert len(trainings) == 1
    again = tl_core.run(demo, **fields)
    stored = tl_core.api.stored_run(demo, **fields)
    assert len(trainings) == 1, "reading a stored result trained again"
    assert plain(again) == plain(stored) == plain(trained)
    assert again.strategies[0].history == trained.strategies[0].history  # the whole result


def test_use_store_false_computes_afresh_and_keeps_nothing(trainings):
    tl_core.run("linear", seed=3, use_store=False)
    tl_core.run("linear", seed=3, use_store=False)
    assert len(trainings) == 2
    assert tl_core.api.stored_run("linear", seed=3) is None


def test_the_store_can_be_turned_off(trainings, monkeypatch):
    monkeypatch.setenv(store.ENV, "off")
    tl_core.run("linear", seed=4)
    tl_core.run("linear", seed=4)
    assert len(trainings) == 2


@pytest.mark.parametrize(
    "change",
    ["a config field", "the seed", "the data", "the code", "a library's version", "the device's kind"],
)
def test_any_change_of_what_a_result_depends_on_misses_the_store(change, trainings, monkeypatch):
    fields = {"n_target": 6}
    data = bundled_table_data("diabetes", split_value=1.0)
    if change in ("the data",):
        tl_core.run("linear", data=data, **fields)
    else:
        tl_core.run("linear", **fields)
    assert len(trainings) == 1
    if change == "a config field":
        fields["gap"] = 0.5
    elif change == "the seed":
        fields["seed"] = 1
    elif change == "the data":
        data = bundled_table_data("diabetes", split_value=2.0)
    elif change == "the code":
        monkeypatch.setattr(store, "code_digest", lambda: "another version of tl_core")
    elif change == "a library's version":
        versions = {**store.library_versions(), "numpy": "0.0"}
        monkeypatch.setattr(store, "library_versions", lambda: versions)
    else:  # a torch demo's key names the device's kind (linear's numbers do not depend on it)
        original = store.key
        monkeypatch.setattr(store, "key", lambda *args: {**original(*args), "device": "another kind"})
    if change == "the data":
        tl_core.run("linear", data=data, **fields)
    else:
        tl_core.run("linear", **fields)
    assert len(trainings) == 2, f"{change} changed, and the stored result was read"


def entry_of(kind: str, demo: str, **fields) -> Path:
    config = tl_core.make_config(demo, **fields)
    return diskcache.path_for(kind, store.key(kind, config))


@pytest.mark.parametrize(
    "damage",
    ["cut short", "not a zip", "other arrays", "not compressed", "not JSON", "not a result"],
)
def test_a_damaged_entry_is_computed_again_never_shown(damage, trainings):
    trained = tl_core.run("linear", seed=5)
    path = entry_of(store.RUN, "linear", seed=5)
    raw = path.read_bytes()
    if damage == "cut short":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "not a zip":
        path.write_bytes(b"garbage" * 100)
    else:
        payload = {
            "other arrays": {"weights": np.zeros(3)},
            "not compressed": {"json": np.frombuffer(b"{}", dtype=np.uint8)},
            "not JSON": {"json": np.frombuffer(zlib.compress(b"{not json"), np.uint8)},
            "not a result": store._pack({"hello": "world"}),
        }[damage]
        with open(path, "wb") as file:
            np.savez(file, **payload)
    assert tl_core.api.stored_run("linear", seed=5) is None  # never handed out
    again = tl_core.run("linear", seed=5)
    assert len(trainings) == 2
    assert numbers(again) == numbers(trained)
    assert plain(tl_core.api.stored_run("linear", seed=5)) == plain(again)  # kept again, whole


def test_a_full_store_removes_the_results_used_longest_ago(monkeypatch):
    for seed in range(3):
        tl_core.run("linear", seed=seed)
    paths = [entry_of(store.RUN, "linear", seed=seed) for seed in range(3)]
    for age, path in enumerate(paths):  # seed 0 written longest ago
        os.utime(path, (1000 + age, 1000 + age))
    assert tl_core.api.stored_run("linear", seed=0) is not None  # read now: used most recently
    size = paths[0].stat().st_size
    monkeypatch.setattr(diskcache, "_max_bytes", lambda: int(3.5 * size))
    tl_core.run("linear", seed=3)
    kept = [tl_core.api.stored_run("linear", seed=seed) is not None for seed in range(4)]
    assert kept == [True, False, True, True]  # seed 1, used longest ago, went first


def test_a_sweep_trains_only_its_points_not_stored(trainings):
    fields = {"strategies": ("fine_tune",), "epochs": 2, "device": "cpu"}
    assert api.stored_sweep("cnn", "n_target", [1, 2], seeds=2, **fields) is None
    first = tl_core.sweep("cnn", "n_target", [1, 2], seeds=2, **fields)
    assert [len(c) for c in trainings] == [4]
    wider = tl_core.sweep("cnn", "n_target", [1, 2, 3], seeds=2, **fields)
    assert [len(c) for c in trainings] == [4, 2], "the stored points were trained again"
    assert [c.n_target for c in trainings[1]] == [3, 3]
    again = api.stored_sweep("cnn", "n_target", [1, 2], seeds=2, **fields)
    assert again.equals(first)
    assert wider[wider.n_target < 3].reset_index(drop=True).equals(first)


def test_a_sweep_reads_the_points_of_stored_runs(trainings):
    run = tl_core.run("linear", n_target=10)
    table = tl_core.sweep("linear", "n_target", [10], seeds=[0])
    assert len(trainings) == 1
    for s in run.strategies:
        row = table[table.strategy == s.strategy].iloc[0]
        assert (row.target_metric, row.source_metric) == (s.target_metric, s.source_metric)


def test_a_result_stored_by_one_process_is_read_by_another(result_store, trainings):
    """A replica, the command line or a notebook beside a server: the same machine's store."""
    subprocess.run(
        [sys.executable, "-m", "tl_core", "run", "linear", "--seed", "7", "--json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        env={**os.environ, diskcache.ENV: str(result_store)},
    )
    stored = tl_core.api.stored_run("linear", seed=7)
    assert stored is not None
    assert plain(tl_core.run("linear", seed=7)) == plain(stored)
    assert trainings == []


def test_prepare_computes_the_lecture_grid_once():
    lines = api.prepare(["linear"], seeds=1)
    grid = lecture.grid(linear, seeds=1)
    assert all(api.stored_run("linear", config=c) is not None for c in grid.runs)
    for s in grid.sweeps:
        assert api.stored_sweep("linear", s.over, s.values, s.seeds, **s.fields()) is not None
    assert any(f"{len(grid.runs)} computed" in line for line in lines)
    again = api.prepare(["linear"], seeds=1)
    assert any(f"{len(grid.runs)} runs of the lecture grid ready, 0 computed" in line for line in again)


def test_a_sweep_is_said_prepared_exactly_when_prepare_stores_it():
    """The pages promise that `prepare` draws a sweep at once where lecture.prepared says so."""
    api.prepare(["linear"])  # the default seeds, as the pages' sweeps have them
    grid, seeds = lecture.grid(linear), lecture.SWEEP_SEEDS
    gaps = tuple(lecture.sweep_values(linear, linear.Config(), "gap"))
    candidates = [
        *grid.sweeps,  # prepared
        lecture.Sweep("n_target", grid.sweeps[0].values, seeds, linear.Config(n_target=10)),  # prepared
        lecture.Sweep("gap", gaps, 1, linear.Config()),  # prepared: seed 0 only
        lecture.Sweep("gap", gaps[:2], seeds - 1, linear.Config(seed=1)),  # prepared: seeds 1, 2
        lecture.Sweep("gap", gaps, seeds, linear.Config(lam=1.0)),  # other settings: not
        lecture.Sweep("gap", gaps, seeds + 1, linear.Config()),  # a seed more: not
        lecture.Sweep("gap", (*gaps[:-1], 0.9), seeds, linear.Config()),  # a value off the grid: not
    ]
    said = [lecture.prepared(linear, s) for s in candidates]
    stored = [
        api.stored_sweep("linear", s.over, s.values, s.seeds, **s.fields()) is not None for s in candidates
    ]
    assert said == stored == [True] * (len(grid.sweeps) + 3) + [False] * 3


def test_the_lecture_grid_moves_each_main_control_across_every_stop_of_its_slider():
    grid = lecture.grid(linear)
    base = linear.Config()
    for name in lecture.MAIN_CONTROLS:
        stops = lecture.slider_stops(linear.Config.field(name))
        reached = {getattr(c, name) for c in grid.runs if c.replace(**{name: getattr(base, name)}) == base}
        assert reached == set(stops), name
    assert {(s.over, s.config.scenario) for s in grid.sweeps} == {
        ("n_target", "synthetic"),
        ("gap", "synthetic"),
        ("n_target", "diabetes"),
        ("gap", "diabetes"),
    }
