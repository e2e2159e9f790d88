"""The command line: tables, JSON, CSV, help from the config fields, one-line errors with exit 2."""

import dataclasses
import io
import json
import os
import re
import subprocess
import sys
import tomllib
from contextlib import redirect_stderr, redirect_stdout

import pandas as pd
import pytest

import tl_core
from tl_app import launch
from tl_core.cli import main


def cli(*args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def test_run_json_matches_the_python_api():
    code, out, _ = cli("run", "linear", "--n_target", "7", "--gap", "0.4", "--json")
    assert code == 0
    data = json.loads(out)
    expected = tl_core.run("linear", n_target=7, gap=0.4)
    assert data["demo"] == "linear" and data["config"] == expected.config
    assert [r["strategy"] for r in data["results"]] == expected.names()
    assert [r["target_metric"] for r in data["results"]] == [s.target_metric for s in expected.strategies]


def test_run_prints_a_readable_table_by_default():
    code, out, _ = cli("run", "logistic", "--seed", "3")
    assert code == 0
    assert "seed=3" in out.splitlines()[0]
    assert "target accuracy" in out and "scratch" in out


def test_run_csv_has_one_row_per_strategy():
    code, out, _ = cli("run", "linear", "--csv", "--strategies", "scratch,fine_tune")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0 and table.strategy.tolist() == ["scratch", "fine_tune"]


def test_sweep_prints_the_tidy_table_as_csv():
    code, out, _ = cli("sweep", "linear", "--over", "n_target", "--values", "3,30", "--seeds", "2", "--csv")
    table = pd.read_csv(io.StringIO(out))
    assert code == 0
    assert sorted(set(table.n_target)) == [3, 30] and sorted(set(table.seed)) == [0, 1]
    assert len(table) == 2 * 2 * len(set(table.strategy))


@pytest.mark.parametrize(
    "args, message",
    [
        (("run", "linear", "--gap", "1.7"), "gap must be a number in [0, 1], got '1.7'"),
        (("run", "linear", "--n_target", "many"), "n_target must be an integer in ["),
        (("run", "linear", "--colour", "red"), "unrecognized arguments: --colour red"),
        (("run", "quantum"), "invalid choice: 'quantum'"),
        (("sweep", "linear", "--over", "speed", "--values", "1,2"), "linear has no setting 'speed'"),
        (
            ("sweep", "linear", "--over", "gap", "--values", "0.1,9"),
            "gap must be a number in [0, 1], got '9'",
        ),
        (("prepare", "quantum"), "demo must be one of linear, logistic, cnn, rnn, got 'quantum'"),
        (("prepare", "--seeds", "0"), "seeds must be an integer from 1 to 10, got 0"),
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(args, message):
    code, out, err = cli(*args)
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


COMMANDS = [(), ("run",), ("sweep",), ("bench",), ("prepare",)]
DEMO_COMMANDS = [(command, demo) for command in ("run", "sweep") for demo in tl_core.available_demos()]


@pytest.mark.parametrize("command", COMMANDS + DEMO_COMMANDS, ids=" ".join)
def test_every_help_prints_and_exits_0(command):
    """A help text may hold a '%' ("about 60%"), which argparse would read as a format."""
    code, out, err = cli(*command, "--help")
    assert code == 0 and err == ""
    assert out.startswith(f"usage: python -m tl_core {' '.join(command)}".rstrip())


@pytest.mark.parametrize("command, demo", DEMO_COMMANDS)
def test_a_demos_help_lists_every_field_with_default_range_and_help(command, demo):
    code, out, _ = cli(command, demo, "--help")
    assert code == 0
    flat = "".join(out.split())  # argparse wraps lines at spaces and at hyphens
    for spec in tl_core.get_demo(demo).Config.fields():
        assert f"--{spec.name}" in flat
        assert "".join(spec.help.split()) in flat
        assert "".join(f"Allowed: {spec.allowed()}.".split()) in flat


def test_module_entry_point_exits_2_without_a_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "tl_core", "run", "linear", "--gap", "-1"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "gap must be a number in [0, 1]" in proc.stderr


@pytest.mark.parametrize("demo", tl_core.available_demos())
def test_bench_sweeps_six_target_sizes_each_demo_allows(demo):
    from tl_core.bench import sweep_sizes

    spec = tl_core.get_demo(demo).Config.field("n_target")
    sizes = sweep_sizes(demo)
    assert len(sizes) == 6 and all(spec.low <= n <= spec.high for n in sizes)


def test_bench_prints_time_per_strategy_and_the_sweep_computed_and_stored(result_store):
    code, out, _ = cli("bench", "linear")
    assert code == 0
    for scenario in tl_core.get_demo("linear").Config.field("scenario").choices:
        assert re.search(
            rf"^linear {scenario}: a run not stored [0-9.]+ s \(median of 3\) \(target ≤ 200 ms: "
            r"(met|NOT met)\); stored [0-9.]+ ms \(target ≤ 50 ms: (met|NOT met)\)$",
            out,
            re.MULTILINE,
        ), scenario
    for strategy in tl_core.get_demo("linear").STRATEGIES:  # a line each: its time, its scores
        assert re.search(
            rf"^  {strategy} +[0-9.]+ ms +target R² -?[0-9.]+ +source -?[0-9.]+$", out, re.MULTILINE
        ), strategy
    assert re.search(
        r"sweep n_target=\[[0-9, ]+\] x 5 seeds, every strategy: not stored [0-9.]+ s; stored [0-9.]+ ms", out
    )


def test_prepare_refuses_when_nothing_would_be_kept(monkeypatch):
    monkeypatch.setenv("TL_CACHE_DIR", "off")
    code, out, err = cli("prepare", "rnn")
    assert code == 2 and out == ""
    assert "the disk cache is off (TL_CACHE_DIR=off)" in err


def test_prepare_makes_every_seed_of_every_scenario_and_reports_each_scenario_once(
    monkeypatch, empty_disk_cache
):
    module = tl_core.get_demo("cnn")
    made = []
    prepare = lambda config: made.append((config.scenario, config.seed))  # noqa: E731
    monkeypatch.setattr(module, "OFFERS", dataclasses.replace(module.OFFERS, prepare=prepare))
    code, out, _ = cli("prepare", "cnn", "--seeds", "2", "--no-grid")
    scenarios = module.Config.field("scenario").choices
    assert code == 0 and made == [(s, seed) for s in scenarios for seed in (0, 1)]
    assert [line.split(": ")[0] for line in out.splitlines()[:-1]] == [
        f"cnn {s}, seeds 0 to 1" for s in scenarios
    ]


def test_prepare_computes_the_lecture_grid_of_the_demos_asked_for_and_prints_its_time(
    monkeypatch, empty_disk_cache
):
    monkeypatch.setenv("TL_RESULT_STORE", "on")
    code, out, _ = cli("prepare", "--demos", "linear", "--seeds", "1")
    lines = out.splitlines()
    assert code == 0, out
    assert lines[0].startswith("linear: ") and "runs of the lecture grid ready" in lines[0]
    assert lines[1].startswith("linear: ") and "sweeps" in lines[1]
    assert lines[-1].startswith(f"kept in {empty_disk_cache}; ") and lines[-1].endswith(" s in all")


# A later process's runs, reporting whether any source model had to be trained.
LATER_RUNS = """
import tl_core
import tl_core.demos
trained = []
def progress(fraction, message):
    if message.startswith("training the source model: epoch"):
        trained.append(message)
for demo in ("rnn", "cnn"):
    for scenario in tl_core.demos.get_demo(demo).Config.field("scenario").choices:
        tl_core.run(demo, scenario=scenario, epochs=1, strategies=("scratch",), progress=progress)
print(len(trained))
"""


@pytest.mark.slow
def test_prepare_trains_once_so_that_later_processes_train_nothing(tmp_path):
    """A course host prepares the machine before class: afterwards no page, command or notebook
    waits for a source model to train, in any new process."""
    env = {**os.environ, "TL_CACHE_DIR": str(tmp_path)}
    prepared = subprocess.run(
        [sys.executable, "-m", "tl_core", "prepare", "rnn", "cnn", "--seeds", "1", "--no-grid"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert prepared.returncode == 0, prepared.stderr
    lines = prepared.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "rnn new_classes, seed 0",
        "rnn shift, seed 0",
        "cnn sim2real, seed 0",
        "cnn new_classes, seed 0",
        "cnn shift, seed 0",
    ]
    assert lines[-1].startswith(f"kept in {tmp_path}; ")
    assert len(list(tmp_path.glob("source-model-*.npz"))) == 5
    later = subprocess.run(
        [sys.executable, "-c", LATER_RUNS], capture_output=True, text=True, env=env, timeout=600
    )
    assert later.returncode == 0, later.stderr
    assert later.stdout.split() == ["0"]


# ------------------------------------------------------------------------- transfer-lab (installed)
def test_transfer_lab_has_the_commands_of_python_m_tl_core_and_app(capsys):
    with pytest.raises(SystemExit) as exit_:
        launch.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0 and out.startswith("usage: transfer-lab")
    assert re.search(r"^    app +start the app", out, re.MULTILINE)
    with pytest.raises(SystemExit) as exit_:
        launch.main(["app", "--help"])
    assert exit_.value.code == 0 and "--server.port 8502" in " ".join(capsys.readouterr().out.split())
    assert launch.main(["run", "linear", "--gap", "2"]) == 2
    assert capsys.readouterr().err.startswith("transfer-lab: error: gap must be")


def test_transfer_lab_app_starts_streamlit_with_the_projects_settings_and_passes_options_on(monkeypatch):
    started = []
    monkeypatch.setattr(os, "execv", lambda path, command: started.append(command))
    monkeypatch.setenv("TL_MAX_JOBS", "")  # so that monkeypatch puts back what was there
    monkeypatch.delenv("TL_MAX_JOBS")
    launch.main(["app", "--server.port", "8502", "--theme.base=dark"])
    (command,) = started
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(launch.app_folder() / "app.py")]
    with open(launch.app_folder() / ".streamlit" / "config.toml", "rb") as file:
        settings = tomllib.load(file)
    assert settings["client"]["showErrorDetails"] == "none" and settings["server"]["headless"] is True
    for section, options in settings.items():
        for key, value in options.items():
            written = str(value).lower() if isinstance(value, bool) else str(value)
            assert f"--{section}.{key}={written}" in command
    assert command[-3:] == ["--server.port", "8502", "--theme.base=dark"], (
        "the user's options come last: they win"
    )
    assert os.environ["TL_MAX_JOBS"] == "1", "one user on their machine: one training at a time"
