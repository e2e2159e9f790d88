"""Many target models trained as one: the engine's fast path.

Like models (equal shapes and schedule) form a group (:func:`group_key`); one ``torch.func.vmap``
over ``functional_call`` runs the forward pass of all of them, plain autograd of the sum of their
losses gives each its own gradient, and a hand-written Adam matching ``torch.optim.Adam`` steps
them (:class:`Stack`), with the batches drawn from each model's own seeded generators. Scratch,
fine-tuning and regularized transfer (which train the same parameters) share a group; joint
training passes its target and source batches through the blocks together. Where the first
blocks are frozen (feature extraction: all of them; partial fine-tuning: the first k), their
outputs never change: they are computed once per data set and source model
(:func:`after_prefix`), and the steps and measurements run only the blocks after them and the
head.

vmap keeps each model's arithmetic its own: a model's numbers are the same whatever else trains
beside it, so a sweep's point equals the single run of the same config and seed. The reference
it is tested against is :mod:`.reference`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from tl_core.engine import measure
from tl_core.engine.plans import (
    ADAM_BETAS,
    ADAM_EPS,
    SOURCE_BATCHES,
    TARGET_BATCHES,
    Plan,
    Twin,
    anchored,
    frozen_prefix,
    lr_multiplier,
    minibatches,
    run_blocks,
)
from tl_core.engine.types import Domain, Inspect, TransferSettings
from tl_core.result import StrategyResult


@dataclass
class Member:
    """One (job, strategy) pair inside a batched group."""

    job: int
    plan: Plan
    twin: Twin
    source: Domain
    target: Domain
    settings: TransferSettings
    seed: int


def group_key(m: Member) -> tuple:
    """Members with equal keys train together: same structure, same schedule, same shapes.

    Strategies that train the same parameters and differ only in where they start, their
    learning rates or λ (scratch, fine-tuning and regularized transfer) share a group: fewer,
    larger batched steps. Joint training, with its extra source pass, trains apart.
    """
    structure = tuple((n, tuple(p.shape), p.requires_grad) for n, p in m.twin.named_parameters())
    return (
        structure,
        m.plan.joint,
        m.settings.epochs,
        m.settings.batch_size,
        m.settings.history_every,
        m.settings.clip_grad_norm,
        str(m.target.device),
        tuple(m.target.x_train.shape[1:]),
        tuple(m.source.x_train.shape[1:]),
    )


def fit_group(
    members: list[Member], progress: Callable[[float], None], inspect: Inspect = None, measurers: int = 1
) -> list[StrategyResult]:
    """Train a group of like members together, with vmap; measure them `measurers` at a time
    (threads). The results in the members' order."""
    start = time.perf_counter()
    plan, settings = members[0].plan, members[0].settings  # what the group key makes common
    # Members with more steps per epoch go first, so at every step the active ones are a prefix.
    order = sorted(range(len(members)), key=lambda i: -members[i].target.n_train)
    members = [members[i] for i in order]
    base, stack = members[0].twin, Stack.of(members)
    # Frozen leading blocks (feature extraction, partial fine-tuning) run once on each data set;
    # the steps and measurements start after them. Joint training reads raw source batches.
    skipped = 0 if plan.joint else frozen_prefix(base)
    domains = (
        after_prefix(members, stack.params, skipped) if skipped else [(m.source, m.target) for m in members]
    )
    base.skip = skipped
    pools = {
        key: Pool([getattr(pair[side], attr) for pair in domains])
        for key, side, attr in (
            ("tx", 1, "x_train"),
            ("ty", 1, "y_train"),
            ("sx", 0, "x_train"),
            ("sy", 0, "y_train"),
        )
    }
    seen: dict = {}  # measurements already made, for measure_group to reuse
    pool = measure.Measurers(base, measurers) if measurers > 1 and len(members) > 1 else None
    histories = [measure.empty_history() for _ in members]
    partial = measure.history_test_sets(domains, settings.history_rows)

    def measure_all(epoch: int) -> dict[str, list]:
        test_sets = partial if epoch < settings.epochs else domains  # the last epoch: every row
        numbers = measure.measure_group(base, stack.params, test_sets, seen, pool)
        for i, h in enumerate(histories):
            measure.append(
                h,
                epoch,
                {k: numbers[k][i] for k in ("source_metric", "target_metric", "source_loss", "target_loss")},
            )
        return numbers

    try:
        numbers = measure_all(0)
        gradients = group_gradients(base, plan.joint, stack.anchored)
        gens = [torch.Generator().manual_seed(m.seed + TARGET_BATCHES) for m in members]
        joint_gens = [torch.Generator().manual_seed(m.seed + SOURCE_BATCHES) for m in members]
        for epoch in range(1, settings.epochs + 1):
            batches = epoch_indices(members, gens, joint_gens, settings.batch_size, plan.joint)
            train_epoch(stack, gradients, pools, batches, settings.clip_grad_norm, plan.joint)
            if settings.measures_at(epoch):
                numbers = measure_all(epoch)
            progress(epoch / settings.epochs)
    finally:
        if pool:
            pool.shutdown()
    base.skip = 0
    stack.write_back(members)
    predicted = [p.cpu().numpy() for p in numbers["predicted"]]
    wall_time = (time.perf_counter() - start) / len(members)
    results = [
        measure.strategy_result(m.plan.strategy, h, predicted[i], m.target, wall_time, m.twin, inspect)
        for i, (m, h) in enumerate(zip(members, histories))
    ]
    restore = sorted(range(len(order)), key=lambda i: order[i])
    return [results[i] for i in restore]


