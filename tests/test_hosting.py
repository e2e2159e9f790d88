"""A class on one server: training slots, CPU threads, errors visitors may see, nothing unsafe.

- Training slots: at most `count` trainings at once, the rest queue first come first served and are
  told their place; a run that stops (its controls changed, its tab closed) gives back its slot or
  its place in the queue.
- CPU threads: torch and every BLAS/OpenMP pool get the cores divided by the trainings at once.
- A failing page shows what to do and a reference, never a traceback; the log keeps the traceback.
- Nothing a visitor sends is unpickled, executed or used as a file path; torch loads weights only.
"""

import ast
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest
from threadpoolctl import ThreadpoolController, threadpool_info

import tl_core
from tl_app import cached, server, training_slots
from tl_app.training_slots import TrainingSlots
from tl_core import limits as limits_module
from tl_core.engine import processes
from tl_core.limits import Limits, RunTooLong

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
WAIT_S = 10  # generous bound on a thread handshake; a test never sleeps this long when it passes


class Stop(BaseException):
    """Stands for Streamlit's stop and rerun signals (BaseExceptions, as Streamlit's are)."""


def start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def eventually(condition, what: str) -> None:
    """Wait until `condition()` holds (threads hand over through the pool's condition)."""
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if condition():
            return
        done.wait(0.01)
    pytest.fail(f"never happened: {what}")


# ----------------------------------------------------------------------------------------------
# Training slots


def hold(slots: TrainingSlots, entered: threading.Event, leave: threading.Event, places: list | None = None):
    with slots.hold(
        on_wait=(lambda ahead, busy: places.append((ahead, busy))) if places is not None else None,
        poll_s=0.01,
    ):
        entered.set()
        leave.wait(WAIT_S)


def test_a_burst_queues_in_arrival_order_and_is_told_its_place():
    slots = TrainingSlots(2)
    entered = [threading.Event() for _ in range(4)]
    leave = [threading.Event() for _ in range(4)]
    places = [[] for _ in range(4)]
    threads = [start(hold, slots, entered[0], leave[0]), start(hold, slots, entered[1], leave[1])]
    assert entered[0].wait(WAIT_S) and entered[1].wait(WAIT_S)
    threads.append(start(hold, slots, entered[2], leave[2], places[2]))
    eventually(lambda: slots.waiting == 1, "the third run queues")
    threads.append(start(hold, slots, entered[3], leave[3], places[3]))
    eventually(lambda: slots.waiting == 2, "the fourth run queues behind it")
    assert slots.busy == 2 and not entered[2].is_set() and not entered[3].is_set()
    eventually(lambda: places[3], "the fourth run is told its place")
    assert places[2][0] == (0, 2) and places[3][0] == (1, 2)  # next / one ahead, two training
    leave[0].set()
    assert entered[2].wait(WAIT_S), "the first in the queue takes the freed slot"
    assert not entered[3].is_set() and slots.busy == 2
    eventually(lambda: (0, 2) in places[3], "the fourth run moves up")
    for event in leave:
        event.set()
    for thread in threads:
        thread.join(WAIT_S)
    assert slots.busy == 0 and slots.waiting == 0


def test_a_run_stopped_while_waiting_leaves_the_queue():
    slots = TrainingSlots(1)
    entered, leave = threading.Event(), threading.Event()
    holder = start(hold, slots, entered, leave)
    assert entered.wait(WAIT_S)
    checks = []

    def check():  # Streamlit's check raises once the visitor changed a control
        checks.append(1)
        if len(checks) == 3:
            raise Stop

    with pytest.raises(Stop):
        with slots.hold(check=check, poll_s=0.01):
            pytest.fail("a stopped run must not train")
    assert slots.waiting == 0 and slots.busy == 1, "only the holder is left"
    leave.set()
    holder.join(WAIT_S)
    assert slots.busy == 0
    with slots.hold():  # the slot is free again for the next run
        assert slots.busy == 1


