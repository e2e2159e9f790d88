"""The Python API, as short as the command line: `run`, `sweep`, `prepare` (a sweep's tables: tl_core.tables).

import tl_core
result = tl_core.run("linear", n_target=5)
table = tl_core.sweep("linear", over="n_target", values=[2, 5, 10, 50], seeds=5)
tl_core.plots.data_efficiency(table).show()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from tl_core import lecture, store
from tl_core.config import DemoConfig
from tl_core.demos import get_demo
from tl_core.lessons import DEMO_TITLES
from tl_core.limits import LIMITS, timed
from tl_core.result import RunResult
from tl_core.tables import sweep_table
from tl_core.userdata import UserData

Progress = Callable[[float, str], None]


def make_config(demo: str, **fields: Any) -> DemoConfig:
    """The config of `demo` with `fields` changed from the defaults (checked: ValueError if bad)."""
    return get_demo(demo).Config.from_dict(fields)


def run(
    demo: str,
    config: DemoConfig | None = None,
    progress: Progress | None = None,
    data: UserData | None = None,
    use_store: bool = True,
    **fields: Any,
) -> RunResult:
    """Run one experiment of `demo`: every strategy from the source to the target task.

    `data` (see tl_core.userdata) replaces the built-in scenario's data with a user's own. A
    result computed before on this machine, with the same config, data and code, is read back
    from the store of results (tl_core.store) instead of trained again; `use_store=False`
    computes it afresh and keeps nothing.
    """
    module = get_demo(demo)
    config = config if config is not None else module.Config.from_dict(fields)
    with_data = _with_data(module, data)
    progress = timed(progress, f"This run of the {DEMO_TITLES.get(demo, demo)} demo", _advice(config))

    def train() -> RunResult:
        started = time.perf_counter()
        result = module.run(config, progress=progress, **with_data)
        result.wall_time = time.perf_counter() - started
        return result

    if not use_store:
        return train()
    waiting = (lambda: progress(0.0, store.WAITING)) if progress else None
    return store.run(config, data, train, waiting)


def stored_run(
    demo: str, config: DemoConfig | None = None, data: UserData | None = None, **fields: Any
) -> RunResult | None:
    """The stored result `run` would give for these settings, or None: never trains."""
    module = get_demo(demo)
    config = config if config is not None else module.Config.from_dict(fields)
    _with_data(module, data)
    return store.stored_run(config, data)


def prepare(
    demos: Sequence[str] = (),
    seeds: int = lecture.SWEEP_SEEDS,
    report: Callable[[str], None] | None = None,
    grid: bool = True,
) -> list[str]:
    """Compute, once per machine, what a lecture asks for, so that its pages answer at once.

    First what every run starts from: each scenario's generated data and trained source model,
    for seeds 0 to `seeds` - 1 (a page's default seed and, with 3, the seeds of its sweeps),
    kept in the disk cache (tl_core.diskcache). Then, with `grid`, the lecture grid
    (:func:`tl_core.lecture.grid`): each scenario's defaults, each main control (gap, labelled
    samples, λ) moved alone across every stop of its slider, and the pages' and the Compare
    page's sweeps with `seeds` seeds, trained batched and kept in the store of results
    (tl_core.store), which every later process, session and replica on the machine reads.
    A course host runs it before class; a second call trains only what is missing. Returns (and
    reports, as each is done) one line per step.

    `demos`: the demos to prepare (default: all). ValueError when the disk cache is off, since
    nothing would be kept.
    """
    from tl_core import diskcache
    from tl_core.demos import available_demos

    if diskcache.cache_dir() is None:
        raise ValueError(
            f"the disk cache is off ({diskcache.ENV}={diskcache.OFF}): nothing "
            f"prepared would be kept; unset {diskcache.ENV} or give it a folder"
        )
    if isinstance(seeds, bool) or not isinstance(seeds, int) or not 1 <= seeds <= LIMITS.max_seeds:
        raise ValueError(f"seeds must be an integer from 1 to {LIMITS.max_seeds}, got {seeds!r}")
    modules = {name: get_demo(name) for name in demos or available_demos()}  # names checked first
    lines = []

    def done(line: str) -> None:
        lines.append(line)
        if report:
            report(line)

    for name, module in modules.items():
        if module.OFFERS.prepare:
            for scenario in module.Config.field("scenario").choices:
                started = time.perf_counter()  # per scenario: a seed may share its model with others
                for seed in range(seeds):
                    module.OFFERS.prepare(module.Config(scenario=scenario, seed=seed))
                which = "seed 0" if seeds == 1 else f"seeds 0 to {seeds - 1}"
                done(f"{name} {scenario}, {which}: data and source model ready ({_since(started)})")
        if grid:
            _prepare_grid(name, module, lecture.grid(module, seeds=seeds), done)
    return lines


def _prepare_grid(name: str, module, grid: lecture.Grid, done: Callable[[str], None]) -> None:
    """Compute the grid's runs (batched where the demo trains batched) and sweeps into the store."""
    started = time.perf_counter()
    missing = [config for config in grid.runs if store.stored_run(config) is None]
    run_many = module.OFFERS.run_many
    if missing and run_many:  # every epoch measured, as a single run does
        for config, result in zip(missing, run_many(missing, history_every=1)):
            store.keep_run(config, None, result)
    else:
        for config in missing:
            run(name, config=config)
    computed = f"{len(missing)} computed"
    done(f"{name}: {len(grid.runs)} runs of the lecture grid ready, {computed} ({_since(started)})")
    started = time.perf_counter()
    points = 0
    for s in grid.sweeps:
        sweep(name, s.over, s.values, s.seeds, **s.fields())
        points += len(s.values) * s.seeds
    done(f"{name}: {len(grid.sweeps)} sweeps ({points} points) ready ({_since(started)})")