class Pool:
    """The distinct tensors of several members concatenated once, with each member's offset.

    Members often share a domain (seeds of one source, say); each distinct tensor is stored once.
    """

    def __init__(self, tensors: list[torch.Tensor]):
        distinct: dict[int, int] = {}
        parts, offsets, start = [], [], 0
        for t in tensors:
            if id(t) not in distinct:
                distinct[id(t)] = start
                parts.append(t)
                start += t.shape[0]
            offsets.append(distinct[id(t)])
        self.data = torch.cat(parts) if len(parts) > 1 else parts[0]
        self.offsets = torch.tensor(offsets, device=self.data.device)

    def take(self, idx: torch.Tensor) -> torch.Tensor:
        """Rows idx[m, ...] of member m's tensor, for the first len(idx) members."""
        shift = self.offsets[: idx.shape[0]].view(-1, *([1] * (idx.dim() - 1)))
        return self.data[idx + shift]


def epoch_indices(
    members: list[Member], gens: list[torch.Generator], joint_gens: list, batch_size: int, joint: bool
):
    """This epoch's minibatches of every member, padded to one [M, S, B] block.

    Returns target indices, their weights (1 = real sample, 0 = padding), source indices for
    joint (or None) and the number of steps of each member. The random draws are exactly those
    of the reference path, member by member, so both paths see the same batches.
    """
    steps = [-(-m.target.n_train // batch_size) for m in members]
    shape = (len(members), max(steps), batch_size)
    idx = torch.zeros(shape, dtype=torch.long)
    weight = torch.zeros(shape)
    source_idx = torch.zeros(shape, dtype=torch.long) if joint else None
    for i, m in enumerate(members):
        for s, batch in enumerate(minibatches(m.target.n_train, batch_size, gens[i])):
            idx[i, s, : len(batch)] = batch
            weight[i, s, : len(batch)] = 1.0
            if joint:
                source_idx[i, s, : len(batch)] = torch.randint(
                    m.source.n_train, (len(batch),), generator=joint_gens[i]
                )
    return idx, weight, source_idx, steps


def group_gradients(base: nn.Module, joint: bool, anchored_names: list[str]):
    """A function giving every member's gradient of its own training loss (the reference's loss).

    The forward pass is vmapped over members (one grouped convolution for all of them); the
    backward pass is plain autograd of the SUM of the members' losses: member m's loss depends on
    its own parameters only, so ∂(Σ losses)/∂θ_m = ∂loss_m/∂θ_m. These are the numbers
    vmap(grad(loss)) gives, found faster: the backward runs as ordinary batched operations.
    `base` is the group's Twin (its `skip` says which blocks the inputs have passed already).
    """
    from torch.func import functional_call, vmap

    target_logits = vmap(lambda params, x: functional_call(base, params, (x,)))
    # Joint training scores a target batch and a source batch: one pass of the blocks for both.
    pair_logits = vmap(lambda params, x, xs: functional_call(base, params, (x,), {"x_source": xs}))

    def mean_ce(logits, y, w):  # [k, B, classes], [k, B], [k, B] -> [k]: each member's mean
        return (F.cross_entropy(logits.transpose(1, 2), y, reduction="none") * w).sum(1) / w.sum(1)

    def gradients(trained, fixed, anchor, x, y, w, xs, ys, lam, target_weight):
        """`lam[n]`: each member's λ for anchored parameter n (0 where its plan does not anchor n)."""
        with torch.enable_grad():
            leaves = {n: t.detach().requires_grad_() for n, t in trained.items()}
            params = {**fixed, **leaves}
            if joint:
                target_scores, source_scores = pair_logits(params, x, xs)
                losses = mean_ce(source_scores, ys, w) + target_weight * mean_ce(target_scores, y, w)
            else:
                losses = mean_ce(target_logits(params, x), y, w)
            if anchored_names:
                losses = losses + sum(
                    lam[n] * ((leaves[n] - anchor[n]) ** 2).flatten(1).sum(1) for n in anchored_names
                )
            return dict(zip(leaves, torch.autograd.grad(losses.sum(), list(leaves.values()))))

    return gradients


def clip_each(grads: dict[str, torch.Tensor], max_norm: float | None) -> None:
    """plans.clip for every stacked member at once: member m's gradient (first axis) is rescaled
    by min(1, max_norm / (‖g_m‖ + 1e-6)), its norm over all its trained parameters, as
    torch.nn.utils.clip_grad_norm_ does for one model."""
    if max_norm is None:
        return
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads.values():
        g.mul_(scale.view((-1,) + (1,) * (g.dim() - 1)))


@torch.no_grad()  # not inference_mode: the outputs are inputs of training steps, saved for backward
def after_prefix(members: list[Member], stacked: dict, k: int) -> list[tuple[Domain, Domain]]:
    """Each member's (source, target) as seen after its first k (frozen) blocks: the target's
    training and test inputs and the source's test inputs, run through those blocks once.

    Members whose frozen blocks hold the same weights (a seed's source model) and read the same
    data share one computed tensor, so later measurements of equal weights are reused too.
    """
    from torch.func import functional_call

    prefix = Prefix(members[0].twin.model, k)
    outputs: dict[tuple, torch.Tensor] = {}

    def run(params: dict, weights: bytes, x: torch.Tensor) -> torch.Tensor:
        key = (id(x), weights)
        if key not in outputs:
            outputs[key] = functional_call(prefix, params, (x,))
        return outputs[key]

    domains = []
    for i, m in enumerate(members):
        params = {n: t[i] for n, t in stacked.items() if prefix.reads(n)}
        weights = measure.fingerprint([params[n] for n in sorted(params)])
        source = Domain(
            m.source.x_train,
            m.source.y_train,
            run(params, weights, m.source.x_test),
            m.source.y_test,
            m.source.classes,
        )
        target = Domain(
            run(params, weights, m.target.x_train),
            m.target.y_train,
            run(params, weights, m.target.x_test),
            m.target.y_test,
            m.target.classes,
        )
        domains.append((source, target))
    return domains


class Prefix(nn.Module):
    """The first k blocks of a model, for functional_call (parameter names as in Twin)."""

    def __init__(self, model: nn.Module, k: int):
        super().__init__()
        self.model, self.names = model, list(model.blocks)[:k]

    def reads(self, name: str) -> bool:
        """Whether parameter `name` (of a Twin) belongs to these blocks."""
        return name.startswith("model.blocks.") and name.split(".")[2] in self.names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self.model, x, 0, len(self.names))


@dataclass
class Stack:
    """A group's parameters stacked member-first (the members' order), with what each member's
    steps need: its learning rate per trained parameter, its λ per anchored one (0 where its
    plan does not anchor it: scratch and fine-tuning beside regularized transfer), its weight w
    of L_target (joint), and its Adam state."""

    params: dict[str, torch.Tensor]
    trained: list[str]  # alike in all members (the group key says so)
    fixed: list[str]  # the others
    anchored: list[str]  # pulled toward the source by some member (L2-SP)
    anchor: dict[str, torch.Tensor]
    lrs: dict[str, torch.Tensor]
    lam: dict[str, torch.Tensor]
    target_weight: torch.Tensor
    exp_avg: dict[str, torch.Tensor]
    exp_avg_sq: dict[str, torch.Tensor]
    steps_taken: torch.Tensor

    @classmethod
    def of(cls, members: list[Member]) -> Stack:
        base = members[0].twin
        names = [n for n, _ in base.named_parameters()]
        trained = [n for n, p in base.named_parameters() if p.requires_grad]
        pulled = [n for n in trained if any(anchored(n, m.plan) for m in members)]
        params = {
            n: torch.stack([dict(m.twin.named_parameters())[n].detach() for m in members]) for n in names
        }
        device = params[names[0]].device

        def per_member(value, **kwargs) -> torch.Tensor:
            return torch.tensor([value(m) for m in members], **kwargs)

        return cls(
            params=params,
            trained=trained,
            fixed=[n for n in names if n not in trained],
            anchored=pulled,
            anchor={n: params[n].clone() for n in pulled},
            lrs={
                n: per_member(lambda m: m.settings.lr * lr_multiplier(n, m.plan), dtype=torch.float64)  # noqa: B023
                for n in trained
            },
            lam={
                n: per_member(lambda m: m.plan.lam if anchored(n, m.plan) else 0.0, device=device)  # noqa: B023
                for n in pulled
            },
            target_weight=per_member(lambda m: m.settings.target_weight, device=device),
            exp_avg={n: torch.zeros_like(params[n]) for n in trained},
            exp_avg_sq={n: torch.zeros_like(params[n]) for n in trained},
            steps_taken=torch.zeros(len(members), dtype=torch.long),
        )

    @property
    def device(self) -> torch.device:
        return next(iter(self.params.values())).device

    def first(self, k: int) -> tuple:
        """The gradient function's arguments that come from the stack, for the first k members:
        trained, fixed and anchor parameters, λ and w."""
        return (
            {n: self.params[n][:k] for n in self.trained},
            {n: self.params[n][:k] for n in self.fixed},
            {n: self.anchor[n][:k] for n in self.anchored},
            {n: t[:k] for n, t in self.lam.items()},
            self.target_weight[:k],
        )

    def adam_step(self, grads: dict[str, torch.Tensor], k: int) -> None:
        """torch.optim.Adam's update (no weight decay) on the first k members, each with its own
        step count and learning rate: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g²,
        θ ← θ − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε)."""
        beta1, beta2 = ADAM_BETAS
        self.steps_taken[:k] += 1
        t = self.steps_taken[:k].double()
        bias1 = 1 - beta1**t
        bias2_sqrt = torch.sqrt(1 - beta2**t)
        for name, g in grads.items():
            shape = (k,) + (1,) * (g.dim() - 1)
            m, v = self.exp_avg[name][:k], self.exp_avg_sq[name][:k]
            m.lerp_(g, 1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            # Per-member scalars are worked out in float64 on the CPU (as torch.optim.Adam does
            # in Python floats), then cast and moved next to the parameters (CUDA and MPS alike).
            step_size = (self.lrs[name][:k] / bias1).to(g.dtype).to(g.device).view(shape)
            denom = (v.sqrt() / bias2_sqrt.to(g.dtype).to(g.device).view(shape)).add_(ADAM_EPS)
            self.params[name][:k].sub_(step_size * m / denom)

    @torch.no_grad()
    def write_back(self, members: list[Member]) -> None:
        """Give the trained weights back to each member's model (for `inspect`)."""
        for i, m in enumerate(members):
            for n, p in m.twin.named_parameters():
                p.copy_(self.params[n][i])


def train_epoch(
    stack: Stack,
    gradients: Callable,
    pools: dict[str, Pool],
    batches: tuple,
    clip_grad_norm: float | None,
    joint: bool,
) -> None:
    """One epoch of batched steps: step s trains the first k members, those that have an s-th
    batch (the members come longest first)."""
    idx, weight, source_idx, steps = batches
    idx, weight = idx.to(stack.device), weight.to(stack.device)
    for s in range(max(steps)):
        k = sum(1 for n in steps if n > s)
        x, y = pools["tx"].take(idx[:k, s]), pools["ty"].take(idx[:k, s])
        if joint:
            sidx = source_idx[:k, s].to(stack.device)
            xs, ys = pools["sx"].take(sidx), pools["sy"].take(sidx)
        else:
            xs, ys = x, y  # unused by the loss
        trained, fixed, anchor, lam, target_weight = stack.first(k)
        grads = gradients(trained, fixed, anchor, x, y, weight[:k, s], xs, ys, lam, target_weight)
        clip_each(grads, clip_grad_norm)
        stack.adam_step(grads, k)