def test_a_run_stopped_while_training_gives_its_slot_back():
    slots = TrainingSlots(1)
    with pytest.raises(Stop):
        with slots.hold():
            assert slots.busy == 1
            raise Stop  # a rerun arriving at a progress call, deep in the core
    assert slots.busy == 0
    with pytest.raises(ValueError):
        with slots.hold():
            raise ValueError("a failing run")
    assert slots.busy == 0


def test_a_weights_download_trains_in_a_training_slot_too(monkeypatch):
    slots = TrainingSlots(1)
    monkeypatch.setattr(training_slots, "SLOTS", slots)
    entered, leave = threading.Event(), threading.Event()
    holder = start(hold, slots, entered, leave)
    assert entered.wait(WAIT_S)
    got = []
    download = start(lambda: got.append(cached.on_request(lambda: slots.busy)))
    eventually(lambda: slots.waiting == 1, "the download's training queues")
    assert not got
    leave.set()
    download.join(WAIT_S)
    holder.join(WAIT_S)
    assert got == [1] and slots.busy == 0, "it trained holding the one slot, then gave it back"


def test_a_server_needs_a_slot():
    with pytest.raises(ValueError, match="at least one"):
        TrainingSlots(0)


class Slot:
    """Stands for an st.empty() placeholder: remembers what was drawn into it."""

    def __init__(self):
        self.drawn = []

    def info(self, text, icon=None):
        self.drawn.append(text)


def test_the_waiting_message_says_the_place_and_a_changed_control_ends_the_wait(monkeypatch):
    slots = TrainingSlots(1)
    entered, leave = threading.Event(), threading.Event()
    holder = start(hold, slots, entered, leave)
    assert entered.wait(WAIT_S)
    polls = []

    def streamlit_check():
        polls.append(1)
        if len(polls) > 2:
            raise Stop  # the visitor moved a slider: Streamlit wants a rerun

    monkeypatch.setattr(cached, "_stop_check", lambda: streamlit_check)
    monkeypatch.setattr(training_slots, "POLL_S", 0.01)
    slot = Slot()
    with pytest.raises(Stop):
        with cached.training_slot(slot, slots):
            pytest.fail("must not train while the only slot is busy")
    assert slot.drawn and "Waiting for a free worker" in slot.drawn[0] and "yours is next" in slot.drawn[0]
    assert slots.waiting == 0
    leave.set()
    holder.join(WAIT_S)
    assert "3 ahead of yours" in cached.waiting_message(3, 2, 2)
    assert "2 experiments at a time" in cached.waiting_message(3, 2, 2)


def test_a_sweep_waits_for_a_busy_slot_then_draws_and_a_quick_run_never_waits(monkeypatch):
    """The app's real path: every slot busy, a sweep queues, shows why, and draws once freed; a
    single run of a quick demo (linear regression) does not queue at all."""
    slots = TrainingSlots(1)
    monkeypatch.setattr(training_slots, "SLOTS", slots)
    shown = []
    real = cached.waiting_message
    monkeypatch.setattr(cached, "waiting_message", lambda *a: shown.append(real(*a)) or shown[-1])
    entered, leave = threading.Event(), threading.Event()
    holder = start(hold, slots, entered, leave)
    assert entered.wait(WAIT_S)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"seed": "424242", "sweep_seeds": "1"})  # configs no other test ran
    at.switch_page("app_pages/linear.py").run()
    assert len(at.metric) >= 2 and not shown, "a quick run does not wait for the busy slot"
    charts = len(at.get("plotly_chart"))

    def release_once_queued():
        eventually(lambda: slots.waiting == 1, "the sweep queues for the busy slot")
        leave.set()

    releaser = start(release_once_queued)
    at.button(key="run_gap_sweep").click().run()
    releaser.join(WAIT_S)
    holder.join(WAIT_S)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(at.get("plotly_chart")) == charts + 1, "the sweep drew once the slot was free"
    assert shown and "Waiting for a free worker" in shown[0] and "yours is next" in shown[0]
    assert slots.busy == 0 and slots.waiting == 0
    entered.clear()
    leave.clear()
    holder = start(hold, slots, entered, leave)  # busy again: a cached sweep needs no slot
    assert entered.wait(WAIT_S)
    at.run()
    leave.set()
    holder.join(WAIT_S)
    assert len(at.get("plotly_chart")) == charts + 1 and len(shown) == 1


