"""Worker processes (tl_core.engine.processes): training side by side without Python's interpreter lock.

The workers import this module to find the tasks below, so it defines nothing at import time
that starts work.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from functools import partial
from pathlib import Path

import pytest
import torch
from test_runtime import FREED, heap_kept_after_freeing
from test_torch_engine import CENTRES, TinyNet, blobs, jobs_of_a_sweep

from tl_core import engine
from tl_core.demos import rnn
from tl_core.engine import processes


def pid_and_threads(value, report):
    report(0.5, f"half of {value}")
    return value, os.getpid(), torch.get_num_threads()


def fail(report):
    report(0.1, "about to fail")
    raise ValueError("n_target must be at most 5")


def forever(report):
    while True:
        report(0.5, "still going")


def die(report):
    os._exit(3)


@pytest.fixture(scope="module")
def workers():
    processes.start(2).join()
    yield
    processes.stop()


@pytest.fixture
def sent(monkeypatch):
    """How many tasks each processes.run call of the engine sent to the workers."""
    counts, real = [], processes.run
    monkeypatch.setattr(processes, "run", lambda tasks, *a: counts.append(len(tasks)) or real(tasks, *a))
    return counts


@pytest.fixture(scope="module")
def source():
    return blobs(CENTRES, 100, seed=0)


@pytest.fixture(scope="module")
def target():
    return blobs(CENTRES + [0, 0, 0, 1.5], 4, seed=1)


@pytest.fixture(scope="module")
def source_model(source):
    return engine.train_source(TinyNet, source, engine.SourceSettings(epochs=5, lr=1e-2), seed=0)


def test_tasks_run_in_other_processes_on_one_thread_and_come_back_in_order(workers):
    reports = []
    results = processes.run(
        [partial(pid_and_threads, v) for v in range(5)],
        2,
        lambda i, *args: reports.append((threading.get_ident(), i, args)),
    )
    assert [value for value, _, _ in results] == list(range(5))
    pids = {pid for _, pid, _ in results}
    assert os.getpid() not in pids and len(pids) == 2  # two workers, each reused
    assert {threads for _, _, threads in results} == {1}
    # Every report reached the caller, in the caller's own thread (Streamlit draws only there).
    assert sorted(i for _, i, _ in reports) == list(range(5))
    assert {ident for ident, _, _ in reports} == {threading.get_ident()}
    assert (0.5, "half of 3") in [args for _, i, args in reports if i == 3]


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
def test_workers_keep_the_memory_a_training_step_frees_for_the_next(workers):
    """tl_core.runtime.keep_freed_memory in every worker: a large freed tensor's memory stays."""
    assert all(kept >= FREED for kept in processes.run([heap_kept_after_freeing] * 2, 2, lambda *a: None))


def test_a_failing_task_raises_its_own_error_and_stops_the_others(workers):
    """The error keeps its type and message (a page shows them), the worker's traceback rides
    along as a note, and a task that would never end is stopped: the call returns."""
    with pytest.raises(ValueError, match="n_target must be at most 5") as caught:
        processes.run([forever, fail], 2, lambda *args: None)
    note = caught.value.__notes__[0]
    assert "in a training worker process" in note and 'raise ValueError("n_target' in note
    # Both workers are kept and serve the next call.
    assert len(processes.run([partial(pid_and_threads, 1)] * 2, 2, lambda *a: None)) == 2


class Rerun(Exception):
    """What Streamlit raises in a page's thread when the student moves a control."""


def test_an_error_raised_by_the_caller_while_waiting_stops_every_task(workers):
    def on_report(i, *args):
        raise Rerun

    with pytest.raises(Rerun):
        processes.run([forever, forever, forever], 2, on_report)
    before = {pid for _, pid, _ in processes.run([partial(pid_and_threads, 1)] * 2, 2, lambda *a: None)}
    assert len(before) == 2  # the stopped workers serve again


def test_a_worker_that_dies_is_an_error_and_is_replaced(workers):
    with pytest.raises(processes.WorkerDied, match=r"stopped unexpectedly .*exit code 3\); run again"):
        processes.run([die], 1, lambda *a: None)
    assert processes.run([partial(pid_and_threads, 7)], 1, lambda *a: None)[0][0] == 7


