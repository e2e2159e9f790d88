"""The disk cache of generated data sets: what comes back is exactly what was generated, and a
folder or file that cannot be used only means generating again."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tl_core import diskcache, limits
from tl_core.demos import rnn_data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(diskcache.ENV, str(tmp_path))
    return tmp_path


def counted(made: list):
    def make():
        made.append(1)
        return {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "y": np.array([4, 5])}

    return make


def test_arrays_are_made_once_and_read_back_as_they_were(cache):
    made = []
    first = diskcache.arrays("demo", {"a": 1}, counted(made))
    second = diskcache.arrays("demo", {"a": 1}, counted(made))
    assert len(made) == 1 and [p.name for p in cache.glob("*.npz")] == [
        diskcache.path_for("demo", {"a": 1}).name
    ]
    for name in ("x", "y"):
        assert second[name].dtype == first[name].dtype and np.array_equal(second[name], first[name])
    diskcache.arrays("demo", {"a": 2}, counted(made))  # another key, another file
    assert len(made) == 2 and len(list(cache.glob("*.npz"))) == 2


@pytest.mark.parametrize("damage", ["not an npz file", "cut short"])
def test_a_damaged_file_is_made_again_and_replaced(cache, damage):
    made = []
    path = diskcache.path_for("demo", {"a": 1})
    if damage == "cut short":  # a whole file's first bytes, as a full disk leaves it
        diskcache.arrays("demo", {"a": 1}, lambda: {"y": np.arange(1000)})
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(b"not an npz file")
    assert np.array_equal(diskcache.arrays("demo", {"a": 1}, counted(made))["y"], [4, 5])
    assert len(made) == 1
    diskcache.arrays("demo", {"a": 1}, counted(made))
    assert len(made) == 1  # the good file written in its place is read


def test_a_folder_that_cannot_be_written_only_means_making_again(tmp_path, monkeypatch):
    blocked = tmp_path / "a file, not a folder"
    blocked.write_text("")
    monkeypatch.setenv(diskcache.ENV, str(blocked / "cache"))
    made = []
    for _ in range(2):
        assert np.array_equal(diskcache.arrays("demo", {"a": 1}, counted(made))["y"], [4, 5])
    assert len(made) == 2


def test_off_turns_the_disk_cache_off(monkeypatch):
    monkeypatch.setenv(diskcache.ENV, "off")
    assert diskcache.cache_dir() is None and diskcache.path_for("demo", {}) is None
    made = []
    diskcache.arrays("demo", {}, counted(made))
    diskcache.arrays("demo", {}, counted(made))
    assert len(made) == 2


def test_without_a_setting_it_lives_in_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(diskcache.ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert diskcache.cache_dir() == tmp_path / "transfer-lab"


def test_mnist1d_read_from_disk_is_the_generated_set(cache, monkeypatch):
    """A new process (here: an emptied memory cache) reads the very sequences generation made."""
    monkeypatch.setenv(diskcache.ENV, "off")
    rnn_data.mnist1d.cache_clear()
    generated = rnn_data.mnist1d(0.4, 300)
    monkeypatch.setenv(diskcache.ENV, str(cache))
    rnn_data.mnist1d.cache_clear()
    rnn_data.mnist1d(0.4, 300)  # generates and writes
    assert len(list(cache.glob("mnist1d-*.npz"))) == 1
    rnn_data.mnist1d.cache_clear()
    read = rnn_data.mnist1d(0.4, 300)
    rnn_data.mnist1d.cache_clear()
    for a, b in zip(generated, read):
        assert np.array_equal(a.x, b.x) and a.x.dtype == b.x.dtype and np.array_equal(a.y, b.y)
        assert not b.x.flags.writeable


# ------------------------------------------------------------- one maker at a time, across processes
ROOT = Path(__file__).resolve().parents[1]
# Another process making the arrays of {"a": 1}: it says it started, then makes them only once
# it is told to (a file), so the test can find it in the middle.
MAKER = """
import sys, time
from pathlib import Path
import numpy as np
from tl_core import diskcache
signals = Path(sys.argv[1])
def make():
    (signals / "started").touch()
    while not (signals / "finish").exists():
        time.sleep(0.01)
    return {"y": np.array([7, 8])}