# ----------------------------------------------------------------------------------------------
# Sessions are threads of one process


@pytest.fixture
def restore_threads():
    torch_threads = torch.get_num_threads()
    with ThreadpoolController().limit(limits=None):  # puts every pool back as it was
        yield
    torch.set_num_threads(torch_threads)


def numbers(result) -> list[tuple]:
    return [
        (s.strategy, s.source_metric, s.target_metric, s.source_loss, s.target_loss)
        for s in result.strategies
    ]


@pytest.mark.slow
def test_sessions_in_threads_never_change_each_others_numbers(restore_threads):
    """Streamlit runs every session in a thread of one process. While one session's RNN builds
    its data and models, other sessions keep starting runs (each seeds the generators); the RNN's
    numbers must still equal those of the same config run alone in a fresh process."""
    fields = {
        "scenario": "shift",
        "gap": 0.37,
        "n_target": 3,
        "epochs": 2,
        "cell": "lstm",
        "hidden": 4,
        "seed": 11,
    }  # new target data, a small source model: quick, and built while others run
    torch.set_num_threads(1)  # as on a hosted server with two trainings at once on two cores
    alone = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, sys, torch, tl_core; torch.set_num_threads(int(sys.argv[2])); "
            "r = tl_core.run('rnn', **json.loads(sys.argv[1])); "
            "print(json.dumps([[s.strategy, s.source_metric, s.target_metric, s.source_loss, s.target_loss] "
            "for s in r.strategies]))",
            json.dumps(fields),
            str(torch.get_num_threads()),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [tuple(row) for row in json.loads(alone.stdout)]
    stop = threading.Event()

    def other_sessions():  # a run every 10 ms or so: a busy class, not a GIL hog
        seed = 0
        while not stop.wait(0.01):
            tl_core.run("linear", seed=seed)
            seed += 1

    others = start(other_sessions)
    try:
        result = tl_core.run("rnn", **fields)
    finally:
        stop.set()
        others.join(WAIT_S)
    assert numbers(result) == expected


# ----------------------------------------------------------------------------------------------
# CPU threads


