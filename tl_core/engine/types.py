"""What the engine is given: two domains' tensors, how the source and the target train, and
one run's job bundling them.

The settings check themselves where they are made (a ValueError naming the field), so a bad
value from a config, the command line or a notebook fails at once, not deep inside training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

Progress = Callable[[float, str], None] | None  # (fraction done, what is happening)
MakeModel = Callable[[int], nn.Module]  # n_classes -> a fresh model (see the package's doc)
Inspect = Callable[[nn.Module], dict] | None  # trained model -> plain data added to extras


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
    # Whether scratch is clipped too: a demo may keep the clip to the models carried over, when
    # their large steps need it and fresh weights train best without (the RNN's gated cells).
    clip_scratch: bool = True

    def __post_init__(self):
        _check_clip(self.clip_grad_norm)
        _check_whole("history_every", self.history_every)
        _check_whole("history_rows", self.history_rows, none_means="every test row")
        _check_whole("scratch_epochs", self.scratch_epochs, none_means="as epochs")

    def of(self, strategy: str) -> TransferSettings:
        """The settings `strategy` trains with: scratch's own epochs where it has them, its
        history measured as often in proportion (as many points, not more measuring), and its
        steps unclipped unless `clip_scratch`."""
        if strategy != "scratch":
            return self
        own = self if self.clip_scratch else replace(self, clip_grad_norm=None)
        if self.scratch_epochs is not None:
            stretch = max(1, -(-self.scratch_epochs // self.epochs))
            own = replace(own, epochs=self.scratch_epochs, history_every=self.history_every * stretch)
        return own

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


def _check_clip(value) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0
    ):
        raise ValueError(f"clip_grad_norm must be None (no clipping) or a number > 0, got {value!r}")


def _check_whole(name: str, value, none_means: str | None = None) -> None:
    """ValueError unless `value` is a whole number >= 1, or None where `none_means` says what
    None stands for."""
    if value is None and none_means:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        allowed = f"None ({none_means}) or " if none_means else ""
        raise ValueError(f"{name} must be {allowed}a whole number >= 1, got {value!r}")
