"""How fast the CNN demo is: prints figures, asserts nothing.

    python benchmarks/bench_cnn.py [--threads N] [--seeds 5] [--repeats 1] [--device cpu]

1. Source training per scenario: seconds (data included, caches cold) and source test accuracy;
   how long a later process takes to read a source model back from the disk cache.
2. One target run per strategy (default config, source model cached): seconds each, the whole
   run the median of three, against RUN_TARGET (a run not stored, every strategy, the default
   size, on a 2-core CPU). With more than one thread, with the groups side by side in threads,
   then in worker processes (as the app trains: tl_core.engine.processes), and how much faster the
   processes were; then the page's two grids of digits made from the run (samples figure,
   model view), as a page draws them after its run.
3. A data-efficiency sweep, 6 target sizes x all strategies x `--seeds` seeds, four ways:
   one model at a time (torch.optim.Adam: the engine's reference path) and batched
   (cnn.run_many, what tl_core.sweep calls), each with the full per-epoch history (what a single
   run shows) and with the final metrics only (what a sweep needs: measured at epoch 0 and after
   the last epoch). Ratios compare batched with one at a time at the same history setting; the
   largest difference in final target accuracy between the two is printed too.

Times are wall-clock seconds and, beside them, this process's CPU seconds: on a machine shared
with other jobs the wall clock also counts the waits for a core, the CPU time only our work
(worker processes' CPU time is not counted: section 3 trains in this process's threads).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from tl_core import engine  # noqa: E402
from tl_core.bench import empty_disk_cache, machine_speed  # noqa: E402
from tl_core.demos import cnn, cnn_data  # noqa: E402
from tl_core.engine import processes  # noqa: E402
from tl_core.limits import Limits  # noqa: E402
from tl_core.runtime import configure_torch_threads, keep_freed_memory  # noqa: E402

SIZES = (1, 2, 5, 10, 20, 40)
SWEEP_BUDGET = 30.0  # seconds the issue allows a whole sweep on this CPU
RUN_TARGET = 0.7  # seconds: a run not stored, every strategy, the default size
RUNS = 3  # timed runs per setting in section 2: the median counts


def timed(work, repeats: int = 1):
    """(result, wall seconds, CPU seconds) of the fastest of `repeats` calls of work()."""
    best = None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = work()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[1]:
            best = (result, wall, cpu)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=Limits.from_environment().torch_threads,
        help="torch CPU threads (default: TL_TORCH_THREADS, as the app reads it; 0: every core); "
        "target training runs that many groups side by side, one core each",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="time each sweep this often, keep the fastest")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    threads = configure_torch_threads(args.threads)
    keep_freed_memory()  # as the app's training workers do
    print(
        f"torch {torch.__version__}, torch.set_num_threads({threads}), device {args.device}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    print("times: wall-clock seconds (this process's CPU seconds in brackets)")
    print(machine_speed())

    print("\n1. source training (data generation included)")
    empty_disk_cache()  # train, as on a machine's first run
    for scenario, fields in (
        ("sim2real", {}),
        ("new_classes", {}),
        ("shift", {}),
        ("new_classes", {"source_copies": 16}),
    ):
        config = cnn.Config(scenario=scenario, device=args.device, **fields)
        (model, source), wall, cpu = timed(lambda: cnn.source_model(config))  # noqa: B023 - called at once
        accuracy = cnn.engine.evaluate(model, source)["accuracy"]
        words = f"{scenario} {' '.join(f'{k}={v}' for k, v in fields.items())}"
        print(f"   {words:30s} {wall:6.2f} s ({cpu:5.2f})   source test accuracy {accuracy:.3f}")
    cnn._SOURCES.cache_clear()  # as a new process finds it: on the disk, not in memory
    _, wall, cpu = timed(lambda: cnn.source_model(cnn.Config(device=args.device)))
    print(f"   a later process reads the sim2real source model from the disk cache: {wall:.3f} s ({cpu:.3f})")
    cnn_data.glyph_bank.cache_clear()
    _, wall, cpu = timed(cnn_data.glyph_bank)
    print(f"   (rendering every font x pen x digit once: {wall:.2f} s ({cpu:.2f}), cached)")
    default = cnn.Config()
    _, wall, cpu = timed(lambda: cnn_data.source_digits(default.scenario, default.n_source, 12345))
    print(f"   drawing a new seed's printed source digits (training and test sets): {wall:.2f} s ({cpu:.2f})")

    print("\n2. one target run per strategy (default config, source model cached)")
    result = target_run(args, "in threads" if threads > 1 else "in turn")
    page_pictures(result)
    if threads > 1 and args.device == "cpu":
        processes.start(threads).join()
        in_processes = target_run(args, "in worker processes (as the app trains)")
        same = [s.history for s in result.strategies] == [s.history for s in in_processes.strategies]
        print(
            f"   worker processes {result.wall_time / in_processes.wall_time:.2f}x faster than "
            f"threads, numbers {'identical' if same else 'DIFFERENT'}"
        )
        processes.stop()  # below, this process's CPU seconds are all the work

    n_models = args.seeds * len(SIZES) * len(cnn.STRATEGIES)
    print(
        f"\n3. sweep: n_target in {SIZES} x {len(cnn.STRATEGIES)} strategies x {args.seeds} seeds"
        f" = {n_models} target models (sim2real, the defaults)"
    )
    configs = [
        cnn.Config(n_target=n, seed=seed, device=args.device) for seed in range(args.seeds) for n in SIZES
    ]
    _, wall, cpu = timed(lambda: [(cnn.source_model(c), cnn.target_domain(c)) for c in configs])
    print(f"   source models and data for {args.seeds} seeds: {wall:.2f} s ({cpu:.2f}), then cached")

    def one_at_a_time(history_every=None):
        jobs = [cnn.transfer_job(c, history_every or c.epochs) for c in configs]
        return engine.run_many(jobs, batched=False)

    one_at_a_time()  # warm up both paths once
    cnn.run_many(configs[:2])
    ways = {
        ("one at a time", "full"): lambda: one_at_a_time(history_every=1),
        ("one at a time", "final"): one_at_a_time,
        ("batched", "full"): lambda: cnn.run_many(configs, history_every=1),
        ("batched", "final"): lambda: cnn.run_many(configs),
    }
    runs = {}
    for (how, history), work in ways.items():
        results, wall, cpu = timed(work, args.repeats)
        runs[how, history] = (results, wall, cpu)
        words = "every epoch" if history == "full" else "start and end only"
        print(f"   {how:13s}  history {words:18s} {wall:6.2f} s ({cpu:6.2f})")
    for history in ("full", "final"):
        (one, one_wall, one_cpu), (many, many_wall, many_cpu) = (
            runs["one at a time", history],
            runs["batched", history],
        )
        diff = max(
            abs(a.target_metric - b.target_metric)
            for alone, batched in zip(one, many)
            for a, b in zip(alone, batched.strategies)
        )
        print(
            f"   speed-up of batched over one at a time, history {history:5s}: "
            f"{one_wall / many_wall:4.1f}x wall ({one_cpu / many_cpu:.1f}x CPU);"
            f"   largest final target-accuracy difference {diff:.4f}"
        )
    slow_wall, sweep_wall = runs["one at a time", "full"][1], runs["batched", "final"][1]
    print(
        f"   a sweep as tl_core.sweep runs it (batched, final only): {sweep_wall:.2f} s"
        f" (budget {SWEEP_BUDGET:.0f} s), {slow_wall / sweep_wall:.1f}x faster than one model at"
        f" a time with the per-epoch history"
    )


def page_pictures(result) -> None:
    """The page's two grids of digits made from the run, as a page of it draws them after the
    run (its data cached): each the median of RUNS."""
    config = cnn.Config.from_dict(result.config)
    for what, make in (
        ("samples figure (20 digits)", lambda: cnn.samples_figure(config)),
        ("model view (filters and digits it got wrong)", lambda: cnn.model_figure(result)),
    ):
        walls = sorted(timed(make)[1] for _ in range(RUNS))
        print(f"   the page's {what}: {walls[len(walls) // 2] * 1000:.0f} ms to make")


def target_run(args, how: str):
    """RUNS runs at the defaults; the median one, printed against RUN_TARGET."""
    runs = sorted((cnn.run(cnn.Config(device=args.device)) for _ in range(RUNS)), key=lambda r: r.wall_time)
    result = runs[len(runs) // 2]
    met = (
        ("met" if result.wall_time <= RUN_TARGET else "NOT met") if args.device == "cpu" else "set for a CPU"
    )
    print(
        f"   groups {how}: whole run {result.wall_time:.2f} s, the median of "
        f"{', '.join(f'{r.wall_time:.2f}' for r in runs)} (target {RUN_TARGET:g} s: {met})"
    )
    for s in result.strategies:
        print(
            f"     {s.strategy:20s} {s.wall_time:6.3f} s   target {s.target_metric:.3f}"
            f"   source {s.source_metric:.3f}"
        )
    return result


if __name__ == "__main__":
    main()
