"""The PyTorch transfer engine shared by the CNN and RNN demos.

A demo supplies data (two :class:`Domain` objects) and a model factory; the engine trains the
source model once (:func:`train_source`), then carries it to the target with each strategy and
returns plain :class:`tl_core.result.StrategyResult` objects.

Model convention
----------------
``make_model(n_classes) -> nn.Module`` builds a model with

- ``blocks``: an ``nn.ModuleDict`` of named feature blocks, in order ("conv1", "conv2", "fc"...),
  each reading the output of the one before (any reshaping lives inside a block): the engine
  runs them itself, and where a strategy freezes the first blocks it runs those once on each
  data set and trains and measures only the rest;
- ``head``: the classifier, features -> ``n_classes`` logits;
- ``features(x)``: the blocks in order; ``forward(x) = head(features(x))``.

Strategies freeze blocks by name. Models must be pure functions of their parameters so that
``torch.func`` can batch them: no BatchNorm, no dropout, no in-place changes of inputs.
(``nn.RNN``/``nn.GRU``/``nn.LSTM`` modules cannot be vmapped: write the recurrence out for use
under torch.func, as the RNN demo's model does, or train with ``run_many(batched=False)``.)

Strategies (``settings`` = :class:`TransferSettings`)
------------------------------------------------------
Every strategy starts from ``copy.deepcopy`` of the source model (or a fresh model), so the source
model is never changed. Let f = blocks, h = head, θ₀ the source weights.

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

What is measured
----------------
``target_metric``/``target_loss``: accuracy and mean cross-entropy on the target test set.
``source_metric``/``source_loss``: on the source test set, with the SOURCE head applied to the
strategy's (possibly changed) blocks; where the strategy trains that same head itself (same
classes: scratch, fine-tune, partial, regularized, joint; or joint's own source head) the
strategy's model is used as it is. So feature extraction keeps the source accuracy exactly and
fine-tuning shows what the shared blocks forgot.

``history`` (epoch 0 = before training, then every ``history_every`` epochs and always the last
one; by default every epoch): "step" (the true epoch numbers), "source_metric",
"target_metric", "source_loss", "target_loss". Measuring never changes training, so the final
metrics do not depend on ``history_every``; a sweep that needs only them measures the two ends.
With ``history_rows`` the epochs before the last are measured on that many rows of each test set
(a fixed, stratified subset: :mod:`tl_core.subsets`), the last epoch, whose numbers are the
final metrics, on every row.
``extras``: "confusion_matrix" (target test, rows = true class, sklearn's convention) and
"misclassified" (up to ``N_MISCLASSIFIED`` target test examples, one of each of the commonest
confusions first: index, true, predicted, input as nested lists).

Training
--------
Adam, minibatches drawn as index slices of a permutation from a ``torch.Generator`` seeded by the
run's seed (the same batch order for every strategy of a run); an epoch is one pass over the
target training set. Data lives on the device; evaluation runs under ``torch.inference_mode``.
The engine leaves no global state changed (model initialisation runs inside
``torch.random.fork_rng``; the caller's torch thread count is left as it was).

Training together
-----------------
Target models are trained stacked: like models (equal shapes and schedule) form a group; one
``torch.func.vmap`` over ``functional_call`` runs the forward pass of all of them, plain
autograd of the sum of their losses gives each its own gradient, and a hand-written Adam
matching ``torch.optim.Adam`` steps them, with the batches drawn from each model's own seeded
generators. Scratch, fine-tuning and regularized transfer (which train the same parameters)
share a group; joint training passes its target and source batches through the blocks together.
Where the first blocks are frozen (feature extraction: all of them; partial fine-tuning: the
first k), their outputs never change: they are computed once per data set and source model, and
the steps and measurements run only the blocks after them and the head.

On the CPU, :func:`run_many` trains :func:`parallel_groups` groups side by side (as many as
torch may use threads), the costliest first, each computing on one core: these models'
operations are too small to gain from several cores each, so the cores are better spent on
several groups. The groups train in worker processes where the process has started them
(:func:`tl_core.processes.start`; the app does): a training thread spends much of its time in
Python, so threads would wait on each other for the interpreter lock. Elsewhere (a one-off run
from the command line) they train in threads (:func:`tl_core.runtime.one_core_threads`). Since
every group computes on one core, its numbers are the same either way, whatever the machine's
core count.

:func:`run_strategies` (one run) and :func:`run_many` (a sweep) both train this way, and vmap
keeps each model's arithmetic its own: a job's numbers are the same whatever else trains beside
it, so a sweep's point equals the single run of the same config and seed (the tests check it on
the CPU). ``run_many(batched=False)`` trains one model at a time with ``torch.optim.Adam``
instead: the reference the tests compare with (equal up to float rounding: losses 1e-4 to 1e-3
relative, accuracies one test example apart), and the path for a model torch.func cannot vmap.
Evaluation runs one model at a time (on the CPU it is compute-bound, and a vmapped recurrence or
grouped convolution is slower there), a model's source and target test sets in one pass, the
models of a group side by side in threads when cores are spare; a measurement is reused where
the same weights meet the same test data again (at epoch 0, every target size of one seed
starts alike; feature extraction's source score never changes). See benchmarks/bench_cnn.py
and bench_rnn.py.

Public interface (stable): Domain, TransferSettings, SourceSettings, TransferJob, init_model,
train_source, evaluate, run_strategies, run_many, same_classes, N_MISCLASSIFIED; since the
third version also allowed_strategies, trained_model (one strategy's trained target model, for
export), weights_bytes (safetensors), SourceCache, train_source's `progress`, and
``clip_grad_norm`` in both settings (None = no clipping, as before; in run_many each model's
gradient is clipped by its own norm). Since the first
version, run_strategies and run_many take an optional ``inspect(model) -> dict`` whose plain
data is added to each strategy's extras (the CNN stores first-layer filters this way); since
the second, ``TransferSettings.history_every`` (default 1: every epoch, as before). Since the
fourth, run_strategies trains like models together (the numbers run_many gives the job), and
blocks must read each other's outputs in order (see the model convention); since the fifth,
run_many's ``workers`` (groups side by side; None = :func:`parallel_groups`); since the sixth,
:func:`stored_source` (train_source once per machine, its weights kept in the disk cache);
since the seventh, SourceCache.get's optional ``waiting`` (a key is built once at a time; the
other callers wait) and :func:`waiting_for_source`; since the eighth,
``TransferSettings.scratch_epochs`` (default None: scratch trains ``epochs``, as before) and
``TransferSettings.history_rows`` (default None: every test row, as before).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import queue
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tl_core import diskcache, processes
from tl_core.result import StrategyResult
from tl_core.runtime import global_random, one_core_threads

Progress = Callable[[float, str], None] | None
MakeModel = Callable[[int], nn.Module]
Inspect = Callable[[nn.Module], dict] | None  # trained model -> plain data added to extras

TRANSFER_STRATEGIES = (
    "scratch",
    "source_only",
    "feature_extraction",
    "partial_fine_tune",
    "fine_tune",
    "regularized",
    "joint",
)
N_MISCLASSIFIED = 8
ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8


# ----------------------------------------------------------------------------------------- data
@dataclass
class Domain:
    """One domain's data, already on the device: inputs as float tensors, labels as class indices.

    `classes` names the classes the label indices stand for (e.g. (5, 6, 7, 8, 9)); two domains
    with equal `classes` share a head.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: tuple

    @classmethod
    def from_arrays(cls, x_train, y_train, x_test, y_test, classes, device: str = "cpu") -> Domain:
        """Make a domain from numpy arrays (or tensors), moved to `device` once."""

        def floats(a):  # torch.tensor copies, so cached read-only arrays are fine
            return torch.tensor(np.asarray(a, dtype=np.float32), device=device)

        def labels(a):
            return torch.tensor(np.asarray(a, dtype=np.int64), device=device)

        return cls(floats(x_train), labels(y_train), floats(x_test), labels(y_test), tuple(classes))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x_train.device


