"""What a demo calls to transfer: one run (:func:`run_strategies`), many (:func:`run_many`),
and one strategy's trained model for export (:func:`trained_model`).

Every job's strategies become plans; like models of all the jobs form groups trained together
(:mod:`.batched`), the groups side by side on the CPU (:mod:`.parallel`), the costliest first.
A job's numbers do not depend on the other jobs: a sweep's point equals the single run of the
same config and seed. ``run_many(batched=False)`` trains one model at a time instead
(:mod:`.reference`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from torch import nn

from tl_core.engine.batched import Member, fit_group, group_key
from tl_core.engine.measure import source_only
from tl_core.engine.parallel import on_one_core, parallel_groups
from tl_core.engine.plans import allowed_strategies, applicable, build_twin, plan_for
from tl_core.engine.reference import run_alone
from tl_core.engine.types import (
    Domain,
    Inspect,
    MakeModel,
    Progress,
    TransferJob,
    TransferSettings,
    same_classes,
)
from tl_core.result import StrategyResult
from tl_core.strategies import SOURCE_ONLY, label


def run_strategies(
    strategies: Sequence[str],
    source_model: nn.Module,
    make_model: MakeModel,
    source: Domain,
    target: Domain,
    settings: TransferSettings,
    seed: int,
    progress: Progress = None,
    inspect: Inspect = None,
) -> list[StrategyResult]:
    """Carry `source_model` to `target` with each strategy; the results in the given order.

    `source_only` is left out when the classes differ (the source head cannot name them).
    `inspect(model)`, when given, is called with each strategy's trained model (blocks + target
    head) and what it returns (plain data) is added to that strategy's extras. Like models train
    together: these are the numbers run_many gives the same job.
    """
    job = TransferJob(strategies, source_model, make_model, source, target, settings, seed)
    return run_many([job], progress=progress, inspect=inspect)[0]


def run_many(
    jobs: Sequence[TransferJob],
    progress: Progress = None,
    batched: bool = True,
    inspect: Inspect = None,
    side_by_side: int | None = None,
) -> list[list[StrategyResult]]:
    """run_strategies for every job, with like target models trained together.

    Returns one list of StrategyResult per job, in the job's strategy order. Models of the same
    strategy whose shapes and schedule (epochs, batch size) agree form one group, trained at once
    (tl_core.engine.batched); a job's numbers do not depend on the other jobs. `side_by_side`
    groups train at once (None: :func:`parallel_groups`), in worker processes or threads (see
    tl_core.engine.parallel). With `batched=False` each model trains alone with torch.optim.Adam
    (the tests' reference, and the way for models that torch.func cannot vmap).
    """
    if not batched:
        out = []
        for j, job in enumerate(jobs):
            out.append(run_alone(job, inspect))
            if progress:
                progress((j + 1) / len(jobs), f"run {j + 1} of {len(jobs)}")
        return out
    slots: list[list] = []
    groups: dict[tuple, list[tuple[int, int, Member]]] = {}
    for j, job in enumerate(jobs):
        shared = same_classes(job.source, job.target)
        names = applicable(job)
        slots.append([None] * len(names))
        block_names = list(job.source_model.blocks.keys())
        for i, name in enumerate(names):
            if name == SOURCE_ONLY:
                slots[j][i] = source_only(job.source_model, job.source, job.target, inspect)
                continue
            plan = plan_for(name, job.settings, block_names, shared)
            twin = build_twin(plan, job.source_model, job.make_model, job.target, job.seed)
            member = Member(j, plan, twin, job.source, job.target, job.settings.of(name), job.seed)
            groups.setdefault(group_key(member), []).append((j, i, member))
    fitted = _fit_groups(
        [[m for _, _, m in group] for group in groups.values()], progress, inspect, side_by_side
    )
    for group, results in zip(groups.values(), fitted):
        for (j, i, _), result in zip(group, results):
            slots[j][i] = result
    if progress:
        progress(1.0, "done")
    return slots


def trained_model(strategy: str, job: TransferJob) -> nn.Module:
    """The target model `strategy` ends with in `job` (blocks + target head): the very model
    run_strategies trains for it, re-trained alone (every strategy's random streams come from
    the job's seed, not from its place in the run, so alone it trains the same)."""
    allowed = allowed_strategies(job.source, job.target)
    if strategy not in allowed:
        raise ValueError(f"strategy must be one of {', '.join(allowed)} here, got {strategy!r}")
    if strategy == SOURCE_ONLY:
        return job.source_model
    kept: list[nn.Module] = []
    run_strategies(
        [strategy],
        job.source_model,
        job.make_model,
        job.source,
        job.target,
        job.settings,
        job.seed,
        inspect=lambda model: kept.append(model) or {},
    )
    return kept[0]


def weights_bytes(model: nn.Module) -> bytes:
    """The model's state_dict in the safetensors format (contiguous CPU tensors, copied)."""
    from safetensors.torch import save

    return save({name: t.detach().cpu().contiguous().clone() for name, t in model.state_dict().items()})


def _fit_groups(
    groups: list[list[Member]], progress: Progress, inspect: Inspect, side_by_side: int | None
) -> list[list[StrategyResult]]:
    """fit_group for every group, in order, `side_by_side` at a time (None:
    parallel_groups), the costliest first, each on one core (parallel.on_one_core). Each group's
    numbers are its own, whichever thread or process trains it and whatever trains beside it."""
    if not groups:
        return []
    threads = side_by_side or parallel_groups(groups[0][0].target.device)
    at_once = min(len(groups), threads)
    measurers = max(1, threads // at_once)  # threads each group measures with
    order = sorted(range(len(groups)), key=lambda i: -_cost(groups[i]))
    total = sum(len(g) for g in groups)
    fractions = [0.0] * len(groups)
    words = [_group_words([m.plan.strategy for m in g]) for g in groups]

    def track(task: int, fraction: float) -> None:
        fractions[order[task]] = fraction
        if progress:
            running = [words[i] for i in order if fractions[i] < 1.0] or [words[order[-1]]]
            progress(sum(f * len(g) for f, g in zip(fractions, groups)) / total, running[0])

    tasks = [functools.partial(fit_group, groups[i], inspect=inspect, measurers=measurers) for i in order]
    results = on_one_core(tasks, at_once, groups[0][0].target.device, track)
    return [results[order.index(i)] for i in range(len(groups))]


def _cost(members: list[Member]) -> int:
    """A group's work, roughly: its members' batched steps (joint training's count twice)."""
    steps = sum(-(-m.target.n_train // m.settings.batch_size) * m.settings.epochs for m in members)
    return steps * (2 if members[0].plan.joint else 1)


def _group_words(strategies: list[str]) -> str:
    """What a progress message says of a group: its strategies, and how many models it trains."""
    names = list(dict.fromkeys(label(s).lower() for s in strategies))
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    count = len(strategies)
    return f"training {what}" + (f" ({count} models together)" if count > len(names) else "")