@pytest.mark.parametrize(
    "limits",
    [Limits(max_jobs=1), Limits(max_jobs=2), Limits(max_jobs=64), Limits(torch_threads=3, max_jobs=2)],
    ids=lambda limit: f"threads{limit.torch_threads}-jobs{limit.max_jobs}",
)
def test_torch_and_blas_threads_share_the_cores_between_concurrent_trainings(limits, restore_threads):
    expected = limits.torch_threads or max(1, (os.cpu_count() or 1) // limits.max_jobs)
    assert server.limit_cpu_threads(limits) == expected
    assert torch.get_num_threads() == expected
    pools = [p for p in threadpool_info() if p["user_api"] == "blas"]
    assert pools, "numpy's BLAS is loaded"
    assert {p["num_threads"] for p in pools} == {expected}, pools


@pytest.mark.parametrize(
    "device, threads, started", [("cpu", 1, False), ("cpu", 2, True), ("cpu", 8, True), ("cuda", 4, False)]
)
def test_the_server_starts_training_processes_only_for_runs_of_several_cpu_threads(
    monkeypatch, device, threads, started
):
    calls = []
    monkeypatch.setattr(server.processes, "start", calls.append)
    assert server.start_training_processes(device, threads, Limits(train_in_processes=0)) is started
    assert calls == ([threads] if started else [])


@pytest.mark.parametrize(
    "device, threads, jobs", [("cpu", 1, 2), ("cpu", 2, 1), ("cpu", 1, 4), ("cuda", 1, 2)]
)
def test_with_train_in_processes_every_cpu_training_gets_a_worker_process(monkeypatch, device, threads, jobs):
    """TL_TRAIN_IN_PROCESSES=1: a worker per training slot and thread, taking runs of one group at
    a time too; on a GPU none (the device trains)."""
    calls = []
    monkeypatch.setattr(server.processes, "start", lambda count, **options: calls.append((count, options)))
    limits = Limits(max_jobs=jobs, train_in_processes=1)
    assert server.start_training_processes(device, threads, limits) is (device == "cpu")
    assert calls == ([(threads * jobs, {"single_tasks": True})] if device == "cpu" else [])


@pytest.mark.parametrize(
    ("switch", "gib", "every"),
    [(None, 8, True), (None, 2.5, False), (None, None, False), (1, 1, True), (0, 64, False)],
)
def test_unless_the_host_says_the_memory_decides_whether_every_training_gets_a_process(
    monkeypatch, switch, gib, every
):
    """Two training processes beside a server need about 3 GiB; where the memory is short or
    unknown, trainings of one thread stay in the server's threads. A host's TL_TRAIN_IN_PROCESSES
    wins either way."""
    limits = Limits(max_jobs=2, train_in_processes=switch)
    monkeypatch.setattr(server, "memory_bytes", lambda: None if gib is None else int(gib * 2**30))
    assert server.every_training_in_processes(2, limits) is every


# ----------------------------------------------------------------------------------------------
# Errors a visitor may see


def test_a_failing_page_says_what_to_do_and_the_log_keeps_the_traceback(monkeypatch, caplog):
    def broken_run(*args, **kwargs):
        raise RuntimeError("internal detail /srv/secret/path.py")

    monkeypatch.setattr(tl_core, "run", broken_run)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"seed": "515151"})  # a cache miss, so the broken run is called
    with caplog.at_level("ERROR", logger="tl_app"):
        at.switch_page("app_pages/linear.py").run()
    assert not at.exception, "no traceback element on the page"
    (error,) = at.error
    assert "Something went wrong" in error.value and "Reset to defaults" in error.value
    assert "teacher" in error.value
    page_text = " ".join(str(e.value) for e in at.markdown) + error.value
    assert "secret" not in page_text and "RuntimeError" not in page_text
    (record,) = [r for r in caplog.records if r.name == "tl_app"]
    reference = record.args[0]
    assert reference in error.value, "the visitor's reference finds the log entry"
    assert record.exc_info and "internal detail" in str(record.exc_info[1])
    assert at.sidebar.caption and "Computing on" in at.sidebar.caption[-1].value, "the frame still ran"
    assert not at.get("progress"), "no half-drawn progress bar is left above the message"


def test_a_host_who_asks_for_error_details_sees_the_traceback_too(monkeypatch):
    monkeypatch.setattr(tl_core, "run", lambda *a, **k: 1 / 0)
    monkeypatch.setattr(server, "show_details", lambda: True)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"seed": "525252"})
    at.switch_page("app_pages/linear.py").run()
    assert at.error and at.exception and "division by zero" in at.exception[0].message


def test_a_run_stopped_at_the_time_cap_says_why_plainly(monkeypatch, caplog):
    def too_long(*args, **kwargs):
        raise RunTooLong(
            "This run of the RNN demo was stopped after 121 s: at most 120 s (TL_MAX_RUN_SECONDS)."
        )

    monkeypatch.setattr(tl_core, "run", too_long)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"seed": "535353"})
    with caplog.at_level("WARNING", logger="tl_app"):
        at.switch_page("app_pages/linear.py").run()
    assert not at.exception and not at.error, "no error box, no reference to quote"
    assert any("TL\\_MAX\\_RUN\\_SECONDS" in w.value for w in at.warning)
    assert "time cap" in caplog.text