diskcache.arrays("demo", {"a": 1}, make)
"""


@pytest.fixture
def other_maker(cache, tmp_path):
    """A process in the middle of making the arrays of {"a": 1}; touch `finish` to let it end."""
    signals = tmp_path / "signals"  # beside the cache's entries, which are *.npz files
    signals.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", MAKER, str(signals)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not (signals / "started").exists():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "the other process never started making"
        time.sleep(0.01)
    process.finish = signals / "finish"
    yield process
    process.kill()
    process.wait()


def test_a_process_waits_for_another_making_the_same_arrays_and_reads_theirs(other_maker):
    """Two replicas of a server (or the command line beside one) make a source model once."""
    made, waits = [], []

    def waiting():  # the other process finishes only after this one has said it waits
        waits.append(1)
        other_maker.finish.touch()

    got = diskcache.arrays("demo", {"a": 1}, counted(made), waiting=waiting)
    assert np.array_equal(got["y"], [7, 8]) and made == [] and waits
    assert other_maker.wait(timeout=30) == 0


def test_when_the_other_maker_dies_the_waiting_process_makes_the_arrays(other_maker):
    made = []
    got = diskcache.arrays("demo", {"a": 1}, counted(made), waiting=other_maker.kill)
    assert other_maker.wait(timeout=30) != 0  # it was waited for, and killed, not finished
    assert np.array_equal(got["y"], [4, 5]) and made == [1]


def test_a_waiter_may_stop_waiting_and_the_other_maker_goes_on(other_maker):
    """A stale run (its visitor moved a slider) stops where it waits, as it would in training."""

    class Stale(Exception):
        pass

    def waiting():
        raise Stale

    made = []
    with pytest.raises(Stale):
        diskcache.arrays("demo", {"a": 1}, counted(made), waiting=waiting)
    other_maker.finish.touch()
    assert other_maker.wait(timeout=30) == 0
    assert np.array_equal(diskcache.arrays("demo", {"a": 1}, counted(made))["y"], [7, 8])
    assert made == []


def test_the_folder_stays_under_its_cap_losing_what_was_used_longest_ago(cache, monkeypatch):
    """A visitor who asks for model shape after model shape cannot fill a server's disk."""
    monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, max_disk_cache_mb=1))

    def big():  # 400 KB: three do not fit in 1 MB
        return {"x": np.zeros(100_000, dtype=np.float32)}

    for a in (1, 2):
        diskcache.arrays("demo", {"a": a}, big)
    now = time.time()
    for a, age in ((1, 200), (2, 100)):  # 1 was made first...
        os.utime(diskcache.path_for("demo", {"a": a}), (now - age, now - age))
    made = []
    diskcache.arrays("demo", {"a": 1}, counted(made))  # ...but is read now: used last
    diskcache.arrays("demo", {"a": 3}, big)
    kept = {p.name for p in cache.glob("*.npz")}
    assert kept == {diskcache.path_for("demo", {"a": a}).name for a in (1, 3)} and made == []


def test_a_process_looks_at_every_file_only_when_the_folder_may_be_full(cache, monkeypatch):
    """A prepared cache holds thousands of files (80 ms to look at them all): a server writing a
    page's result and charts must not pay that at every write, yet still keep the cap."""
    monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, max_disk_cache_mb=1))
    monkeypatch.setattr(diskcache, "_since", {})
    looks = []
    prune = diskcache._prune
    monkeypatch.setattr(diskcache, "_prune", lambda *args: looks.append(1) or prune(*args))
    for a in range(20):  # small entries, far from the cap: one look, at the first write
        diskcache.write("demo", {"a": a}, {"x": np.zeros(10)})
    assert len(looks) == 1
    for a in range(20, 20 + diskcache.SCAN_EVERY):  # ...and one after SCAN_EVERY more writes
        diskcache.write("demo", {"a": a}, {"x": np.zeros(10)})
    assert len(looks) == 2
    for a in range(3):  # 400 KB each: the room it saw is filled at the third, which looks
        diskcache.write("big", {"a": a}, {"x": np.zeros(100_000, dtype=np.float32)})
    assert len(looks) == 3
    assert sum(p.stat().st_size for p in cache.iterdir()) <= 2**20


# ------------------------------------------------------------ entries that are not what they should be
def only_y(arrays: dict) -> None:
    """The check of `counted`'s arrays: raises for anything else."""
    if set(arrays) != {"x", "y"} or arrays["x"].shape != (2, 3):
        raise ValueError("not the arrays of counted()")


