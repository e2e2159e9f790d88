"""`python -m tl_core bench`: per demo and scenario, a run computed and read from the store of
results, per strategy, and the page's data-efficiency sweep over 5 seeds, beside their targets.

Figures are printed, never asserted: the machines are shared and timings are noisy. Each figure is
the median of a few repeats, so that one slow moment does not decide it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence

from tl_core import api, diskcache, lecture
from tl_core.demos import available_demos, get_demo


def _median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# The live lecture's targets on the project's 2-core CPU, source models prepared (seconds).
STORED_TARGET = 0.05  # a stored run or sweep, read back in the core
RUN_TARGET = {"linear": 0.2, "logistic": 0.2, "cnn": 0.7, "rnn": 1.5}  # a run not stored
SWEEP_TARGET = {"rnn": 15.0}  # a data-efficiency sweep, every strategy x 5 seeds, not stored
SWEEP_SEEDS = 5


def bench_demo(demo: str) -> None:
    """Per scenario: a run computed afresh and read from the store, per strategy, and the page's
    data-efficiency sweep over 5 seeds, computed and read; each beside its target."""
    module = get_demo(demo)
    for scenario in module.Config.field("scenario").choices:
        fields = {"scenario": scenario}
        api.run(demo, use_store=False, **fields)  # warm-up: imports, cached data and source models
        run_seconds = _median_seconds(lambda: api.run(demo, use_store=False, **fields))  # noqa: B023
        result = api.run(demo, **fields)  # computed once more, and kept in the store
        stored = _median_seconds(lambda: api.run(demo, **fields), 20)  # noqa: B023
        print(
            f"{demo} {scenario}: a run not stored {run_seconds:.2f} s (median of 3)"
            f"{_against(run_seconds, RUN_TARGET.get(demo))}; stored {stored * 1000:.1f} ms"
            f"{_against(stored, STORED_TARGET)}"
        )
        for s in result.strategies:
            print(
                f"  {s.strategy:<20} {s.wall_time * 1000:8.1f} ms   target {result.metric_name} "
                f"{s.target_metric:.3f}   source {s.source_metric:.3f}"
            )
    values = sweep_sizes(demo)
    sweep_seconds = _median_seconds(
        lambda: api.sweep(demo, "n_target", values, SWEEP_SEEDS, use_store=False), 1
    )
    api.sweep(demo, "n_target", values, SWEEP_SEEDS)  # kept in the store
    stored = _median_seconds(lambda: api.sweep(demo, "n_target", values, SWEEP_SEEDS), 5)
    print(
        f"  sweep n_target={values} x {SWEEP_SEEDS} seeds, every strategy: not stored "
        f"{sweep_seconds:.2f} s{_against(sweep_seconds, SWEEP_TARGET.get(demo))}; stored "
        f"{stored * 1000:.1f} ms{_against(stored, STORED_TARGET)}"
    )


def _against(seconds: float, target: float | None) -> str:
    """' (target ≤ 700 ms: met)', or nothing where there is no target."""
    if target is None:
        return ""
    shown = f"{target * 1000:.0f} ms" if target < 1 else f"{target:g} s"
    return f" (target ≤ {shown}: {'met' if seconds <= target else 'NOT met'})"


def sweep_sizes(demo: str) -> list[int]:
    """The labelled-sample counts of the page's default data-efficiency sweep."""
    module = get_demo(demo)
    return lecture.sweep_values(module, module.Config(), "n_target")


def empty_disk_cache() -> str:
    """Point this process's disk cache (tl_core.diskcache) at a new, empty temporary folder,
    removed when the process ends: data is generated and source models are trained as on a
    machine's first run, and nothing of the user's cache is read or filled. Returns the folder."""
    folder = tempfile.mkdtemp(prefix="transfer-lab-bench-")
    os.environ[diskcache.ENV] = folder
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def machine_speed() -> str:
    """A line that says how fast this machine is today, so figures from different days compare:
    the same shared 2-core machine has run the same code up to twice as slow on one day as on
    another. The demos' small models spend their time in many small torch operations."""
    import torch

    a, b = torch.randn(16, 96), torch.randn(96, 32)
    start = time.perf_counter()
    for _ in range(20_000):
        a @ b
    small = (time.perf_counter() - start) / 20_000
    big = torch.randn(512, 512)
    start = time.perf_counter()
    for _ in range(20):
        big @ big
    flops = 2 * 512**3 * 20 / (time.perf_counter() - start)
    return (
        f"machine: a small torch matmul (16x96 @ 96x32) takes {small * 1e6:.1f} us, a large one "
        f"runs at {flops / 1e9:.0f} GFLOP/s, on {torch.get_num_threads()} thread(s)"
    )


def main(demos: Sequence[str] = ()) -> None:
    print(machine_speed())
    for demo in demos or available_demos():
        get_demo(demo)  # a clear error for an unknown demo before any timing
        bench_demo(demo)
