"""How fast the RNN demo is: prints figures, asserts nothing.

    python benchmarks/bench_rnn.py [--threads N] [--seeds 5] [--device cpu] [--cell gru]

1. Source training per scenario: seconds (data generation included, caches cold) and source
   test accuracy, at the fast default and (with --full) at the full-quality preset.
2. One target run per strategy (default config, source model cached): seconds each.
3. A data-efficiency sweep, 6 target sizes x all strategies x `--seeds` seeds, through
   rnn.run_many (what the app's sweeps call).
4. The engine's two paths on a smaller sweep: one by one (torch's fused recurrent kernels) and
   batched (vmap over the step-by-step loop), with the speed-up and the largest difference.
   rnn.run_many takes the batched path on a GPU only: on a CPU the fused kernels win.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from tl_core import torch_engine  # noqa: E402
from tl_core.demos import rnn, rnn_data  # noqa: E402
from tl_core.runtime import configure_torch_threads  # noqa: E402

SIZES = (1, 2, 5, 10, 20, 50)
SMALL_SIZES, SMALL_SEEDS = (1, 2, 5), 2  # the vmap comparison: small, as vmap is slow on a CPU


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: these tiny recurrences gain nothing "
                             "from more, and lose much when other work shares the cores; "
                             "0 = runtime's choice)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cell", default="gru", choices=rnn.CELLS)
    parser.add_argument("--full", action="store_true", help="also time the full-quality preset")
    args = parser.parse_args()
    threads = configure_torch_threads(args.threads)
    print(f"torch {torch.__version__}, {threads} thread(s), device {args.device}, cell {args.cell}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    print("\n1. source training (data generation included)")
    for quality in ("fast", "full") if args.full else ("fast",):
        for scenario in rnn.SCENARIOS:
            rnn_data.mnist1d.cache_clear()
            rnn_data.load_domains.cache_clear()
            config = rnn.Config(scenario=scenario, quality=quality, cell=args.cell, device=args.device)
            start = time.perf_counter()
            accuracy = rnn.source_accuracy(config)
            seconds = time.perf_counter() - start
            digits = "10 digits" if scenario == "shift" else "digits 0-4"
            print(f"   {quality:4s} {scenario:12s} {seconds:6.2f} s   source test accuracy "
                  f"{accuracy:.3f} ({digits})")

    print("\n2. one target run per strategy (default config, source model cached)")
    for scenario in rnn.SCENARIOS:
        result = rnn.run(rnn.Config(scenario=scenario, cell=args.cell, device=args.device))
        print(f"   {scenario}: whole run {result.wall_time:.2f} s")
        for s in result.strategies:
            print(f"     {s.strategy:20s} {s.wall_time:6.3f} s   target {s.target_metric:.3f}"
                  f"   source {s.source_metric:.3f}")

    print(f"\n3. sweep: n_target in {SIZES} x {len(rnn.STRATEGIES)} strategies x {args.seeds} seeds"
          " (new_classes, defaults), through rnn.run_many")
    configs = [rnn.Config(n_target=n, seed=seed, cell=args.cell, device=args.device)
               for seed in range(args.seeds) for n in SIZES]
    start, cpu = time.perf_counter(), time.process_time()
    rnn.run_many(configs)
    print(f"   {time.perf_counter() - start:6.2f} s wall, {time.process_time() - cpu:6.2f} s CPU for "
          f"{len(configs)} runs (history measured at the start and end only; the CPU time is the "
          f"figure to read when other work shares the cores)")
    one_seed = [c for c in configs if c.seed == 0]
    for every, label in ((1, "every epoch"), (None, "start and end")):
        jobs = [rnn.transfer_job(c, history_every=every or c.epochs) for c in one_seed]
        cpu = time.process_time()
        torch_engine.run_many(jobs, batched=False)
        print(f"   one seed, history {label:13s}: {time.process_time() - cpu:6.2f} s CPU")

    few = [c for c in configs if c.n_target in SMALL_SIZES and c.seed < SMALL_SEEDS]
    print(f"\n4. one by one vs batched (the engine's vmap), n_target in {SMALL_SIZES} x "
          f"{SMALL_SEEDS} seeds")
    jobs = [rnn.transfer_job(c) for c in few]
    timings, results = {}, {}
    for batched in (False, True):
        start = time.perf_counter()
        results[batched] = torch_engine.run_many(jobs, batched=batched)
        timings[batched] = time.perf_counter() - start
    difference = max(abs(a.target_metric - b.target_metric)
                     for ra, rb in zip(results[False], results[True]) for a, b in zip(ra, rb))
    print(f"   one by one {timings[False]:6.2f} s   batched {timings[True]:6.2f} s   speed-up "
          f"{timings[False] / timings[True]:.2f}x   largest target-accuracy difference "
          f"{difference:.4f}")
    print(f"   rnn.run_many uses the {'one-by-one' if args.device == 'cpu' else 'batched'} path "
          f"on {args.device}")

if __name__ == "__main__":
    main()
