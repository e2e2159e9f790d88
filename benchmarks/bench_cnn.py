"""How fast the CNN demo is: prints figures, asserts nothing.

    python benchmarks/bench_cnn.py [--threads N] [--seeds 5] [--device cpu]

1. Source training per scenario: seconds (data included, caches cold) and source test accuracy.
2. One target run per strategy (default config, source model cached): seconds each.
3. A data-efficiency sweep, 6 target sizes x all strategies x `--seeds` seeds, run one by one
   (demo.run per config) and batched (demo.run_many), with the speed-up and the largest
   difference between the two.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from tl_core.demos import cnn, cnn_data  # noqa: E402
from tl_core.runtime import configure_torch_threads  # noqa: E402

SIZES = (1, 2, 5, 10, 20, 40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = runtime's choice)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    threads = configure_torch_threads(args.threads)
    print(f"torch {torch.__version__}, {threads} thread(s), device {args.device}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    print("\n1. source training (data generation included)")
    for scenario in cnn.SCENARIOS:
        config = cnn.Config(scenario=scenario, device=args.device)
        start = time.perf_counter()
        model, source = cnn.source_model(config)
        seconds = time.perf_counter() - start
        accuracy = cnn.engine.evaluate(model, source)["accuracy"]
        print(f"   {scenario:12s} {seconds:6.2f} s   source test accuracy {accuracy:.3f}")
    cnn_data.glyph_bank.cache_clear()
    start = time.perf_counter()
    cnn_data.glyph_bank()
    print(f"   (rendering every font x pen x digit once: {time.perf_counter() - start:.2f} s, cached)")

    print("\n2. one target run per strategy (default config, source model cached)")
    result = cnn.run(cnn.Config(device=args.device))
    for s in result.strategies:
        print(f"   {s.strategy:20s} {s.wall_time:6.3f} s   target {s.target_metric:.3f}"
              f"   source {s.source_metric:.3f}")
    print(f"   whole run {result.wall_time:.2f} s")

    print(f"\n3. sweep: n_target in {SIZES} x {len(cnn.STRATEGIES)} strategies x {args.seeds} seeds")
    configs = [cnn.Config(n_target=n, seed=seed, device=args.device)
               for seed in range(args.seeds) for n in SIZES]
    start = time.perf_counter()
    for config in configs:
        cnn.source_model(config)
    print(f"   source models for {args.seeds} seeds: {time.perf_counter() - start:.2f} s (then cached)")
    start = time.perf_counter()
    one_by_one = [cnn.run(c) for c in configs]
    t_one = time.perf_counter() - start
    start = time.perf_counter()
    batched = cnn.run_many(configs)
    t_many = time.perf_counter() - start
    diff = max(abs(a.strategy(s.strategy).target_metric - s.target_metric)
               for r, b in zip(one_by_one, batched) for a, s in ((r, x) for x in b.strategies))
    print(f"   one by one {t_one:6.2f} s   batched {t_many:6.2f} s   speed-up {t_one / t_many:.1f}x"
          f"   largest target-accuracy difference {diff:.4f}")


if __name__ == "__main__":
    main()