@pytest.mark.parametrize("deaths", [1, 2])
def test_a_training_process_that_dies_is_retried_once_then_said_plainly(monkeypatch, deaths):
    real, calls = tl_core.run, []

    def dies(*args, **kwargs):
        calls.append(1)
        if len(calls) <= deaths:
            raise processes.WorkerDied("the training process stopped unexpectedly (exit code -9); run again")
        return real(*args, **kwargs)

    monkeypatch.setattr(tl_core, "run", dies)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"seed": str(545450 + deaths)})
    at.switch_page("app_pages/linear.py").run()
    assert not at.exception and not at.error
    assert len(calls) == 2, "one retry, no more"
    if deaths == 1:
        assert at.metric, "the retry trained: the page has its results"
    else:
        assert any("training process stopped" in w.value for w in at.warning) and not at.metric


def test_the_time_cap_stops_training_at_its_next_report_and_names_the_costly_settings(
    monkeypatch, empty_disk_cache
):
    """The issue's link: a recurrent net of the largest size for 200 epochs (half an hour)."""
    monkeypatch.setattr(limits_module, "LIMITS", dataclasses.replace(limits_module.LIMITS, max_run_seconds=1))
    started = time.monotonic()
    with pytest.raises(RunTooLong) as stopped:
        tl_core.run("rnn", hidden=128, layers=3, cell="lstm", epochs=200, n_target=100)
    assert time.monotonic() - started < 30, "stopped at a report, long before the run's end"
    message = str(stopped.value)
    assert message.startswith("This run of the RNN demo was stopped after")
    assert "at most 1 s (TL_MAX_RUN_SECONDS)" in message and "training the source model" in message
    for setting in ("epochs 200 (default", "hidden 128 (default", "layers 3 (default", "n_target 100"):
        assert setting in message
    monkeypatch.setattr(limits_module, "LIMITS", dataclasses.replace(limits_module.LIMITS, max_run_seconds=0))
    assert limits_module.timed(None, "a run", "") is None, "0: no cap"


def test_the_time_cap_is_read_from_the_environment_and_zero_turns_it_off():
    assert Limits().max_run_seconds == 120
    assert Limits.from_environment({"TL_MAX_RUN_SECONDS": "0"}).max_run_seconds == 0
    with pytest.raises(ValueError, match="TL_MAX_RUN_SECONDS must be a whole number >= 0"):
        Limits.from_environment({"TL_MAX_RUN_SECONDS": "ten"})


