"""What the two torch demos share: the CNN and the RNN differ in data, model and pictures, and run
alike.

A run resolves its device once (:func:`device_of`) and passes it down; it makes the engine's job
for its config (the demo's target domain first, then its cached source model), lets
:mod:`tl_core.engine` train every strategy, and gives back a RunResult. Many configs train
together (batched), each as it would alone; a strategy's trained weights are had by training it
again with the config's seed. What differs between the demos, each says in a :class:`TorchDemo`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tl_core import engine, strategies
from tl_core.config import DemoConfig
from tl_core.result import RunResult
from tl_core.runtime import pick_device

Progress = Callable[[float, str], None] | None
PREPARING = 0.2  # the share of many runs' progress spent on their data and source models
PREPARING_WORDS = "preparing source models and data"


def device_of(config: DemoConfig) -> str:
    """The torch device runs of `config` train on: its `device` field, where "auto" reads
    TL_DEVICE, else the hardware (:func:`tl_core.runtime.pick_device`). A run calls it once and
    passes the answer down."""
    return pick_device(config.device)


def history_every(requested: int | None, *epochs: int) -> int:
    """How often a run's history measures: every `requested` epochs, or, for None, just at the
    start and the end of the longest of the trainings that last `epochs` (all a sweep reads)."""
    return requested or max(epochs)


@dataclass(frozen=True)
class TorchDemo:
    """What a torch demo tells the shared runs."""

    config: type[DemoConfig]  # its Config (target_weights reads a dict of it)
    strategies: tuple[str, ...]  # its STRATEGIES
    metric: str
    loss: str
    # transfer_job(config, history_every, progress, data, device) -> engine.TransferJob: the
    # target domain first (data that does not fit the config fails before any training)
    transfer_job: Callable[..., engine.TransferJob]
    # extras(config, job, data, device) -> the RunResult's extras, after the job has trained
    extras: Callable[..., dict[str, Any]]
    yours: str  # a user's data, in an error message: "with your images ({name})"
    inspect: Callable | None = None  # what the engine keeps of each trained model (its filters)


def _result(demo: TorchDemo, config, job, results, wall_time: float, data, device: str) -> RunResult:
    return RunResult(
        demo=config.demo,
        config=config.to_dict(),
        metric_name=demo.metric,
        loss_name=demo.loss,
        strategies=results,
        extras=demo.extras(config, job, data, device),
        wall_time=wall_time,
    )


def run(demo: TorchDemo, config, progress: Progress, data: Any, history_every: int | None = 1) -> RunResult:
    """Train (or fetch) the source model, then carry it to the target with each strategy."""
    start = time.perf_counter()
    device = device_of(config)
    job = demo.transfer_job(config, history_every, progress, data, device)
    results = engine.run_many([job], progress=progress, inspect=demo.inspect)[0]
    return _result(demo, config, job, results, time.perf_counter() - start, data, device)


def run_many(
    demo: TorchDemo,
    configs: Sequence,
    progress: Progress = None,
    data: Any = None,
    history_every: int | None = None,
) -> list[RunResult]:
    """`run` for each config, the target models of all of them trained together; each config's
    numbers are those of its run alone. By default (None) the history holds just the start and
    the end, all a sweep reads; `history_every=1` records every epoch, as `run` does.

    Progress: the first PREPARING of the way prepares each config's data and source model, the
    rest is the training."""
    start = time.perf_counter()
    devices = [device_of(c) for c in configs]
    jobs = []
    for i, (config, device) in enumerate(zip(configs, devices)):
        if progress:
            progress(PREPARING * i / len(configs), PREPARING_WORDS)

        def preparing(fraction: float, message: str, i: int = i) -> None:
            if progress:
                progress(PREPARING * (i + fraction) / len(configs), message)

        jobs.append(demo.transfer_job(config, history_every, preparing, data, device))

    def training(fraction: float, message: str) -> None:
        if progress:
            progress(PREPARING + (1 - PREPARING) * fraction, message)

    many = engine.run_many(jobs, progress=training, inspect=demo.inspect)
    wall_time = (time.perf_counter() - start) / max(len(configs), 1)
    return [
        _result(demo, config, job, results, wall_time, data, device)
        for config, job, results, device in zip(configs, jobs, many, devices)
    ]


def target_weights(demo: TorchDemo, config, strategy: str, data: Any = None) -> bytes:
    """The trained target model of `strategy` for `config` (a Config or its dict), as safetensors
    bytes: trained again alone with the config's seed, it is the very model `run(config,
    data=data)` trained; the source model comes from the cache. ValueError, before any training,
    naming the strategies allowed: no source_only where the target's classes are new (the
    new_classes scenario, or a user's data)."""
    config = demo.config.from_dict(config) if isinstance(config, dict) else config
    same_classes = data is None and config.scenario != "new_classes"
    allowed = strategies.applicable(demo.strategies, same_classes)
    if strategy not in allowed:
        where = demo.yours.format(name=data.name) if data is not None else f"in {config.scenario}"
        raise ValueError(f"strategy must be one of {', '.join(allowed)} {where}, got {strategy!r}")
    job = demo.transfer_job(config, 1, None, data, device_of(config))
    return engine.weights_bytes(engine.trained_model(strategy, job))