def worker_pids() -> list[int]:
    """This process's training workers (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (
                entry.name.isdigit()
                and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()
            ):
                if b"tl_core.engine.processes" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="finds the workers in /proc")
def test_workers_that_all_die_at_once_are_one_plain_error(workers):
    """The first death stops the others; stopping one that died too must not hide what happened
    (it raised BrokenPipeError, and the page showed the generic error box)."""

    def kill_all(i, what, pid):
        pids = worker_pids()
        for each in pids:
            os.kill(each, signal.SIGKILL)
        for each in pids:  # dead (a zombie: its end of the connection is closed) before going on
            while Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                time.sleep(0.01)

    with pytest.raises(processes.WorkerDied):
        processes.run([report_pid, report_pid], 2, kill_all)
    assert [v for v, _, _ in processes.run([partial(pid_and_threads, 5)] * 2, 2, lambda *a: None)] == [5, 5]


def report_pid(report):
    while True:
        report("pid", os.getpid())


def test_a_worker_killed_while_training_leaves_nothing_behind_and_is_replaced(workers, tmp_path, monkeypatch):
    """SIGKILL, as an administrator or the kernel's out-of-memory killer sends it: the call says
    what happened, the next call gets a new worker, and no empty /tmp/pymp-* folder is left."""
    processes.stop()
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the workers' temporary folder: watched here
    processes.start(2).join()
    try:
        killed = []

        def on_report(i, what, pid):
            if what == "pid" and not killed:  # (the other task reports its progress)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        with pytest.raises(processes.WorkerDied, match="stopped unexpectedly.*exit code -9"):
            processes.run([report_pid, forever], 2, on_report)
        results = processes.run([partial(pid_and_threads, v) for v in range(2)], 2, lambda *a: None)
        assert [value for value, _, _ in results] == [0, 1]
        assert killed[0] not in {pid for _, pid, _ in results}
    finally:
        processes.stop()
        monkeypatch.undo()
        processes.start(2).join()  # the module's workers again, for the tests after this one
    assert list(tmp_path.iterdir()) == []


def test_a_run_right_after_start_uses_the_workers_being_started_and_starts_no_more(workers):
    """The app starts its workers in the background; a first run that comes before they are
    ready waits for them rather than starting two more (half a gigabyte each)."""
    processes.stop()
    processes.start(2)  # not joined: the first run comes at once
    results = processes.run([partial(pid_and_threads, v) for v in range(4)], 2, lambda *a: None)
    with processes._lock:
        idle = {worker.process.pid for worker in processes._idle}
    assert {pid for _, pid, _ in results} == idle and len(idle) == 2


def test_tasks_that_cannot_be_sent_are_refused_before_any_work():
    with pytest.raises(processes.Unpicklable, match="cannot be sent"):
        processes.run([lambda report: 1], 2, lambda *a: None)

    class Script(torch.nn.Module):  # as if defined in a student's script: the workers lack it
        pass

    Script.__module__ = "__main__"
    with pytest.raises(processes.Unpicklable, match="defined in the main script"):
        processes.run([partial(pid_and_threads, Script())], 2, lambda *a: None)


def test_side_by_side_in_processes_gives_the_numbers_of_training_in_turn(
    workers, sent, source_model, source, target
):
    jobs = jobs_of_a_sweep(source_model, source, target)
    in_turn = engine.run_many(jobs, side_by_side=1)
    assert sent == []
    calls = []
    in_processes = engine.run_many(
        jobs, side_by_side=2, progress=lambda f, words: calls.append((threading.get_ident(), f))
    )
    assert sent == [4]  # groups: scratch, fine-tuning and regularized; joint; the two frozen ones
    for key in ("history", "extras"):
        assert [[getattr(r, key) for r in job] for job in in_processes] == [
            [getattr(r, key) for r in job] for job in in_turn
        ]
    assert {ident for ident, _ in calls} == {threading.get_ident()}
    assert any(0 < f < 1 for _, f in calls) and calls[-1][1] == 1.0


def test_a_server_that_asks_for_it_sends_runs_of_one_group_at_a_time_to_a_worker_too(
    workers, sent, source_model, source, target
):
    """TL_TRAIN_IN_PROCESSES=1: a hosted job's training (one group at a time, one thread) leaves
    the server's threads, where page drawing holds the interpreter lock, with the same numbers."""
    jobs = jobs_of_a_sweep(source_model, source, target)
    in_turn = engine.run_many(jobs, side_by_side=1)
    assert sent == [] and not processes.available(1)
    processes.start(0, single_tasks=True).join()  # the module's workers, single tasks too
    try:
        assert processes.available(1)
        in_a_worker = engine.run_many(jobs, side_by_side=1)
    finally:
        processes.start(0).join()  # as the module had them
    assert sent == [4]
    for key in ("history", "extras"):
        assert [[getattr(r, key) for r in job] for job in in_a_worker] == [
            [getattr(r, key) for r in job] for job in in_turn
        ]


def test_an_inspect_that_cannot_be_sent_trains_in_threads_with_the_same_numbers(
    workers, source_model, source, target
):
    """trained_model passes a lambda (it keeps the model): threads train it instead."""
    jobs = jobs_of_a_sweep(source_model, source, target)
    seen = []
    results = engine.run_many(jobs, side_by_side=2, inspect=lambda model: seen.append(model) or {"n": 1})
    assert len(seen) == sum(len(job) for job in results)  # here, in this process: every model
    assert all(r.extras["n"] == 1 for job in results for r in job)
    assert [[r.history for r in job] for job in results] == [
        [r.history for r in job] for job in engine.run_many(jobs, side_by_side=1)
    ]


@pytest.mark.slow
def test_an_rnn_run_in_processes_gives_the_numbers_of_one_core(workers, sent):
    """The demo's own models (recurrent layers under vmap) travel to the workers and back."""

    def numbers() -> dict:
        data = rnn.run(rnn.Config(scenario="shift", epochs=2)).to_dict()
        data.pop("wall_time")
        for s in data["results"]:
            s.pop("wall_time")
        return data

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        side_by_side = numbers()
        torch.set_num_threads(1)
        alone = numbers()
    finally:
        torch.set_num_threads(before)
    assert sent and side_by_side == alone


def test_workers_that_cannot_start_leave_the_training_to_threads(
    workers, monkeypatch, caplog, source_model, source, target
):
    """Where this machine will not start them, runs still train, in threads, with the same
    numbers; the process stops asking for workers. (Last in this module: it turns them off.)"""
    processes.stop()
    monkeypatch.setattr(processes, "_BOOTSTRAP", "import sys; sys.exit(4)")
    processes.start(0).join()  # allowed, none started yet
    jobs = jobs_of_a_sweep(source_model, source, target)
    with caplog.at_level("WARNING", logger="tl_core.engine.processes"):
        in_threads = engine.run_many(jobs, side_by_side=2)
    assert "exit code 4" in caplog.text
    assert not processes.available()
    assert [[r.history for r in job] for job in in_threads] == [
        [r.history for r in job] for job in engine.run_many(jobs, side_by_side=1)
    ]
