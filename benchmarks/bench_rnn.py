"""How fast the RNN demo is: prints figures, asserts nothing.

    python benchmarks/bench_rnn.py [--threads N] [--seeds 5] [--repeats 3] [--device cpu]
                                   [--cell gru] [--full] [--no-sweep]

--threads: torch's CPU threads (default: TL_TORCH_THREADS, as the app reads it; 0 or unset:
every core, as a laptop's app has them). On the CPU, target training runs that many like-model
groups side by side, one core each. Each figure that has a target (a run not stored, every
strategy, the default size: RUN_TARGET; the sweep of section 3: SWEEP_TARGET, both for a
2-core CPU) is printed beside it; a busy machine's figures run slow, so the load average is
printed first and runs are timed `--repeats` times (the median counts).

0. How fast this machine is today (figures of different days compare by it).
1. Generating MNIST-1D per scenario, and source training per scenario: seconds and source test
   accuracy, at the fast default and (with --full) at the full-quality preset. A machine does
   both once (into an empty temporary disk cache here); a later process reads them from the disk
   cache: how long that takes.
2. One target run per strategy (default config, source model cached): seconds each, and the
   whole run (what a page shows when a slider moves), against RUN_TARGET. With more than one
   thread, first with the groups side by side in threads, then in worker processes
   (tl_core.engine.processes, as the app trains), and how much faster the processes were, measured in
   this run.
2b. The default run alone and beside a thread of Python busy half the time (a server drawing
   pages), in worker processes (if section 2 started them) and in this process's threads: a
   training thread waits for Python's interpreter lock at each of its many small operations,
   a worker process does not.
3. A data-efficiency sweep, 6 target sizes x all strategies x `--seeds` seeds, through
   rnn.run_many (what the app's sweeps call), against SWEEP_TARGET: like models trained
   together (the engine's vmap over the written-out recurrence), their groups side by side (in
   worker processes, with more than one thread); then the same one group at a time (what each
   job of a hosted server, with one thread, gets).
4. The same sweep one model at a time (torch.optim.Adam, torch's fused recurrent kernels), the
   speed-up of 3 over it, and how far the two paths' target accuracies lie apart (single runs
   and means over seeds).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from tl_core import engine  # noqa: E402
from tl_core.bench import empty_disk_cache, machine_speed  # noqa: E402
from tl_core.demos import rnn  # noqa: E402
from tl_core.engine import processes  # noqa: E402
from tl_core.limits import Limits  # noqa: E402
from tl_core.runtime import configure_torch_threads, keep_freed_memory  # noqa: E402

SIZES = (1, 2, 5, 10, 20, 50)
RUN_TARGET = 1.5  # seconds: a run not stored, every strategy, the default size, either scenario
SWEEP_TARGET = 15.0  # seconds: section 3's sweep with 5 seeds, not stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=Limits.from_environment().torch_threads,
        help="torch CPU threads (default: TL_TORCH_THREADS; 0: every core); target training "
        "runs that many groups side by side, one core each",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per scenario (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cell", default="gru", choices=rnn.CELLS)
    parser.add_argument("--full", action="store_true", help="also time the full-quality preset")
    parser.add_argument(
        "--no-sweep",
        action="store_true",
        help="sections 0 to 2 only (a minute or two; the sweeps take several)",
    )
    args = parser.parse_args()
    threads = configure_torch_threads(args.threads)
    keep_freed_memory()  # as the app's training workers do
    print(
        f"torch {torch.__version__}, {threads} thread(s), device {args.device}, cell {args.cell}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )

    start = time.perf_counter()
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its first use imports torch._dynamo
    print(
        f"(a process's first torch.optim optimizer imports torch._dynamo: "
        f"{time.perf_counter() - start:.2f} s, once, not counted below)"
    )

    print(f"0. {machine_speed()}")

    print("\n1. generating MNIST-1D (once per machine, then read from the disk cache), and source training")
    empty_disk_cache()  # generate and train, as on a machine's first run
    for scenario in rnn.SCENARIOS:
        start = time.perf_counter()
        rnn.load_domains(rnn.Config(scenario=scenario, device=args.device))
        what = (
            "5000 sequences, digits 0-9"
            if scenario == "new_classes"
            else "its 2000 target sequences; the source set is the same"
        )
        print(f"   generating {scenario:12s} {time.perf_counter() - start:6.2f} s   ({what})")
    for quality in ("fast", "full") if args.full else ("fast",):
        for scenario in rnn.SCENARIOS:
            config = rnn.Config(scenario=scenario, quality=quality, cell=args.cell, device=args.device)
            start = time.perf_counter()
            rnn.source_model(config, args.device)
            seconds = time.perf_counter() - start
            digits = "10 digits" if scenario == "shift" else "digits 0-4"
            print(
                f"   training {quality:4s} {scenario:12s} {seconds:6.2f} s   source test "
                f"accuracy {rnn.source_accuracy(config):.3f} ({digits})"
            )
    rnn._SOURCES.cache_clear()  # as a new process finds it: on the disk, not in memory
    for scenario in rnn.SCENARIOS:
        start = time.perf_counter()
        rnn.source_model(rnn.Config(scenario=scenario, cell=args.cell), args.device)
        print(
            f"   a later process reads the fast {scenario} source model from the disk cache: "
            f"{time.perf_counter() - start:.3f} s"
        )

    print(
        "\n2. one target run per strategy (default config, source model cached); a strategy's "
        "time is its group's, shared out among the group's models"
    )
    in_threads = target_runs(args, "in threads") if threads > 1 else None
    if threads > 1 and args.device == "cpu":
        start = time.perf_counter()
        processes.start(threads).join()
        print(
            f"   (starting {threads} worker processes: {time.perf_counter() - start:.2f} s, once "
            f"per app process, in the background)"
        )
        in_processes = target_runs(args, "in worker processes")
        for scenario in rnn.SCENARIOS:
            a, b = in_threads[scenario], in_processes[scenario]
            same = [s.history for s in a.strategies] == [s.history for s in b.strategies]
            print(
                f"   {scenario}: worker processes {a.wall_time / b.wall_time:.2f}x faster than "
                f"threads, numbers {'identical' if same else 'DIFFERENT'}"
            )

    beside_page_drawing(args)
    if args.no_sweep:
        return
    print(
        f"\n3. sweep: n_target in {SIZES} x {len(rnn.STRATEGIES)} strategies x {args.seeds} seeds"
        " (new_classes, defaults), through rnn.run_many (batched)"
    )
    configs = [
        rnn.Config(n_target=n, seed=seed, cell=args.cell, device=args.device)
        for seed in range(args.seeds)
        for n in SIZES
    ]
    start, cpu = time.perf_counter(), time.process_time()
    batched = rnn.run_many(configs)
    batched_wall = time.perf_counter() - start
    met = _met(batched_wall, SWEEP_TARGET, _default(args) and args.seeds == 5)
    print(
        f"   {batched_wall:6.2f} s wall (target {SWEEP_TARGET:g} s{met}), {time.process_time() - cpu:6.2f} s "
        f"CPU for {len(configs)} runs, {engine.parallel_groups(args.device)} group(s) side by "
        f"side (history measured at the start and end only)"
    )
    jobs = [rnn.transfer_job(c, history_every=max(c.epochs, c.scratch_epochs)) for c in configs]
    start = time.perf_counter()
    in_turn = engine.run_many(jobs, side_by_side=1)
    in_turn_wall = time.perf_counter() - start
    same = [[r.history for r in job] for job in in_turn] == [
        [r.history for r in run.strategies] for run in batched
    ]
    print(
        f"   {in_turn_wall:6.2f} s wall one group at a time (a hosted job's one thread): "
        f"side by side {in_turn_wall / batched_wall:.2f}x faster, numbers "
        f"{'identical' if same else 'DIFFERENT'}"
    )

    print("\n4. the same sweep one model at a time (torch.optim.Adam, torch's fused kernels)")
    start, cpu = time.perf_counter(), time.process_time()
    alone = engine.run_many(jobs, batched=False)
    alone_wall = time.perf_counter() - start
    print(
        f"   {alone_wall:6.2f} s wall, {time.process_time() - cpu:6.2f} s CPU; batched speed-up "
        f"{alone_wall / batched_wall:.2f}x (wall, measured in this run)"
    )
    pairs = [
        (c.n_target, a.strategy, a.target_metric, b.target_metric)
        for c, one, many in zip(configs, alone, batched)
        for a, b in zip(one, many.strategies)
    ]
    means = {}
    for n, strategy, a, b in pairs:
        means.setdefault((n, strategy), []).append(a - b)
    print(
        f"   target accuracy, one at a time vs batched: largest single difference "
        f"{max(abs(a - b) for *_, a, b in pairs):.3f}, largest difference of "
        f"means over seeds {max(abs(sum(d) / len(d)) for d in means.values()):.3f}"
    )


@contextlib.contextmanager
def _drawing_pages():
    """A thread of Python busy half the time, 20 ms on, 20 ms off: a server's page drawing."""
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            until = time.perf_counter() + 0.02
            while time.perf_counter() < until:
                pass
            stop.wait(0.02)

    thread = threading.Thread(target=draw, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def beside_page_drawing(args) -> None:
    """Section 2b: the default run alone and beside _drawing_pages, in worker processes (if
    started) and in threads of this process, as the app's server trains beside its pages."""
    print(
        "\n2b. the default run (new_classes) alone and beside a thread of Python busy half the "
        "time (a server drawing pages: 20 ms on, 20 ms off); each the median of --repeats"
    )
    config = rnn.Config(cell=args.cell, device=args.device)
    had_workers = processes.available()
    ways = (["in worker processes"] if had_workers else []) + ["in this process's threads"]
    for how in ways:
        if how.startswith("in this"):
            processes.stop()  # the groups train in this process from here on
        times = {}
        for beside in ("alone", "beside page drawing"):
            with _drawing_pages() if beside != "alone" else contextlib.nullcontext():
                walls = sorted(rnn.run(config).wall_time for _ in range(args.repeats))
            times[beside] = walls[len(walls) // 2]
        print(
            f"   {how}: alone {times['alone']:.2f} s, beside page drawing "
            f"{times['beside page drawing']:.2f} s ({times['beside page drawing'] / times['alone']:.1f}x)"
        )
    if had_workers:  # section 3's sweep trains its groups in the workers, as before this section
        processes.start(torch.get_num_threads()).join()


def _met(seconds: float, target: float, applies: bool) -> str:
    """Whether a figure meets its target (set for the default GRU on a CPU, sweeps of 5 seeds)."""
    if not applies:
        return ", which is set for the default GRU on a CPU and 5 seeds"
    return ": met" if seconds <= target else ": NOT met"


def _default(args) -> bool:
    return args.cell == "gru" and args.device == "cpu"


def target_runs(args, how: str) -> dict:
    """`--repeats` runs of each scenario at the defaults, printed (the median run's strategies);
    the median runs by scenario."""
    results = {}
    for scenario in rnn.SCENARIOS:
        runs = sorted(
            (
                rnn.run(rnn.Config(scenario=scenario, cell=args.cell, device=args.device))
                for _ in range(args.repeats)
            ),
            key=lambda r: r.wall_time,
        )
        result = results[scenario] = runs[len(runs) // 2]
        print(
            f"   {scenario}, groups {how}: whole run {result.wall_time:.2f} s, the median of "
            f"{', '.join(f'{r.wall_time:.2f}' for r in runs)} (target {RUN_TARGET:g} s"
            f"{_met(result.wall_time, RUN_TARGET, _default(args))})"
        )
        for s in result.strategies:
            print(
                f"     {s.strategy:20s} {s.wall_time:6.3f} s   target {s.target_metric:.3f}"
                f"   source {s.source_metric:.3f}"
            )
    return results


if __name__ == "__main__":
    main()