def same_classes(source: Domain, target: Domain) -> bool:
    """Whether the source head can be used on the target as it is."""
    return tuple(source.classes) == tuple(target.classes)


def _check_clip(value) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ):
        raise ValueError(f"clip_grad_norm must be None (no clipping) or a number > 0, got {value!r}")


def _clip(parameters, max_norm: float | None) -> None:
    """Gradient clipping: g ← g · min(1, max_norm / ‖g‖), ‖g‖ over all trained parameters
    together (torch.nn.utils.clip_grad_norm_). It tames the exploding gradients of a plain RNN."""
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(parameters, max_norm)


def _check_whole(name: str, value, none_means: str | None = None) -> None:
    """ValueError unless `value` is a whole number >= 1, or None where `none_means` says what
    None stands for."""
    if value is None and none_means:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        allowed = f"None ({none_means}) or " if none_means else ""
        raise ValueError(f"{name} must be {allowed}a whole number >= 1, got {value!r}")


@dataclass(frozen=True)
class SourceSettings:
    """How the source model is trained (the app caches it per these settings and the seed)."""

    epochs: int = 10
    lr: float = 3e-3
    batch_size: int = 64
    clip_grad_norm: float | None = None  # rescale each step's gradient to at most this norm

    def __post_init__(self):
        _check_clip(self.clip_grad_norm)


