"""`python -m tl_core bench`: wall time per demo and per strategy, and a 6-value x 5-seed sweep.

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

from tl_core import api, diskcache
from tl_core.demos import available_demos, get_demo

CANDIDATE_SIZES = (1, 2, 5, 10, 20, 40, 50, 100, 200)


def _median_seconds(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_demo(demo: str) -> None:
    api.run(demo)  # warm-up: imports, cached data and source models
    run_seconds = _median_seconds(lambda: api.run(demo))
    result = api.run(demo)
    print(f"{demo}: default run {run_seconds * 1000:.0f} ms (median of 3)")
    for s in result.strategies:
        print(
            f"  {s.strategy:<20} {s.wall_time * 1000:8.1f} ms   target {result.metric_name} "
            f"{s.target_metric:.3f}   source {s.source_metric:.3f}"
        )
    values = sweep_sizes(demo)
    sweep_seconds = _median_seconds(lambda: api.sweep(demo, over="n_target", values=values, seeds=5), 1)
    print(f"  sweep n_target={values} x 5 seeds: {sweep_seconds:.2f} s")


def sweep_sizes(demo: str, count: int = 6) -> list[int]:
    """The first `count` of 1, 2, 5, 10, 20, 40, ... that the demo's n_target range allows."""
    spec = get_demo(demo).Config.field("n_target")
    return [n for n in CANDIDATE_SIZES if spec.low <= n <= spec.high][:count]


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