def _since(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


def sweep_configs(
    demo: str, over: str, values: Sequence[Any], seeds: int | Sequence[int] = 5, **fields: Any
) -> list[DemoConfig]:
    """One config per (value, seed): `seeds` is a count (seed, seed+1, ...) or a list of seeds."""
    Config = get_demo(demo).Config
    Config.field(over)  # an unknown setting fails here, naming the demo's settings
    if over == "seed":
        raise ValueError("sweep over seeds with seeds=..., not over='seed'")
    base = Config.from_dict(fields)
    seed_list = list(range(base.seed, base.seed + seeds)) if isinstance(seeds, int) else list(seeds)
    if not seed_list or not values:
        raise ValueError("a sweep needs at least one value and one seed")
    if len(values) > LIMITS.max_sweep_values:
        raise ValueError(f"a sweep takes at most {LIMITS.max_sweep_values} values, got {len(values)}")
    if len(seed_list) > LIMITS.max_seeds:
        raise ValueError(f"a sweep takes at most {LIMITS.max_seeds} seeds, got {len(seed_list)}")
    return lecture.sweep_points(base, over, values, seed_list)


def sweep(
    demo: str,
    over: str,
    values: Sequence[Any],
    seeds: int | Sequence[int] = 5,
    progress: Progress | None = None,
    data: UserData | None = None,
    use_store: bool = True,
    **fields: Any,
) -> pd.DataFrame:
    """Run `demo` over `values` of the config field `over`, times several seeds.

    Returns a tidy table, one row per value x seed x strategy, with the target-metric gain over
    scratch for the same value and seed in `gain`. Demos with a batched `run_many` train all the
    small target models together; the numbers are the same either way. `data`: as for `run`.
    Each point (a value and a seed) is kept in the store of results: the points computed before
    are read back, only the others are trained (`use_store=False`: all, keeping nothing).
    """
    module = get_demo(demo)
    configs = sweep_configs(demo, over, values, seeds, **fields)
    with_data = _with_data(module, data)
    count = len(configs) // len(values)
    progress = timed(
        progress,
        f"This sweep of {over} ({len(values)} values × {count} seed{'s' if count > 1 else ''})",
        "Fewer values or seeds take less time. " + _advice(configs[0]),
    )

    def train(configs: list[DemoConfig]) -> list[RunResult]:
        if module.OFFERS.run_many:
            return module.OFFERS.run_many(configs, progress=progress, **with_data)
        results = []
        for i, config in enumerate(configs):
            results.append(module.run(config, **with_data))
            if progress:
                progress((i + 1) / len(configs), f"run {i + 1} of {len(configs)}")
        return results

    results = store.sweep_points(configs, data, train) if use_store else train(configs)
    return sweep_table(results, over)


def stored_sweep(
    demo: str,
    over: str,
    values: Sequence[Any],
    seeds: int | Sequence[int] = 5,
    data: UserData | None = None,
    **fields: Any,
) -> pd.DataFrame | None:
    """The table `sweep` would give when every one of its points is stored, else None: never
    trains."""
    module = get_demo(demo)
    configs = sweep_configs(demo, over, values, seeds, **fields)
    _with_data(module, data)
    results = store.stored_sweep_points(configs, data)
    return None if results is None else sweep_table(results, over)


def _advice(config: DemoConfig) -> str:
    """What would make a run of `config` shorter: its counts and sizes above their defaults."""
    default = type(config)()
    larger = [
        f"{name} {value} (default {getattr(default, name)})"
        for name, value in config.to_dict().items()
        if type(value) is int and name != "seed" and value > getattr(default, name)
    ]
    if not larger:
        return "Its settings are the defaults: the host's cap is lower than this demo needs."
    return f"Lower these settings, which make it longer: {', '.join(larger)}."


def _with_data(module, data: UserData | None) -> dict[str, Any]:
    """The `data=` keyword for the demo's run, checked to be the kind the demo takes."""
    if data is None:
        return {}
    wanted = module.OFFERS.user_data
    if wanted != data.kind:
        takes = f"takes {wanted} data" if wanted else "takes no user data"
        raise ValueError(f"the {module.Config.demo} demo {takes}, got {data.kind} data ({data.name})")
    return {"data": data}
