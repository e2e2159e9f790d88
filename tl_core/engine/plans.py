"""What each strategy trains, and the training rules every path shares.

A strategy's name and the settings become a :class:`Plan`: where its blocks and head start,
which blocks stay frozen, the learning rate of each parameter, which parameters L2-SP pulls back
to the source. :func:`build_twin` makes the starting model from copies (the source model is never
changed). The batched path (:mod:`.batched`) and the one-model-at-a-time reference
(:mod:`.reference`) both read their rules from here, so that they train alike.

Strategies (``settings`` = :class:`TransferSettings`); f = blocks, h = head, θ₀ the source weights:

- ``scratch``: fresh f and h, trained on the target only. The baseline: it trains for
  ``scratch_epochs`` where set (fresh weights take longer to learn than transferred ones).
- ``source_only``: the source model as it is (only when source and target classes match).
- ``feature_extraction``: f = source blocks, all frozen; a new h is trained.
- ``partial_fine_tune``: the first ``partial_blocks`` blocks frozen; the rest and h trained.
- ``fine_tune``: everything trained from θ₀; transferred blocks use the learning rate
  ``lr * backbone_lr_scale``.
- ``regularized`` (L2-SP): fine-tune minimising L_target + λ‖θ − θ₀‖² over the transferred
  parameters (the blocks, and the head when the classes match). λ = 0 is exactly ``fine_tune``.
- ``joint``: from θ₀, minimise L_source + w·L_target (w = ``target_weight``); each target batch is
  paired with a random source batch of the same size. With different classes, the source head is
  kept and trained beside the new target head.

The head: when source and target share classes (``Domain.classes`` equal), ``partial_fine_tune``,
``fine_tune``, ``regularized`` and ``joint`` keep and train the source head; otherwise (and always
for ``feature_extraction``) a fresh head is trained.

Training: Adam, minibatches drawn as index slices of a permutation from a ``torch.Generator``
seeded by the run's seed (the same batch order for every strategy of a run); an epoch is one pass
over the target training set. Every random stream of a strategy comes from the job's seed, not
from its place in the run, so a strategy trained alone trains the same.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from tl_core import strategies
from tl_core.engine.types import Domain, MakeModel, TransferJob, TransferSettings, same_classes
from tl_core.runtime import global_random

TRANSFER_STRATEGIES = (
    "scratch",
    "source_only",
    "feature_extraction",
    "partial_fine_tune",
    "fine_tune",
    "regularized",
    "joint",
)
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8

# Seeds of the separate random streams of one run, as offsets from the run's seed.
FRESH_INIT, TARGET_BATCHES, SOURCE_BATCHES = 1, 2, 3


def allowed_strategies(source: Domain, target: Domain) -> tuple[str, ...]:
    """The strategies that apply to this pair of domains (tl_core.strategies.applicable)."""
    return tuple(strategies.applicable(TRANSFER_STRATEGIES, same_classes(source, target)))


def applicable(job: TransferJob) -> list[str]:
    """The job's strategies in its order, those that apply to its domains."""
    return strategies.applicable(job.strategies, same_classes(job.source, job.target))


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Index slices of one random permutation of range(n): one epoch's minibatches (on the CPU)."""
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def clip(parameters, max_norm: float | None) -> None:
    """Gradient clipping: g ← g · min(1, max_norm / ‖g‖), ‖g‖ over all trained parameters
    together (torch.nn.utils.clip_grad_norm_). It tames the exploding gradients of a plain RNN."""
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)