def test_the_repository_caps_uploads_at_the_default_before_the_first_page_load():
    """Until the first page load sets it from TL_MAX_UPLOAD_MB, the server's own setting holds
    (Streamlit's default would take 200 MB)."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == Limits().max_upload_mb


def test_the_repository_hides_error_details_from_visitors():
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["client"]["showErrorDetails"] == "none"  # "false" still shows the stack trace


# ----------------------------------------------------------------------------------------------
# Nothing unsafe


def python_files(*folders: str) -> list[Path]:
    files = []
    for folder in folders:
        path = ROOT / folder
        files += [path] if path.suffix == ".py" else sorted(path.rglob("*.py"))
    return files


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call):
            yield node


def call_name(node: ast.Call) -> str:
    func = node.func
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


def test_torch_loads_weights_only():
    loads = [
        (path, node)
        for path in python_files("tl_core", "tl_app", "app_pages", "app.py", "benchmarks")
        for node in calls(path)
        if call_name(node) == "torch.load"
    ]
    assert loads, "the ResNet-18 backbone is loaded with torch.load"
    for path, node in loads:
        keywords = {k.arg: k.value for k in node.keywords}
        assert (
            isinstance(keywords.get("weights_only"), ast.Constant) and keywords["weights_only"].value is True
        ), f"{path.relative_to(ROOT)}:{node.lineno} torch.load without weights_only=True"


UNSAFE_MODULES = {"pickle", "cloudpickle", "dill", "joblib", "marshal", "shelve", "subprocess"}
# The one exception: the training processes start fresh Pythons (sys.executable) and pass them
# the engine's own objects pickled, over a connection authenticated with a random key, so the
# bytes unpickled there are only ever the process's own (a visitor's values inside, never a
# visitor's bytes). Its connections are checked below.
# And `transfer-lab app --replicas N` (tl_app/launch.py, run by whoever starts the server, never
# by a page) starts its app servers: `streamlit run` of the app with the host's own options.
ALLOWED = {
    Path("tl_core/engine/processes.py"): {"pickle", "subprocess"},
    Path("tl_app/launch.py"): {"subprocess"},
}


def test_no_pickle_eval_or_exec_in_the_app_or_the_core():
    for path in python_files("tl_core", "tl_app", "app_pages", "app.py"):
        tree = ast.parse(path.read_text())
        allowed = ALLOWED.get(path.relative_to(ROOT), set())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                names = {(node.module or "").split(".")[0]}
            else:
                names = set()
            assert not names & (UNSAFE_MODULES - allowed), (
                f"{path.relative_to(ROOT)}:{node.lineno} imports {names}"
            )
        for node in calls(path):
            assert call_name(node) not in ("eval", "exec", "compile", "__import__"), (
                f"{path.relative_to(ROOT)}:{node.lineno} calls {call_name(node)}"
            )


def test_the_training_processes_only_talk_over_authenticated_connections_and_start_python():
    path = ROOT / "tl_core" / "engine" / "processes.py"
    connections = [node for node in calls(path) if call_name(node) in ("Client", "Listener")]
    assert len(connections) == 2
    for node in connections:
        assert "authkey" in {k.arg for k in node.keywords}, f"{call_name(node)} without authkey"
    starts = [node for node in calls(path) if call_name(node).startswith("subprocess.")]
    assert [call_name(node) for node in starts] == ["subprocess.Popen"]
    assert ast.unparse(starts[0].args[0]).startswith("[sys.executable, '-c', _BOOTSTRAP]")


def test_the_launcher_only_starts_the_apps_own_streamlit_servers_without_a_shell():
    path = ROOT / "tl_app" / "launch.py"
    starts = [node for node in calls(path) if call_name(node).startswith("subprocess.")]
    assert [call_name(node) for node in starts] == ["subprocess.Popen"]
    assert ast.unparse(starts[0].args[0]).startswith("streamlit_command(")
    assert "shell" not in {k.arg for k in starts[0].keywords}


FILE_CALLS = {
    "open",
    "io.open",
    "Path",
    "pathlib.Path",
    "os.open",
    "os.remove",
    "os.path.join",
    "os.listdir",
    "shutil.rmtree",
    "shutil.copy",
}


def test_the_app_never_touches_files_and_renders_no_raw_html():
    """The Streamlit side reads links and widgets only: no file is opened, no HTML let through.
    (tl_app/launch.py is the `transfer-lab` command, run by whoever starts the server, never by a
    page: it reads the project's .streamlit/config.toml.)"""
    for path in python_files("tl_app", "app_pages", "app.py"):
        if path.name == "launch.py":
            continue
        for node in calls(path):
            name = call_name(node)
            assert name not in FILE_CALLS, f"{path.relative_to(ROOT)}:{node.lineno} calls {name}"
            for keyword in node.keywords:
                assert keyword.arg not in ("unsafe_allow_html", "allow_html"), (
                    f"{path.relative_to(ROOT)}:{node.lineno} lets raw HTML through"
                )


def test_every_text_setting_is_a_choice_so_no_link_can_name_a_file():
    for demo in tl_core.available_demos():
        for spec in tl_core.get_demo(demo).Config.fields():
            if spec.kind in (str, tuple):
                assert spec.choices, f"{demo}.{spec.name} takes free text"
