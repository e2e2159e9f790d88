"""What every test module shares: a disk cache of its own, one torch thread where asked for, the
package installed as a user installs it, and the tolerance of two code paths that compute the
same numbers (`assert_close`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from tl_core import diskcache, store
from tl_core.result import RunResult, StrategyResult

# Generated data sets go to a folder of this test session (subprocesses, such as the app's server
# in the browser tests, inherit it): tests neither read a developer's cache nor fill it.
SESSION_CACHE = None
if diskcache.ENV not in os.environ:
    SESSION_CACHE = os.environ[diskcache.ENV] = tempfile.mkdtemp(prefix="transfer-lab-tests-")


# Tests compare computations (a sweep's point and a single run, a page and the core): a result
# read back from the store of results would make them compare a result with itself. The store is
# off unless a test turns it on (tests/test_store.py, the pages' stored sweeps).
os.environ.setdefault(store.ENV, diskcache.OFF)

# The app started in this process (AppTest runs app.py here) trains in this process's threads, as
# it does where memory is short: tests patch and count trainings, which a worker process would
# hide. The browser tests' server runs as a host's would, every training in worker processes
# (tests/test_browser.py), and tests/test_hosting.py tests the choice.
os.environ.setdefault("TL_TRAIN_IN_PROCESSES", "0")


@pytest.fixture
def result_store(monkeypatch, tmp_path):
    """The store of results on, in a disk cache of this test alone."""
    monkeypatch.setenv(store.ENV, "on")
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "disk-cache"))
    return tmp_path / "disk-cache"


def pytest_sessionfinish(session, exitstatus):
    """Remove this session's disk cache. In CI (CI=true) a skipped test fails the run: every skip
    here is for a machine CI is not (no Chromium, not Linux), so one in CI is a test that never
    ran, not a pass."""
    if SESSION_CACHE:
        shutil.rmtree(SESSION_CACHE, ignore_errors=True)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"CI=true: {len(skipped)} test(s) skipped, which CI must run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two cores shared with other jobs: these small models train faster and steadier on one
    thread than on two. Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def installed_package(tmp_path_factory) -> Path:
    """This checkout installed as a user installs it, `pip install` (not editable), into a folder
    of its own: its modules, and the command in its bin/. Its dependencies are this environment's:
    run it with this Python and PYTHONPATH set to the folder. Built from a copy of the checkout,
    so that the build leaves nothing in it."""
    root = tmp_path_factory.mktemp("package")
    source, target = root / "source", root / "installed"
    # .git, .venv and other dot-folders, caches, build output, and what is not the package
    left_out = (".*", "__pycache__", "*.egg-info", "build", "artifacts", "tests", "benchmarks")
    shutil.copytree(CHECKOUT, source, ignore=shutil.ignore_patterns(*left_out))
    shutil.copytree(CHECKOUT / ".streamlit", source / ".streamlit")  # the one dot-folder it ships
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run([*pip, "--target", str(target), str(source)], check=True, capture_output=True, timeout=600)
    return target


@pytest.fixture
def empty_disk_cache(tmp_path, monkeypatch):
    """A disk cache of this test alone: nothing generated or trained before is found there."""
    folder = tmp_path / "disk-cache"
    monkeypatch.setenv(diskcache.ENV, str(folder))
    return folder


# ---------------------------------------------------------------------------------- tolerances
# Two code paths that batch differently (a sweep's models stacked against a single run's, a group
# of nine models against three, a test set measured alone against beside another) agree only to
# rounding, and rounding differs from one processor to the next: the matrix kernels are chosen by
# the processor's instruction set and by the shapes they multiply. Such tests compare with these
# tolerances. Exact equality is kept for the same code path (same config, seed and machine).
LOSS_RTOL = 1e-5  # float32 losses after a few epochs, their sums taken in another order


def one_example(n_test: int) -> float:
    """How far two code paths' accuracies on `n_test` examples may be apart: one example. A
    rounding difference can tip a prediction that was a near tie between two classes; it does
    not move several."""
    return 1 / n_test + 1e-9


def assert_close(
    expected: RunResult | list[StrategyResult],
    actual: RunResult | list[StrategyResult],
    test_examples: int | tuple[int, int],
    loss_rtol: float = LOSS_RTOL,
) -> None:
    """The strategies of one config and seed computed by two code paths agree to rounding: the
    same strategies; losses to `loss_rtol` relative; accuracies and the target confusion matrix
    one test example apart at most; at the end and at every epoch both histories measured.

    `test_examples`: the sizes of the (source, target) test sets, or one size for both.
    """
    source_n, target_n = test_examples if isinstance(test_examples, tuple) else (test_examples,) * 2
    examples = {"source_metric": source_n, "target_metric": target_n}
    expected, actual = (r.strategies if isinstance(r, RunResult) else r for r in (expected, actual))
    assert [s.strategy for s in actual] == [s.strategy for s in expected]
    for a, b in zip(expected, actual, strict=True):
        steps = sorted(set(a.history.get("step", [])) & set(b.history.get("step", [])))
        for key in ("source_metric", "target_metric", "source_loss", "target_loss"):
            left, right = _measured(a, key, steps), _measured(b, key, steps)
            if key in examples:
                close = np.isclose(left, right, rtol=0, atol=one_example(examples[key]))
            else:
                close = np.isclose(left, right, rtol=loss_rtol, atol=0)
            assert close.all(), (a.strategy, key, left, right)
        if "confusion_matrix" in a.extras:  # one example moved from one cell to another at most
            moved = np.abs(np.subtract(a.extras["confusion_matrix"], b.extras["confusion_matrix"])).sum()
            assert moved <= 2, (a.strategy, "confusion_matrix", moved)


def _measured(result: StrategyResult, key: str, steps: list[int]) -> list[float]:
    """The final value of `key`, then its history at `steps` (epochs)."""
    history = result.history
    return [getattr(result, key)] + [history[key][history["step"].index(step)] for step in steps]
