"""The reference path: each strategy's model trained alone, with ``torch.optim.Adam``.

This is the plain reading of the strategies (see :mod:`.plans`): one model, one optimizer, one
loop. The batched path (:mod:`.batched`) must give its numbers, up to float rounding (losses 1e-4
to 1e-3 relative, accuracies one test example apart), and the tests compare the two. It is also
the way to train a model that ``torch.func`` cannot vmap (``nn.RNN``/``nn.GRU``/``nn.LSTM``):
``run_many(batched=False)``.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from tl_core.engine import measure
from tl_core.engine.plans import (
    ADAM_BETAS,
    ADAM_EPS,
    SOURCE_BATCHES,
    TARGET_BATCHES,
    Plan,
    Twin,
    anchored,
    applicable,
    build_twin,
    clip,
    lr_multiplier,
    minibatches,
    plan_for,
)
from tl_core.engine.types import Domain, Inspect, TransferJob, TransferSettings, same_classes
from tl_core.result import StrategyResult
from tl_core.strategies import SOURCE_ONLY


def run_alone(job: TransferJob, inspect: Inspect = None) -> list[StrategyResult]:
    """The job's strategies one model after another, each with torch.optim.Adam; the results in
    the job's order."""
    shared = same_classes(job.source, job.target)
    block_names = list(job.source_model.blocks.keys())
    results = []
    for name in applicable(job):
        if name == SOURCE_ONLY:
            results.append(measure.source_only(job.source_model, job.source, job.target, inspect))
            continue
        start = time.perf_counter()
        plan = plan_for(name, job.settings, block_names, shared)
        twin = build_twin(plan, job.source_model, job.make_model, job.target, job.seed)
        history = fit(twin, plan, job.source, job.target, job.settings.of(name), job.seed)
        predicted = measure.predict(twin, job.target)
        wall_time = time.perf_counter() - start
        results.append(
            measure.strategy_result(name, history, predicted, job.target, wall_time, twin, inspect)
        )
    return results


def fit(
    twin: Twin, plan: Plan, source: Domain, target: Domain, settings: TransferSettings, seed: int
) -> dict[str, list[float]]:
    """Train `twin` on the target under `plan`; the per-epoch history (epoch 0 = the start).

    Loss per batch: L_target (mean cross-entropy), as L_source + w·L_target for joint, plus
    λ·Σ‖θ − θ₀‖² over the anchored parameters for regularized.
    """
    trained = [(n, p) for n, p in twin.named_parameters() if p.requires_grad]
    groups: dict[float, list] = {}
    for name, p in trained:
        groups.setdefault(settings.lr * lr_multiplier(name, plan), []).append(p)
    optimizer = torch.optim.Adam(
        [{"params": ps, "lr": lr} for lr, ps in groups.items()], betas=ADAM_BETAS, eps=ADAM_EPS
    )
    anchor = {n: p.detach().clone() for n, p in trained if anchored(n, plan)}
    target_batches = torch.Generator().manual_seed(seed + TARGET_BATCHES)
    source_batches = torch.Generator().manual_seed(seed + SOURCE_BATCHES)
    history = measure.empty_history()
    [partial] = measure.history_test_sets([(source, target)], settings.history_rows)
    measure.append(history, 0, measure.measure(twin, *partial))
    for epoch in range(1, settings.epochs + 1):
        twin.train()
        for idx in minibatches(target.n_train, settings.batch_size, target_batches):
            loss = F.cross_entropy(
                twin(target.x_train[idx.to(target.device)]), target.y_train[idx.to(target.device)]
            )
            if plan.joint:
                sidx = torch.randint(source.n_train, (len(idx),), generator=source_batches)
                sidx = sidx.to(source.device)
                source_loss = F.cross_entropy(twin(source.x_train[sidx], head="source"), source.y_train[sidx])
                loss = source_loss + settings.target_weight * loss
            if anchor and plan.lam != 0.0:
                params = dict(trained)
                loss = loss + plan.lam * sum(((params[n] - a) ** 2).sum() for n, a in anchor.items())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip([p for _, p in trained], settings.clip_grad_norm)
            optimizer.step()
        if settings.measures_at(epoch):
            test_sets = partial if epoch < settings.epochs else (source, target)  # the last: every row
            measure.append(history, epoch, measure.measure(twin, *test_sets))
    return history