@dataclass(frozen=True)
class TransferSettings:
    """How every strategy trains on the target."""

    epochs: int = 30  # passes over the target training set
    scratch_epochs: int | None = None  # scratch's passes (None: `epochs`): fresh weights need more
    lr: float = 3e-3  # Adam learning rate of new and fine-tuned layers
    batch_size: int = 64  # target minibatch size (a tiny target set is one batch)
    lam: float = 1.0  # λ of L2-SP (regularized)
    partial_blocks: int = 1  # k: how many leading blocks partial_fine_tune freezes
    backbone_lr_scale: float = 1.0  # transferred blocks learn at lr * this (fine-tune family)
    target_weight: float = 1.0  # w in L_source + w·L_target (joint)
    history_every: int = 1  # measure every this many epochs (and always at 0 and the last)
    history_rows: int | None = None  # rows of each test set measured before the last epoch (None: all)
    clip_grad_norm: float | None = None  # rescale each step's gradient to at most this norm

    def __post_init__(self):
        _check_clip(self.clip_grad_norm)
        _check_whole("history_every", self.history_every)
        _check_whole("history_rows", self.history_rows, none_means="every test row")
        _check_whole("scratch_epochs", self.scratch_epochs, none_means="as epochs")

    def of(self, strategy: str) -> TransferSettings:
        """The settings `strategy` trains with: scratch's own epochs where it has them, its
        history measured as often in proportion (as many points, not more measuring)."""
        if strategy == "scratch" and self.scratch_epochs is not None:
            stretch = max(1, -(-self.scratch_epochs // self.epochs))
            return replace(self, epochs=self.scratch_epochs, history_every=self.history_every * stretch)
        return self

    def measures_at(self, epoch: int) -> bool:
        """Whether the history records `epoch`: the start, every `history_every` epochs, and the
        last epoch (so the final metrics are the same whatever `history_every` is)."""
        return epoch % self.history_every == 0 or epoch == self.epochs


@dataclass
class TransferJob:
    """One run's worth of transfer: what run_strategies takes, bundled for run_many."""

    strategies: Sequence[str]
    source_model: nn.Module
    make_model: MakeModel
    source: Domain
    target: Domain
    settings: TransferSettings
    seed: int


# --------------------------------------------------------------------------------------- models
def init_model(make_model: MakeModel, n_classes: int, seed: int, device: str | torch.device) -> nn.Module:
    """Build a model with weights drawn from `seed` (on the CPU, so every device starts alike).

    The global torch RNG is forked and restored, so nothing outside changes; the lock keeps
    another session's thread from seeding it in between.
    """
    with global_random(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model(n_classes)
    return model.to(device)


def _run_blocks(model: nn.Module, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """The model's blocks start..stop-1 in order on x: _run_blocks(model, x) is model.features(x)."""
    for block in list(model.blocks.values())[start:stop]:
        x = block(x)
    return x


class _Twin(nn.Module):
    """A model plus the head used to measure it on the source.

    forward(x, head="target") = model.head(features(x)); head="source" uses `source_head`, or the
    model's own head when `tied` (the strategy trains the source head itself).
    forward(x, x_source=...) = pair(x, x_source): both at once, one pass of the blocks.
    `skip` leading blocks are left out: their outputs are the inputs (see _frozen_prefix).
    """

    def __init__(self, model: nn.Module, source_head: nn.Module | None):
        super().__init__()
        self.model = model
        self.tied = source_head is None
        self.skip = 0
        if source_head is not None:
            self.source_head = source_head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return _run_blocks(self.model, x, self.skip)

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


# Seeds of the separate random streams of one run, as offsets from the run's seed.
_FRESH_INIT, _TARGET_BATCHES, _SOURCE_BATCHES = 1, 2, 3


@dataclass(frozen=True)
class _Plan:
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


def _plan(strategy: str, settings: TransferSettings, block_names: list[str], shared: bool) -> _Plan:
    """Translate a strategy name into what it trains (see the module docstring)."""
    scale, k = settings.backbone_lr_scale, min(settings.partial_blocks, len(block_names))
    plans = {
        "scratch": _Plan(strategy, False, False, shared, (), 1.0, 0.0, False, False),
        "feature_extraction": _Plan(strategy, True, False, False, tuple(block_names), 1.0, 0.0, False, False),
        "partial_fine_tune": _Plan(
            strategy, True, shared, shared, tuple(block_names[:k]), scale, 0.0, False, False
        ),
        "fine_tune": _Plan(strategy, True, shared, shared, (), scale, 0.0, False, False),
        "regularized": _Plan(strategy, True, shared, shared, (), scale, settings.lam, False, False),
        "joint": _Plan(strategy, True, shared, shared, (), 1.0, 0.0, True, not shared),
    }
    if strategy not in plans:
        raise ValueError(f"strategy must be one of {', '.join(plans)}, got {strategy!r}")
    return plans[strategy]


def _build_twin(
    plan: _Plan, source_model: nn.Module, make_model: MakeModel, target: Domain, seed: int
) -> _Twin:
    """The strategy's starting model, made of copies: the source model is never touched.
    A fresh model (its weights drawn from their own seeded stream) is built only where a fresh
    part is used: scratch, or a new head."""

    def fresh():
        return init_model(make_model, target.n_classes, seed + _FRESH_INIT, target.device)

    if plan.from_source:
        model = copy.deepcopy(source_model)
        if not plan.keep_head:
            model.head = fresh().head
    else:
        model = fresh()
    twin = _Twin(model, None if plan.tied else copy.deepcopy(source_model.head))
    for name, p in twin.named_parameters():
        p.requires_grad_(_trainable(name, plan))
    return twin


def _trainable(name: str, plan: _Plan) -> bool:
    """Whether parameter `name` (of a _Twin) is trained under `plan`."""
    if name.startswith("source_head."):
        return plan.train_source_head
    if name.startswith("model.blocks."):
        return name.split(".")[2] not in plan.frozen
    return True


def _lr_multiplier(name: str, plan: _Plan) -> float:
    return plan.lr_scale_blocks if plan.from_source and name.startswith("model.blocks.") else 1.0


def _anchored(name: str, plan: _Plan) -> bool:
    """Whether L2-SP pulls parameter `name` to its source value: transferred, trained layers."""
    if plan.strategy != "regularized" or not _trainable(name, plan):
        return False
    return name.startswith("model.blocks.") or (name.startswith("model.head.") and plan.keep_head)


# ------------------------------------------------------------------------------------ measuring
def _scores(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Accuracy and mean cross-entropy over the last-but-one axis (works batched over models)."""
    accuracy = (logits.argmax(-1) == labels).float().mean(-1)
    loss = F.cross_entropy(
        logits.transpose(-1, -2) if logits.dim() == 3 else logits, labels, reduction="none"
    ).mean(-1)
    return accuracy, loss


@torch.inference_mode()
def evaluate(model: nn.Module, domain: Domain) -> dict[str, float]:
    """Accuracy and mean cross-entropy of a plain model on a domain's test set, as floats."""
    model.eval()
    accuracy, loss = _scores(model(domain.x_test), domain.y_test)
    return {"accuracy": float(accuracy), "loss": float(loss)}


@torch.inference_mode()
def _measure(twin: _Twin, source: Domain, target: Domain) -> dict[str, float]:
    twin.eval()
    source_accuracy, source_loss = _scores(twin(source.x_test, head="source"), source.y_test)
    target_accuracy, target_loss = _scores(twin(target.x_test), target.y_test)
    return {
        "source_metric": float(source_accuracy),
        "target_metric": float(target_accuracy),
        "source_loss": float(source_loss),
        "target_loss": float(target_loss),
    }


def _history_test_sets(domains: list[tuple[Domain, Domain]], rows: int | None) -> list[tuple[Domain, Domain]]:
    """Each (source, target) pair with its test sets cut to the `rows` the history measures
    before the last epoch (a fixed, stratified subset: tl_core.subsets). Domains that share test
    tensors share the cut ones, so that a measurement of equal weights is reused there too."""
    from tl_core.subsets import stratified_rows

    cut: dict[int, Domain] = {}

    def subset(d: Domain) -> Domain:
        if id(d.x_test) not in cut:
            idx = torch.as_tensor(stratified_rows(d.y_test.cpu().numpy(), rows), device=d.device)
            cut[id(d.x_test)] = (
                d
                if len(idx) == len(d.y_test)
                else Domain(d.x_train, d.y_train, d.x_test[idx], d.y_test[idx], d.classes)
            )
        return cut[id(d.x_test)]

    return [(subset(source), subset(target)) for source, target in domains]


def _empty_history() -> dict[str, list[float]]:
    return {"step": [], "source_metric": [], "target_metric": [], "source_loss": [], "target_loss": []}


def _append(history: dict[str, list], step: int, scores: dict[str, float]) -> None:
    history["step"].append(step)
    for key, value in scores.items():
        history[key].append(value)


def _target_extras(predicted: np.ndarray, target: Domain) -> dict:
    """Confusion matrix on the target test set and a few misclassified examples."""
    from sklearn.metrics import confusion_matrix

    truth = target.y_test.cpu().numpy()
    matrix = confusion_matrix(truth, predicted, labels=list(range(target.n_classes)))
    wrong = _telling_mistakes(truth, predicted, matrix)[:N_MISCLASSIFIED]
    inputs = target.x_test[torch.as_tensor(wrong, device=target.device)].cpu()
    misclassified = [
        {"index": int(i), "true": int(truth[i]), "predicted": int(predicted[i]), "input": x.tolist()}
        for i, x in zip(wrong, inputs)
    ]
    return {"confusion_matrix": matrix.tolist(), "misclassified": misclassified}


def _telling_mistakes(truth: np.ndarray, predicted: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The misclassified test examples in the order worth showing: one of each confusion (true
    class, predicted class), the commonest confusion first, then a second of each, and so on;
    equals in test-set order. The first few are then the mistakes the confusion matrix shows
    most, not the first in the test set (which is sorted by class)."""
    wrong = np.flatnonzero(predicted != truth)
    pairs = list(zip(truth[wrong].tolist(), predicted[wrong].tolist()))
    nth, seen = [], Counter()  # nth[j]: earlier mistakes of the same confusion
    for pair in pairs:
        nth.append(seen[pair])
        seen[pair] += 1
    order = sorted(range(len(wrong)), key=lambda j: (nth[j], -matrix[pairs[j]], wrong[j]))
    return wrong[order]


def _result(
    strategy: str,
    history: dict,
    predicted: np.ndarray,
    target: Domain,
    wall_time: float,
    twin: _Twin,
    inspect: Inspect,
) -> StrategyResult:
    last = {key: values[-1] for key, values in history.items() if key != "step"}
    extras = _target_extras(predicted, target)
    if inspect:
        extras.update(inspect(twin.model))
    return StrategyResult(strategy=strategy, history=history, wall_time=wall_time, extras=extras, **last)


@torch.inference_mode()
def _predict(twin: _Twin, target: Domain) -> np.ndarray:
    twin.eval()
    return twin(target.x_test).argmax(-1).cpu().numpy()


# ------------------------------------------------------------------------------ one at a time
def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """Index slices of one random permutation of range(n): one epoch's minibatches (on the CPU)."""
    order = torch.randperm(n, generator=generator)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


PROGRESS_INTERVAL = 0.25  # seconds: source training reports at least this often (and per epoch)


def train_source(
    make_model: MakeModel, source: Domain, settings: SourceSettings, seed: int, progress: Progress = None
) -> nn.Module:
    """Train the source model on the source training set; minimise mean cross-entropy with Adam.

    Returns the model in eval mode with every parameter's requires_grad off: it is meant to be
    cached and shared, and no strategy changes it (they all work on copies). `progress(fraction,
    message)` is called after every epoch and at least every PROGRESS_INTERVAL seconds, so a
    caller can stop stale work there (by raising from it). On the CPU it trains on one core, as
    target models do, so the same seed gives the same model on any machine.
    """

    def train(report: Progress) -> nn.Module:
        return _train_source(make_model, source, settings, seed, report)

    return _on_one_core(
        [train], 1, source.device, lambda _, *report: progress(*report) if progress else None
    )[0]


def stored_source(
    make_model: MakeModel, source: Domain, settings: SourceSettings, seed: int, progress: Progress = None
) -> nn.Module:
    """train_source's model, trained once per machine: later processes (a restarted server,
    the command line, a notebook) read its weights back from the disk cache (tl_core.diskcache)
    instead of training again, exactly as they were, in a fraction of a second.

    The weights are kept under a digest of everything they depend on (:func:`_source_key`), so
    any change (settings, seed, data, the model's code or starting weights, the engine's code,
    torch's version, the kind of device) trains anew; a damaged file, or no disk cache
    (``TL_CACHE_DIR=off``), only means training; so does a model whose code is in no file (one
    typed into an interpreter): nothing could tell its changes apart. `progress` hears from a
    training only, or says that it waits while another process trains the same model (it is
    trained once at a time, see tl_core.diskcache). Returns the model as train_source does: in
    eval mode, every requires_grad off.
    """
    fresh = init_model(make_model, source.n_classes, seed, source.device)
    key = _source_key(fresh, source, settings, seed)
    if key is None:
        return train_source(make_model, source, settings, seed, progress)
    arrays = diskcache.arrays(
        "source-model",
        key,
        lambda: {
            name: t.detach().cpu().numpy()
            for name, t in train_source(make_model, source, settings, seed, progress).state_dict().items()
        },
        waiting=waiting_for_source(progress),
        check=functools.partial(_load_weights, fresh),  # another model's weights: trained again
    )
    _load_weights(fresh, arrays)
    fresh.eval()
    for p in fresh.parameters():
        p.requires_grad_(False)
    return fresh


def _load_weights(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load stored weights; RuntimeError unless they are exactly the model's (names, shapes)."""
    model.load_state_dict({name: torch.from_numpy(a) for name, a in arrays.items()})


def _source_key(fresh: nn.Module, source: Domain, settings: SourceSettings, seed: int) -> dict | None:
    """What a trained source model depends on, as plain data: its class and the code of its
    module and of this engine, its starting weights (they say its shape and initialisation),
    the source training data, the settings, the seed, the device's kind and torch's version.
    None when the model's code is in no file that can be read."""
    import inspect

    try:
        code = [Path(__file__).read_bytes(), Path(inspect.getsourcefile(type(fresh))).read_bytes()]
    except (TypeError, OSError):  # a class from an interpreter's prompt, a notebook cell
        return None
    start = [t for _, t in sorted(fresh.state_dict().items())]
    return {
        "model": f"{type(fresh).__module__}.{type(fresh).__qualname__}",
        "code": _digest(code).hex(),
        "start": _fingerprint(start).hex(),
        "data": _fingerprint([source.x_train, source.y_train]).hex(),
        "settings": asdict(settings),
        "seed": int(seed),
        "device": source.device.type,
        "torch": torch.__version__,
    }


def _digest(chunks) -> bytes:
    """A short digest of some bytes, in order (equal digests: equal bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    for chunk in chunks:
        digest.update(chunk)
    return digest.digest()


def _on_one_core(
    tasks: list[Callable[[Callable], object]], workers: int, device: torch.device, on_report: Callable
) -> list:
    """Each task(report)'s result, in order, computed on one core, `workers` tasks at a time.

    In this thread, one after the other, where that is already so (one worker, and torch on one
    core here) and on a GPU (the device does the work). With several workers, in worker processes
    where the process has started them (tl_core.processes: threads wait on each other for
    Python's interpreter lock). Else, and where the workers cannot take the tasks, in threads of
    their own (tl_core.runtime.one_core_threads). Tasks are taken in the order given. A task's
    report(*args) reaches on_report(i, *args) in this thread (Streamlit draws only from its
    script's thread). An error, in a task or raised by on_report (a page's rerun), stops the
    other tasks at their next report.
    """
    if device.type != "cpu" or (workers == 1 and torch.get_num_threads() == 1):
        return [task(functools.partial(on_report, i)) for i, task in enumerate(tasks)]
    if workers > 1 and processes.available():
        try:
            return processes.run(tasks, workers, on_report)
        except processes.Unavailable:  # a lambda `inspect`, a worker that cannot start: threads
            pass
    reports: queue.SimpleQueue = queue.SimpleQueue()  # (task, args), or (task, None) at its end
    stop = threading.Event()

    def run(i: int):
        def report(*args) -> None:
            if stop.is_set():
                raise processes.Stopped
            reports.put((i, args))

        try:
            return tasks[i](report)
        finally:
            reports.put((i, None))

    with one_core_threads(workers, "tl-train") as pool:
        futures = [pool.submit(run, i) for i in range(len(tasks))]
        try:
            ended = 0
            while ended < len(tasks):
                i, args = reports.get()
                if args is None:
                    ended += 1
                    futures[i].result()  # a task's error surfaces here, at once
                else:
                    on_report(i, *args)
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [future.result() for future in futures]


def _train_source(
    make_model: MakeModel, source: Domain, settings: SourceSettings, seed: int, progress: Progress
) -> nn.Module:
    model = init_model(make_model, source.n_classes, seed, source.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    last_report = time.perf_counter()
    for epoch in range(settings.epochs):
        batches = _batches(source.n_train, settings.batch_size, generator)
        for b, idx in enumerate(batches):
            idx = idx.to(source.device)
            loss = F.cross_entropy(model(source.x_train[idx]), source.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            _clip(model.parameters(), settings.clip_grad_norm)
            optimizer.step()
            if progress and (b + 1 == len(batches) or time.perf_counter() - last_report > PROGRESS_INTERVAL):
                progress(
                    (epoch + (b + 1) / len(batches)) / settings.epochs,
                    f"training the source model: epoch {epoch + 1} of {settings.epochs}",
                )
                last_report = time.perf_counter()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _fit(
    twin: _Twin, plan: _Plan, source: Domain, target: Domain, settings: TransferSettings, seed: int
) -> dict[str, list[float]]:
    """Train `twin` on the target under `plan`; the per-epoch history (epoch 0 = the start).

    Loss per batch: L_target (mean cross-entropy), as L_source + w·L_target for joint, plus
    λ·Σ‖θ − θ₀‖² over the anchored parameters for regularized.
    """
    trained = [(n, p) for n, p in twin.named_parameters() if p.requires_grad]
    groups: dict[float, list] = {}
    for name, p in trained:
        groups.setdefault(settings.lr * _lr_multiplier(name, plan), []).append(p)
    optimizer = torch.optim.Adam(
        [{"params": ps, "lr": lr} for lr, ps in groups.items()], betas=ADAM_BETAS, eps=ADAM_EPS
    )
    anchor = {n: p.detach().clone() for n, p in trained if _anchored(n, plan)}
    target_batches = torch.Generator().manual_seed(seed + _TARGET_BATCHES)
    source_batches = torch.Generator().manual_seed(seed + _SOURCE_BATCHES)
    history = _empty_history()
    [partial] = _history_test_sets([(source, target)], settings.history_rows)
    _append(history, 0, _measure(twin, *partial))
    for epoch in range(1, settings.epochs + 1):
        twin.train()
        for idx in _batches(target.n_train, settings.batch_size, target_batches):
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
            _clip([p for _, p in trained], settings.clip_grad_norm)
            optimizer.step()
        if settings.measures_at(epoch):
            test_sets = partial if epoch < settings.epochs else (source, target)  # the last: every row
            _append(history, epoch, _measure(twin, *test_sets))
    return history


def _source_only(
    source_model: nn.Module, source: Domain, target: Domain, inspect: Inspect = None
) -> StrategyResult:
    start = time.perf_counter()
    twin = _Twin(source_model, None)
    scores = _measure(twin, source, target)
    extras = _target_extras(_predict(twin, target), target)
    if inspect:
        extras.update(inspect(source_model))
    return StrategyResult(
        strategy="source_only", wall_time=time.perf_counter() - start, extras=extras, **scores
    )


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
    together (see "Training together"): these are the numbers run_many gives the same job.
    """
    job = TransferJob(strategies, source_model, make_model, source, target, settings, seed)
    return run_many([job], progress=progress, inspect=inspect)[0]


def _run_alone(job: TransferJob, inspect: Inspect = None) -> list[StrategyResult]:
    """run_strategies one model after another, each with torch.optim.Adam: the reference the
    batched path is tested against, and the way to train a model torch.func cannot vmap."""
    shared = same_classes(job.source, job.target)
    block_names = list(job.source_model.blocks.keys())
    results = []
    for name in _applicable(job):
        if name == "source_only":
            results.append(_source_only(job.source_model, job.source, job.target, inspect))
            continue
        start = time.perf_counter()
        plan = _plan(name, job.settings, block_names, shared)
        twin = _build_twin(plan, job.source_model, job.make_model, job.target, job.seed)
        history = _fit(twin, plan, job.source, job.target, job.settings.of(name), job.seed)
        results.append(
            _result(
                name,
                history,
                _predict(twin, job.target),
                job.target,
                time.perf_counter() - start,
                twin,
                inspect,
            )
        )
    return results


def _applicable(job: TransferJob) -> list[str]:
    """The job's strategies in its order, source_only left out where the classes differ."""
    return [s for s in job.strategies if s != "source_only" or same_classes(job.source, job.target)]


def allowed_strategies(source: Domain, target: Domain) -> tuple[str, ...]:
    """The strategies that apply to this pair of domains (source_only needs the same classes)."""
    return tuple(s for s in TRANSFER_STRATEGIES if same_classes(source, target) or s != "source_only")


def trained_model(strategy: str, job: TransferJob) -> nn.Module:
    """The target model `strategy` ends with in `job` (blocks + target head): the very model
    run_strategies trains for it, re-trained alone (every strategy's random streams come from
    the job's seed, not from its place in the run, so alone it trains the same)."""
    allowed = allowed_strategies(job.source, job.target)
    if strategy not in allowed:
        raise ValueError(f"strategy must be one of {', '.join(allowed)} here, got {strategy!r}")
    if strategy == "source_only":
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


class SourceCache:
    """Trained source models by key, the `size` most recently used kept; thread-safe.

    Unlike functools.lru_cache, `get(key, build)` lets the caller hand a progress callback to
    `build` on a miss without it becoming part of the key. A key is built once at a time: a
    caller that finds another building it waits for that model instead of training the same
    one beside it (a class opening one shared link on a server that has not trained it yet).
    """

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._building: dict = {}  # key -> threading.Event, set when its build ends either way
        self._lock = threading.Lock()

    def get(self, key, build: Callable[[], object], waiting: Callable[[], None] | None = None):
        """The model under `key`, from `build()` on a miss. While another caller builds the same
        key, `waiting()` is called every PROGRESS_INTERVAL seconds (it may raise, to stop
        waiting); if that build fails, this caller builds it instead."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                built = self._building.get(key)
                if built is None:
                    built = self._building[key] = threading.Event()
                    break
            while not built.wait(PROGRESS_INTERVAL):
                if waiting:
                    waiting()
        try:
            value = build()  # outside the lock: a long training must not block other keys
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._building[key]
            built.set()

    def cache_clear(self) -> None:
        with self._lock:
            self._items.clear()


# What a run's progress says before its source model is ready: most runs read it (memory, disk).
READING_SOURCE = "reading or training the source model (trained once per setting and machine)"
WAITING_FOR_SOURCE = "waiting for the source model, which another run is training"


def waiting_for_source(progress: Progress) -> Callable[[], None] | None:
    """SourceCache.get's `waiting` for a run whose `progress` hears how it goes (None: nothing
    to tell): the run says it waits, and a stopped run's progress raises there."""
    if progress is None:
        return None
    return lambda: progress(0.0, WAITING_FOR_SOURCE)


# ---------------------------------------------------------------------------------- batched
@dataclass
class _Member:
    """One (job, strategy) pair inside a batched group."""

    job: int
    plan: _Plan
    twin: _Twin
    source: Domain
    target: Domain
    settings: TransferSettings
    seed: int


def _group_key(m: _Member) -> tuple:
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


class _Pool:
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


def _epoch_indices(
    members: list[_Member], gens: list[torch.Generator], joint_gens: list, batch_size: int, joint: bool
):
    """This epoch's minibatches of every member, padded to one [M, S, B] block.

    Returns target indices, their weights (1 = real sample, 0 = padding), source indices for
    joint (or None) and the number of steps of each member. The random draws are exactly those
    of _fit, member by member, so both paths see the same batches.
    """
    steps = [-(-m.target.n_train // batch_size) for m in members]
    shape = (len(members), max(steps), batch_size)
    idx = torch.zeros(shape, dtype=torch.long)
    weight = torch.zeros(shape)
    source_idx = torch.zeros(shape, dtype=torch.long) if joint else None
    for i, m in enumerate(members):
        for s, batch in enumerate(_batches(m.target.n_train, batch_size, gens[i])):
            idx[i, s, : len(batch)] = batch
            weight[i, s, : len(batch)] = 1.0
            if joint:
                source_idx[i, s, : len(batch)] = torch.randint(
                    m.source.n_train, (len(batch),), generator=joint_gens[i]
                )
    return idx, weight, source_idx, steps


def _group_gradients(base: nn.Module, joint: bool, anchored: list[str]):
    """A function giving every member's gradient of its own training loss (the loss of _fit).

    The forward pass is vmapped over members (one grouped convolution for all of them); the
    backward pass is plain autograd of the SUM of the members' losses: member m's loss depends on
    its own parameters only, so ∂(Σ losses)/∂θ_m = ∂loss_m/∂θ_m. These are the numbers
    vmap(grad(loss)) gives, found faster: the backward runs as ordinary batched operations.
    `base` is the group's _Twin (its `skip` says which blocks the inputs have passed already).
    """
    from torch.func import functional_call, vmap

    target_logits = vmap(lambda params, x: functional_call(base, params, (x,)))
    # Joint training scores a target batch and a source batch: one pass of the blocks for both.
    pair_logits = vmap(lambda params, x, xs: functional_call(base, params, (x,), {"x_source": xs}))

    def mean_ce(scores, y, w):  # [k, B, classes], [k, B], [k, B] -> [k]: each member's mean
        return (F.cross_entropy(scores.transpose(1, 2), y, reduction="none") * w).sum(1) / w.sum(1)

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
            if anchored:
                losses = losses + sum(
                    lam[n] * ((leaves[n] - anchor[n]) ** 2).flatten(1).sum(1) for n in anchored
                )
            return dict(zip(leaves, torch.autograd.grad(losses.sum(), list(leaves.values()))))

    return gradients


def _clip_each(grads: dict[str, torch.Tensor], max_norm: float | None) -> None:
    """_clip for every stacked member at once: member m's gradient (first axis) is rescaled by
    min(1, max_norm / (‖g_m‖ + 1e-6)), its norm over all its trained parameters, as
    torch.nn.utils.clip_grad_norm_ does for one model."""
    if max_norm is None:
        return
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads.values()))
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads.values():
        g.mul_(scale.view((-1,) + (1,) * (g.dim() - 1)))


def _fingerprint(tensors: list[torch.Tensor]) -> bytes:
    """A short digest of the exact values of some tensors (equal digests: equal values)."""
    return _digest(t.detach().cpu().numpy().tobytes() for t in tensors)


class _Measurers:
    """Threads that measure members side by side, each with its own copy of the group's _Twin:
    functional_call swaps a module's parameters in while it runs, so two threads must never
    call it on the same module at once."""

    def __init__(self, base: _Twin, threads: int):
        self.base, self.pool = base, one_core_threads(threads, "tl-measure")
        self.copies: dict[int, _Twin] = {}

    def twin(self) -> _Twin:
        """This thread's copy (made at its first use, with the group's current `skip`)."""
        ident = threading.get_ident()
        if ident not in self.copies:
            self.copies[ident] = copy.deepcopy(self.base)
        return self.copies[ident]

    def map(self, fn, items):
        return self.pool.map(fn, items)

    def shutdown(self) -> None:
        self.pool.shutdown()


def _measure_group(
    base: _Twin,
    stacked: dict,
    domains: list[tuple[Domain, Domain]],
    seen: dict,
    pool: _Measurers | None = None,
) -> dict[str, list]:
    """Each member's scores on its own source and target test sets, and its target predictions.

    `domains[i]` is member i's (source, target) as its steps read them (after any frozen
    blocks). Member by member, not vmapped: on the CPU a vmapped recurrence or grouped
    convolution evaluates slower than one model at a time; with a `pool`, members are measured
    in its threads (the evaluations release the GIL). A member's two test sets go through its
    blocks in one pass (_Twin.pair). A measurement is reused when the same parameter values meet
    the same pair of test sets again (`seen` remembers them, keyed by a digest of the values): at
    epoch 0 the members of one seed start alike whatever their target size, and the source score
    of feature extraction never changes (frozen blocks, the source's own head). Reuse is exact:
    a score is always one of the same pass, whatever was measured before.
    """
    from torch.func import functional_call

    # The parameters each score reads: not the head it does not use, nor the frozen blocks its
    # inputs have passed already (the inputs, told apart by identity, stand for those).
    skipped = tuple(f"model.blocks.{name}." for name in list(base.model.blocks)[: base.skip])
    unused = {
        "source": ("source_head." if base.tied else "model.head.",) + skipped,
        "target": ("source_head.",) + skipped,
    }

    def key(i: int, domain: str, pair: tuple[Domain, Domain]) -> tuple:
        path = [t[i] for n, t in stacked.items() if not n.startswith(unused[domain])]
        test_sets = tuple(id(t) for d in pair for t in (d.x_test, d.y_test))
        return (domain, test_sets, _fingerprint(path))

    def measure(i: int) -> tuple[tuple, tuple]:
        source, target = domains[i]
        with torch.inference_mode():  # per thread: a pool's threads do not inherit the mode
            params = {n: t[i] for n, t in stacked.items()}
            twin = pool.twin() if pool else base
            target_logits, source_logits = functional_call(
                twin, params, (target.x_test,), {"x_source": source.x_test}
            )
            return tuple(
                (float(accuracy), float(loss), logits.argmax(-1))
                for logits, labels in ((source_logits, source.y_test), (target_logits, target.y_test))
                for accuracy, loss in [_scores(logits, labels)]
            )

    keys = [(key(i, "source", pair), key(i, "target", pair)) for i, pair in enumerate(domains)]
    todo = {}  # each pair of keys not measured yet, and the first member that has it
    for i, pair_keys in enumerate(keys):
        if not all(k in seen for k in pair_keys):
            todo.setdefault(pair_keys, i)
    for pair_keys, scores in zip(todo, (pool.map if pool else map)(measure, todo.values())):
        seen.update(zip(pair_keys, scores))
    columns: dict[str, list] = {}
    for pair_keys in keys:
        for domain, k in zip(("source", "target"), pair_keys):
            accuracy, loss, predicted = seen[k]
            columns.setdefault(f"{domain}_metric", []).append(accuracy)
            columns.setdefault(f"{domain}_loss", []).append(loss)
            if domain == "target":
                columns.setdefault("predicted", []).append(predicted)
    return columns


def _frozen_prefix(twin: _Twin) -> int:
    """How many leading blocks no step changes: none of their parameters is trained."""
    count = 0
    for block in twin.model.blocks.values():
        if any(p.requires_grad for p in block.parameters()):
            break
        count += 1
    return count


@torch.no_grad()  # not inference_mode: the outputs are inputs of training steps, saved for backward
def _after_prefix(members: list[_Member], stacked: dict, k: int) -> list[tuple[Domain, Domain]]:
    """Each member's (source, target) as seen after its first k (frozen) blocks: the target's
    training and test inputs and the source's test inputs, run through those blocks once.

    Members whose frozen blocks hold the same weights (a seed's source model) and read the same
    data share one computed tensor, so later measurements of equal weights are reused too.
    """
    from torch.func import functional_call

    prefix = _Prefix(members[0].twin.model, k)
    outputs: dict[tuple, torch.Tensor] = {}

    def run(params: dict, weights: bytes, x: torch.Tensor) -> torch.Tensor:
        key = (id(x), weights)
        if key not in outputs:
            outputs[key] = functional_call(prefix, params, (x,))
        return outputs[key]

    domains = []
    for i, m in enumerate(members):
        params = {n: t[i] for n, t in stacked.items() if prefix.reads(n)}
        weights = _fingerprint([params[n] for n in sorted(params)])
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


class _Prefix(nn.Module):
    """The first k blocks of a model, for functional_call (parameter names as in _Twin)."""

    def __init__(self, model: nn.Module, k: int):
        super().__init__()
        self.model, self.names = model, list(model.blocks)[:k]

    def reads(self, name: str) -> bool:
        """Whether parameter `name` (of a _Twin) belongs to these blocks."""
        return name.startswith("model.blocks.") and name.split(".")[2] in self.names

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _run_blocks(self.model, x, 0, len(self.names))


@dataclass
class _Stack:
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
    def of(cls, members: list[_Member]) -> _Stack:
        base = members[0].twin
        names = [n for n, _ in base.named_parameters()]
        trained = [n for n, p in base.named_parameters() if p.requires_grad]
        anchored = [n for n in trained if any(_anchored(n, m.plan) for m in members)]
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
            anchored=anchored,
            anchor={n: params[n].clone() for n in anchored},
            lrs={
                n: per_member(lambda m: m.settings.lr * _lr_multiplier(n, m.plan), dtype=torch.float64)  # noqa: B023
                for n in trained
            },
            lam={
                n: per_member(lambda m: m.plan.lam if _anchored(n, m.plan) else 0.0, device=device)  # noqa: B023
                for n in anchored
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
    def write_back(self, members: list[_Member]) -> None:
        """Give the trained weights back to each member's model (for `inspect`)."""
        for i, m in enumerate(members):
            for n, p in m.twin.named_parameters():
                p.copy_(self.params[n][i])


def _train_epoch(
    stack: _Stack,
    gradients: Callable,
    pools: dict[str, _Pool],
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
        _clip_each(grads, clip_grad_norm)
        stack.adam_step(grads, k)


def _fit_group(
    members: list[_Member], progress: Callable[[float], None], inspect: Inspect = None, workers: int = 1
) -> list[StrategyResult]:
    """Train a group of like members together: _fit for all of them at once, with vmap; measure
    them `workers` at a time."""
    start = time.perf_counter()
    plan, settings = members[0].plan, members[0].settings  # what the group key makes common
    # Members with more steps per epoch go first, so at every step the active ones are a prefix.
    order = sorted(range(len(members)), key=lambda i: -members[i].target.n_train)
    members = [members[i] for i in order]
    base, stack = members[0].twin, _Stack.of(members)
    # Frozen leading blocks (feature extraction, partial fine-tuning) run once on each data set;
    # the steps and measurements start after them. Joint training reads raw source batches.
    skipped = 0 if plan.joint else _frozen_prefix(base)
    domains = (
        _after_prefix(members, stack.params, skipped) if skipped else [(m.source, m.target) for m in members]
    )
    base.skip = skipped
    pools = {
        key: _Pool([getattr(pair[side], attr) for pair in domains])
        for key, side, attr in (
            ("tx", 1, "x_train"),
            ("ty", 1, "y_train"),
            ("sx", 0, "x_train"),
            ("sy", 0, "y_train"),
        )
    }
    seen: dict = {}  # measurements already made, for _measure_group to reuse
    pool = _Measurers(base, workers) if workers > 1 and len(members) > 1 else None
    histories = [_empty_history() for _ in members]
    partial = _history_test_sets(domains, settings.history_rows)

    def measure(epoch: int) -> dict[str, list]:
        test_sets = partial if epoch < settings.epochs else domains  # the last epoch: every row
        scores = _measure_group(base, stack.params, test_sets, seen, pool)
        for i, h in enumerate(histories):
            _append(
                h,
                epoch,
                {k: scores[k][i] for k in ("source_metric", "target_metric", "source_loss", "target_loss")},
            )
        return scores

    try:
        scores = measure(0)
        gradients = _group_gradients(base, plan.joint, stack.anchored)
        gens = [torch.Generator().manual_seed(m.seed + _TARGET_BATCHES) for m in members]
        joint_gens = [torch.Generator().manual_seed(m.seed + _SOURCE_BATCHES) for m in members]
        for epoch in range(1, settings.epochs + 1):
            batches = _epoch_indices(members, gens, joint_gens, settings.batch_size, plan.joint)
            _train_epoch(stack, gradients, pools, batches, settings.clip_grad_norm, plan.joint)
            if settings.measures_at(epoch):
                scores = measure(epoch)
            progress(epoch / settings.epochs)
    finally:
        if pool:
            pool.shutdown()
    base.skip = 0
    stack.write_back(members)
    predicted = [p.cpu().numpy() for p in scores["predicted"]]
    wall_time = (time.perf_counter() - start) / len(members)
    results = [
        _result(m.plan.strategy, h, predicted[i], m.target, wall_time, m.twin, inspect)
        for i, (m, h) in enumerate(zip(members, histories))
    ]
    restore = sorted(range(len(order)), key=lambda i: order[i])
    return [results[i] for i in restore]


def run_many(
    jobs: Sequence[TransferJob],
    progress: Progress = None,
    batched: bool = True,
    inspect: Inspect = None,
    workers: int | None = None,
) -> list[list[StrategyResult]]:
    """run_strategies for every job, with like target models trained together.

    Returns one list of StrategyResult per job, in the job's strategy order. Models of the same
    strategy whose shapes and schedule (epochs, batch size) agree form one group, trained at once
    by :func:`_fit_group`; a job's numbers do not depend on the other jobs. `workers` groups
    train at once (None: :func:`parallel_groups`), in worker processes or threads (see the
    module's doc). With `batched=False` each model trains alone with torch.optim.Adam (the
    tests' reference, and the way for models that torch.func cannot vmap).
    """
    if not batched:
        out = []
        for j, job in enumerate(jobs):
            out.append(_run_alone(job, inspect))
            if progress:
                progress((j + 1) / len(jobs), f"run {j + 1} of {len(jobs)}")
        return out
    slots: list[list] = []
    groups: dict[tuple, list[tuple[int, int, _Member]]] = {}
    for j, job in enumerate(jobs):
        shared = same_classes(job.source, job.target)
        names = _applicable(job)
        slots.append([None] * len(names))
        block_names = list(job.source_model.blocks.keys())
        for i, name in enumerate(names):
            if name == "source_only":
                slots[j][i] = _source_only(job.source_model, job.source, job.target, inspect)
                continue
            plan = _plan(name, job.settings, block_names, shared)
            twin = _build_twin(plan, job.source_model, job.make_model, job.target, job.seed)
            member = _Member(j, plan, twin, job.source, job.target, job.settings.of(name), job.seed)
            groups.setdefault(_group_key(member), []).append((j, i, member))
    fitted = _fit_groups([[m for _, _, m in group] for group in groups.values()], progress, inspect, workers)
    for group, results in zip(groups.values(), fitted):
        for (j, i, _), result in zip(group, results):
            slots[j][i] = result
    if progress:
        progress(1.0, "done")
    return slots


def parallel_groups(device: str | torch.device) -> int:
    """How many groups run_many trains at once on `device`: on the CPU, as many as torch may use
    threads (the process's share of the cores, see tl_core.runtime.configure_torch_threads; a
    hosted server gives each of its jobs one). The small operations of these models run on one
    core each, so a second group uses a core one group leaves idle. On a GPU, one: a group
    already fills the device, and MPS is not made for calls from several threads."""
    return max(1, torch.get_num_threads()) if torch.device(device).type == "cpu" else 1


def _cost(members: list[_Member]) -> int:
    """A group's work, roughly: its members' batched steps (joint training's count twice)."""
    steps = sum(-(-m.target.n_train // m.settings.batch_size) * m.settings.epochs for m in members)
    return steps * (2 if members[0].plan.joint else 1)


def _fit_groups(
    groups: list[list[_Member]], progress: Progress, inspect: Inspect, workers: int | None
) -> list[list[StrategyResult]]:
    """_fit_group for every group, in order, trained `workers` at a time (None: parallel_groups),
    the costliest first, each on one core (_on_one_core). Each group's numbers are its own,
    whichever thread trains it and whatever trains beside it."""
    if not groups:
        return []
    threads = workers or parallel_groups(groups[0][0].target.device)
    workers = min(len(groups), threads)
    measuring = max(1, threads // workers)  # threads each group measures with
    order = sorted(range(len(groups)), key=lambda i: -_cost(groups[i]))
    total = sum(len(g) for g in groups)
    fractions = [0.0] * len(groups)
    words = [_group_words([m.plan.strategy for m in g]) for g in groups]

    def track(task: int, fraction: float) -> None:
        fractions[order[task]] = fraction
        if progress:
            running = [words[i] for i in order if fractions[i] < 1.0] or [words[order[-1]]]
            progress(sum(f * len(g) for f, g in zip(fractions, groups)) / total, running[0])

    tasks = [functools.partial(_fit_group, groups[i], inspect=inspect, workers=measuring) for i in order]
    results = _on_one_core(tasks, workers, groups[0][0].target.device, track)
    return [results[order.index(i)] for i in range(len(groups))]


def _group_words(strategies: list[str]) -> str:
    """What a progress message says of a group: its strategies, and how many models it trains."""
    from tl_core.strategies import label

    names = list(dict.fromkeys(label(s).lower() for s in strategies))
    what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    count = len(strategies)
    return f"training {what}" + (f" ({count} models together)" if count > len(names) else "")