@pytest.mark.parametrize("other", [{"w": np.zeros(3)}, {"x": np.zeros(5), "y": np.zeros(2)}])
def test_an_entry_holding_other_arrays_is_made_again_and_replaced(cache, other):
    """A valid npz that is not what the key makes (another entry's, a file edited by hand)."""
    made = []
    path = diskcache.path_for("demo", {"a": 1})
    np.savez(path, **other)
    assert np.array_equal(diskcache.arrays("demo", {"a": 1}, counted(made), check=only_y)["y"], [4, 5])
    assert made == [1]
    diskcache.arrays("demo", {"a": 1}, counted(made), check=only_y)
    assert made == [1]  # the good file written in its place is read


def test_a_generated_mnist1d_entry_holding_other_arrays_is_generated_again(cache):
    rnn_data.mnist1d.cache_clear()
    train, test = rnn_data.mnist1d(0.4, 300)
    [path] = cache.glob("mnist1d-*.npz")
    np.savez(path, x=np.zeros((3, 40)), y=np.zeros(3), x_test=np.zeros((1, 40)), y_test=np.zeros(1))
    rnn_data.mnist1d.cache_clear()
    again, again_test = rnn_data.mnist1d(0.4, 300)
    rnn_data.mnist1d.cache_clear()
    assert np.array_equal(again.x, train.x) and np.array_equal(again_test.y, test.y)
    with np.load(path) as stored:
        assert stored["x"].shape == (240, 40)  # written whole again


# ------------------------------------------------------------------- everything the folder holds
def aged(path: Path, seconds: float, size: int = 0) -> Path:
    path.write_bytes(b"\0" * size)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_the_cap_counts_every_file_in_the_folder_whatever_its_suffix(cache, monkeypatch):
    """Old .bin files and a stale temporary file made a 50 MB cache stay at 204 MB."""
    monkeypatch.setattr(limits, "LIMITS", dataclasses.replace(limits.LIMITS, max_disk_cache_mb=1))
    old = [aged(cache / f"old-{i}.bin", 1000 + i, 400_000) for i in range(3)]
    stale = aged(cache / "source-model-0123-abc.tmp", diskcache.STALE_TEMPORARY + 60, 300_000)
    writing = aged(cache / "mnist1d-4567-def.tmp", 1, 1000)  # another process is writing it now
    diskcache.arrays("demo", {"a": 1}, counted([]))
    left = {p.name for p in cache.iterdir() if p.is_file()}
    assert not stale.exists() and writing.exists() and diskcache.path_for("demo", {"a": 1}).exists()
    assert sum(p.stat().st_size for p in cache.iterdir() if p.is_file()) <= 2**20
    assert old[0].name in left and old[2].name not in left  # the oldest go first


def test_a_failed_write_leaves_no_temporary_file_whatever_the_error(cache, monkeypatch):
    def broken_savez(file, **arrays):
        file.write(b"half an npz")
        raise RuntimeError("out of something")

    monkeypatch.setattr(diskcache.np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="out of something"):
        diskcache.arrays("demo", {"a": 1}, counted([]))
    assert list(cache.iterdir()) == []


def test_lock_files_go_with_their_maker_and_a_dead_makers_is_removed_when_free(cache, monkeypatch):
    diskcache.arrays("demo", {"a": 1}, counted([]))
    assert list(cache.glob("*.lock")) == []  # the maker removed its own
    left = aged(cache / "demo-0123.lock", 100)  # a maker that died holds nothing
    held = aged(cache / "demo-4567.lock", 100)
    handle = os.open(held, os.O_RDWR)
    diskcache.fcntl.flock(handle, diskcache.fcntl.LOCK_EX)  # someone is making that entry now
    monkeypatch.setattr(diskcache, "_since", {})  # a process that has not looked at the folder yet
    try:
        diskcache.arrays("demo", {"a": 2}, counted([]))
        assert not left.exists() and held.exists()
    finally:
        os.close(handle)


def test_a_waiter_whose_lock_file_was_removed_locks_the_new_one(cache):
    """Whoever releases a lock removes its file: a waiter that had opened the old one must not
    think it holds the lock while a newcomer holds the new file's."""
    path = diskcache.path_for("demo", {"a": 1})
    first = diskcache._lock(path, None)
    waiter_got = []
    waiter = threading.Thread(target=lambda: waiter_got.append(diskcache._lock(path, None)), daemon=True)
    waiter.start()
    time.sleep(0.2)  # the waiter has opened the first lock file and waits on it
    diskcache._unlock(path, first)
    waiter.join(10)
    newcomer = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT)
    with pytest.raises(BlockingIOError):  # the waiter holds the file that is there now
        diskcache.fcntl.flock(newcomer, diskcache.fcntl.LOCK_EX | diskcache.fcntl.LOCK_NB)
    os.close(newcomer)
    diskcache._unlock(path, waiter_got[0])