def init_model(make_model: MakeModel, n_classes: int, seed: int, device: str | torch.device) -> nn.Module:
    """Build a model with weights drawn from `seed` (on the CPU, so every device starts alike).

    The global torch RNG is forked and restored, so nothing outside changes; the lock keeps
    another session's thread from seeding it in between.
    """
    with global_random(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model(n_classes)
    return model.to(device)


def run_blocks(model: nn.Module, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """The model's blocks start..stop-1 in order on x: run_blocks(model, x) is model.features(x)."""
    for block in list(model.blocks.values())[start:stop]:
        x = block(x)
    return x


class Twin(nn.Module):
    """A model plus the head used to measure it on the source.

    forward(x, head="target") = model.head(features(x)); head="source" uses `source_head`, or the
    model's own head when `tied` (the strategy trains the source head itself).
    forward(x, x_source=...) = pair(x, x_source): both at once, one pass of the blocks.
    `skip` leading blocks are left out: their outputs are the inputs (see frozen_prefix).
    """

    def __init__(self, model: nn.Module, source_head: nn.Module | None):
        super().__init__()
        self.model = model
        self.tied = source_head is None
        self.skip = 0
        if source_head is not None:
            self.source_head = source_head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return run_blocks(self.model, x, self.skip)

    def forward(self, x: torch.Tensor, head: str = "target", x_source: torch.Tensor | None = None):
        if x_source is not None:
            return self.pair(x, x_source)
        features = self.features(x)
        if head == "source" and not self.tied:
            return self.source_head(features)
        return self.model.head(features)

    def pair(self, x: torch.Tensor, x_source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(target logits of x, source logits of x_source), as forward gives them. Where the two
        batches have the same shape (not a user's sequences of another length) the blocks run
        once on both stacked (the models have no batch statistics: rows are independent), which
        halves the per-step work on joint training's small batches."""
        source_head = self.model.head if self.tied else self.source_head
        if x.shape[1:] != x_source.shape[1:]:
            return self.model.head(self.features(x)), source_head(self.features(x_source))
        features = self.features(torch.cat([x, x_source]))
        return self.model.head(features[: x.shape[0]]), source_head(features[x.shape[0] :])


@dataclass(frozen=True)
class Plan:
    """What a strategy trains, derived from its name, the settings and the two domains."""

    strategy: str
    from_source: bool  # blocks start from the source weights
    keep_head: bool  # the target head starts as the source head (same classes)
    tied: bool  # the source is measured with the model's own head
    frozen: tuple  # names of frozen blocks
    lr_scale_blocks: float  # lr multiplier of transferred, trained blocks
    lam: float  # L2-SP strength
    joint: bool  # adds the source loss
    train_source_head: bool  # joint with different classes trains the source head too


def plan_for(strategy: str, settings: TransferSettings, block_names: list[str], shared: bool) -> Plan:
    """Translate a strategy name into what it trains (see the module's doc); `shared`: whether
    source and target have the same classes."""
    scale, k = settings.backbone_lr_scale, min(settings.partial_blocks, len(block_names))
    plans = {
        "scratch": Plan(strategy, False, False, shared, (), 1.0, 0.0, False, False),
        "feature_extraction": Plan(strategy, True, False, False, tuple(block_names), 1.0, 0.0, False, False),
        "partial_fine_tune": Plan(
            strategy, True, shared, shared, tuple(block_names[:k]), scale, 0.0, False, False
        ),
        "fine_tune": Plan(strategy, True, shared, shared, (), scale, 0.0, False, False),
        "regularized": Plan(strategy, True, shared, shared, (), scale, settings.lam, False, False),
        "joint": Plan(strategy, True, shared, shared, (), 1.0, 0.0, True, not shared),
    }
    if strategy not in plans:
        raise ValueError(f"strategy must be one of {', '.join(plans)}, got {strategy!r}")
    return plans[strategy]


def build_twin(plan: Plan, source_model: nn.Module, make_model: MakeModel, target: Domain, seed: int) -> Twin:
    """The strategy's starting model, made of copies: the source model is never touched.
    A fresh model (its weights drawn from their own seeded stream) is built only where a fresh
    part is used: scratch, or a new head."""

    def fresh():
        return init_model(make_model, target.n_classes, seed + FRESH_INIT, target.device)

    if plan.from_source:
        model = copy.deepcopy(source_model)
        if not plan.keep_head:
            model.head = fresh().head
    else:
        model = fresh()
    twin = Twin(model, None if plan.tied else copy.deepcopy(source_model.head))
    for name, p in twin.named_parameters():
        p.requires_grad_(trainable(name, plan))
    return twin


def trainable(name: str, plan: Plan) -> bool:
    """Whether parameter `name` (of a Twin) is trained under `plan`."""
    if name.startswith("source_head."):
        return plan.train_source_head
    if name.startswith("model.blocks."):
        return name.split(".")[2] not in plan.frozen
    return True


def lr_multiplier(name: str, plan: Plan) -> float:
    """What parameter `name`'s learning rate is multiplied by: transferred blocks learn slower."""
    return plan.lr_scale_blocks if plan.from_source and name.startswith("model.blocks.") else 1.0


def anchored(name: str, plan: Plan) -> bool:
    """Whether L2-SP pulls parameter `name` to its source value: transferred, trained layers."""
    if plan.strategy != "regularized" or not trainable(name, plan):
        return False
    return name.startswith("model.blocks.") or (name.startswith("model.head.") and plan.keep_head)


def frozen_prefix(twin: Twin) -> int:
    """How many leading blocks no step changes: none of their parameters is trained."""
    count = 0
    for block in twin.model.blocks.values():
        if any(p.requires_grad for p in block.parameters()):
            break
        count += 1
    return count
