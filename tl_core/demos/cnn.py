"""The CNN demo: a small convolutional net carried from one kind of digit to another.

Scenarios (``scenario``):

- ``sim2real``: source = printed digits rendered from the fonts matplotlib ships (random
  rotation, slant, width, pen and a slight warp); target = sklearn's handwritten digits, the same
  ten classes. A net trained on fonts reads handwriting only so-so; a few handwritten labels
  fix that far faster than training from scratch.
- ``new_classes``: source = handwritten 0-4, target = handwritten 5-9: new classes, so the
  strategies get a new head (and ``source_only`` is left out: the source head cannot name them).
  This is the demo's example of NEGATIVE transfer: features a net learns to tell 0-4 apart fit
  5-9 worse than what a fresh net learns from a few 5-9 digits, and on 8x8 digits even raw
  pixels beat them. ``source_copies`` adds randomly warped copies of the source digits, and the
  features carry over better (fine-tuning comes level with scratch; feature extraction stays
  below).
- ``shift``: source = handwritten digits; target = other handwritten digits rotated, blurred,
  partly inverted and noisy, with strength ``gap``.

Images are sklearn's 8x8 digits (values 0..16, scaled to 0..1 for the net). The net has three
named blocks, "conv1" and "conv2" (3x3 convolutions of stride 2: 8x8 -> 4x4 -> 2x2) and "fc"
(a dense layer), then the classifier ``head``. Training and the strategies are those of
:mod:`tl_core.engine`, run as every torch demo runs (:mod:`tl_core.demos.torch_demo`); the
source model is cached per (scenario, seed, source settings, device), in memory and on the
machine's disk (engine.stored_source), and never changed by a strategy. The pictures are
:mod:`tl_core.demos.cnn_figures`.

Your own images (``data=``, an :class:`~tl_core.userdata.ImageData` from
:func:`tl_core.userdata.images.read_image_zip`, a zip of class folders) replace the target task:
the source is still the config's scenario's source model (printed digits by default), the target
is your images as the net reads them (:func:`tl_core.demos.cnn_data.user_ink`: grey, inverted
when the border is light so ink is high, 8x8, ink 0..16), `n_target` images per class chosen by
the seed are labelled and every other image is the target test set. Your classes are new to the
source model, so every strategy gets a new head and ``source_only`` is left out. ``gap`` shapes
only the built-in target, so it is ignored (IGNORED_WITH_USER_DATA).

Beyond the demo interface: :func:`confusion_figure`, :func:`source_model` (cacheable), and
:func:`imagenet_feature_extraction`, a frozen ImageNet ResNet-18 with a fitted head, offered
only when the weights are already on disk (:func:`imagenet_unavailable` says how to get them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import plotly.graph_objects as go
import torch
from torch import nn

from tl_core import engine
from tl_core.config import DemoConfig, device_field, param, seed_field
from tl_core.demos import cnn_data, cnn_figures, torch_demo
from tl_core.demos.protocol import Imagenet, Offers
from tl_core.result import RunResult
from tl_core.strategies import with_baseline
from tl_core.userdata import ImageData

STRATEGIES = (
    "scratch",
    "source_only",
    "feature_extraction",
    "partial_fine_tune",
    "fine_tune",
    "regularized",
    "joint",
)
METRIC = "accuracy"
LOSS = "cross-entropy"
SCENARIOS = cnn_data.SCENARIOS
SOURCE_LR = 3e-3  # Adam learning rate of source training
BATCH_SIZE = 64  # minibatch size, source and target
N_FILTERS = 16  # first-layer filters, shown by model_figure
N_CONV2 = 16  # second-layer filters
N_HIDDEN = 64  # units of the dense block "fc": the features a new head reads
USER_DATA = "images"  # the kind of user data `run(config, data=...)` takes
IGNORED_WITH_USER_DATA = ("gap",)  # fields that shape only the built-in target task

Progress = Callable[[float, str], None] | None


@dataclass(frozen=True)
class Config(DemoConfig):
    """Settings of one CNN experiment; every field has a range a slider can offer."""

    demo: ClassVar[str] = "cnn"
    ignored_by_scenario: ClassVar[dict[str, tuple[str, ...]]] = {
        "sim2real": ("gap", "source_copies"),
        "new_classes": ("gap", "n_source"),
        "shift": ("n_source", "source_copies"),
    }

    scenario: str = param(
        "sim2real",
        "source to target: printed to handwritten digits (sim2real), "
        "digits 0-4 to 5-9 (new_classes, where transfer hurts: features of 0-4 "
        "fit 5-9 worse than a fresh net does), or digits to transformed digits "
        "(shift)",
        choices=SCENARIOS,
    )
    gap: float = param(
        0.25,
        "shift scenario: how strongly target digits are rotated, blurred, "
        "inverted and noised (0 = unchanged); the other scenarios ignore it",
        low=0.0,
        high=1.0,
    )
    n_target: int = param(2, "labelled target digits per class", low=1, high=40)
    lam: float = param(
        0.1,
        "λ of regularized transfer: how hard the weights are pulled back to the source "
        "weights (0 = plain fine-tuning; large keeps them at the source's, like feature extraction)",
        low=0.0,
        high=1000.0,
        log=True,
    )
    epochs: int = param(20, "passes over the labelled target digits", low=1, high=200)
    lr: float = param(1e-2, "learning rate (Adam) of target training", low=1e-4, high=0.1, log=True)
    seed: int = seed_field()
    device: str = device_field()
    strategies: tuple = param(STRATEGIES, "strategies to compare (scratch always runs)", choices=STRATEGIES)
    partial_blocks: int = param(2, "partial fine-tune: how many leading blocks stay frozen", low=1, high=3)
    backbone_lr_scale: float = param(
        1.0,
        "fine-tune: learning rate of the transferred blocks, as a fraction of lr (0 = frozen)",
        low=0.0,
        high=1.0,
    )
    target_weight: float = param(
        1.0,
        "joint training: weight w of the target loss in L_source + w·L_target",
        low=0.1,
        high=10.0,
        log=True,
    )
    n_source: int = param(
        2000, "sim2real: how many printed digits the source model learns from", low=200, high=10000
    )
    source_epochs: int = param(10, "passes over the source digits", low=1, high=50)
    source_copies: int = param(
        0,
        "new_classes: randomly rotated, slanted and shifted copies of "
        "each source digit added to the source, so its features carry "
        "over better to new digits (0 = none)",
        low=0,
        high=16,
    )


class SmallCNN(nn.Module):
    """Conv(1→16, 3x3, stride 2) → ReLU → Conv(16→16, 3x3, stride 2) → ReLU → Linear(64→64) →
    ReLU, then a linear head to the classes (N_FILTERS, N_CONV2, N_HIDDEN). Input: [N, 1, 8, 8]
    ink in 0..1."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.blocks = nn.ModuleDict(
            {
                "conv1": nn.Sequential(nn.Conv2d(1, N_FILTERS, 3, stride=2, padding=1), nn.ReLU()),
                "conv2": nn.Sequential(nn.Conv2d(N_FILTERS, N_CONV2, 3, stride=2, padding=1), nn.ReLU()),
                "fc": nn.Sequential(nn.Flatten(), nn.Linear(N_CONV2 * 2 * 2, N_HIDDEN), nn.ReLU()),
            }
        )
        self.head = nn.Linear(N_HIDDEN, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks.values():
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# ----------------------------------------------------------------------------------------- data
def _as_input(images: np.ndarray) -> np.ndarray:
    """[N, 8, 8] values 0..16 -> the net's [N, 1, 8, 8] ink in 0..1."""
    return np.asarray(images, dtype=np.float32)[:, None] / 16.0


def _domain(digits: cnn_data.Digits, device: str) -> engine.Domain:
    return engine.Domain.from_arrays(
        _as_input(digits.x_train),
        digits.y_train,
        _as_input(digits.x_test),
        digits.y_test,
        digits.classes,
        device,
    )


def transfer_settings(config: Config, history_every: int | None = 1) -> engine.TransferSettings:
    """The engine's target-training settings; the history measures every `history_every`
    epochs (None: at the start and the end only)."""
    return engine.TransferSettings(
        epochs=config.epochs,
        lr=config.lr,
        batch_size=BATCH_SIZE,
        lam=config.lam,
        partial_blocks=config.partial_blocks,
        backbone_lr_scale=config.backbone_lr_scale,
        target_weight=config.target_weight,
        history_every=torch_demo.history_every(history_every, config.epochs),
    )


def _source_key(config: Config, device: str) -> tuple:
    """What the source model depends on (the app may cache on it too)."""
    n_source = config.n_source if config.scenario == "sim2real" else 0
    copies = config.source_copies if config.scenario == "new_classes" else 0
    return (config.scenario, n_source, copies, config.source_epochs, config.seed, device)


_SOURCES = engine.SourceCache(size=16)


def _train_source(
    scenario: str,
    n_source: int,
    copies: int,
    source_epochs: int,
    seed: int,
    device: str,
    progress: Progress = None,
) -> tuple[nn.Module, engine.Domain]:
    source = _domain(cnn_data.source_digits(scenario, max(n_source, 1), seed, copies), device)
    settings = engine.SourceSettings(epochs=source_epochs, lr=SOURCE_LR, batch_size=BATCH_SIZE)
    return engine.stored_source(SmallCNN, source, settings, seed, progress=progress), source


def source_model(
    config: Config, progress: Progress = None, device: str | None = None
) -> tuple[nn.Module, engine.Domain]:
    """The trained source model and the source domain, cached (a few at a time): never mutate
    the model. The same (scenario, seed, source settings, device) gives the same model.
    `progress(fraction, message)` hears from the source training when it has to run; `device`:
    the run's (None: the config's, see torch_demo.device_of)."""
    key = _source_key(config, device or torch_demo.device_of(config))
    return _SOURCES.get(
        key, lambda: _train_source(*key, progress=progress), waiting=engine.waiting_for_source(progress)
    )


def prepare(config: Config) -> None:
    """Train the source model runs of `config` start from, so that the machine keeps it on disk
    (see `python -m tl_core prepare`). The digits are drawn again by each process, in moments."""
    source_model(config)


def _tensors(images: np.ndarray, labels: np.ndarray, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Digits as the net's input and their labels, on the device (copies: the arrays are cached)."""
    return (
        torch.tensor(_as_input(images), device=device),
        torch.tensor(np.asarray(labels, dtype=np.int64), device=device),
    )


@lru_cache(maxsize=16)
def _target_test(scenario: str, gap: float, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The target test set on the device, one copy shared by every target size of a sweep (so
    the engine sees their starting models meet the same test digits); read-only."""
    digits = cnn_data.target_digits(scenario, gap, seed)
    return _tensors(digits.x_test, digits.y_test, device)


_INK = engine.SourceCache(size=4)  # user images as 8x8 ink, by the data's fingerprint


def user_ink(data: ImageData) -> np.ndarray:
    """The user's images as the net's digits ([N, 8, 8], ink 0..16; cached, read-only)."""

    def convert() -> np.ndarray:
        ink = cnn_data.user_ink(data.images)
        ink.setflags(write=False)
        return ink

    return _INK.get(data.fingerprint, convert)


def user_target(config: Config, data: ImageData) -> cnn_data.Digits:
    """The user's target task for `config`: `n_target` labelled images per class (chosen by the
    seed), the rest to test. UserDataError when a class has too few images for that."""
    return cnn_data.user_digits(user_ink(data), data.labels, data.class_names, config.n_target, config.seed)


def max_n_target(data: ImageData) -> int:
    """The largest `n_target` the data allows: one image of every class must be left to test
    (0 when a class has a single image, and the data cannot be used)."""
    counts = np.bincount(data.labels, minlength=len(data.class_names))
    return int(min(counts.min() - 1, Config.field("n_target").high))


def target_domain(config: Config, data: ImageData | None = None, device: str | None = None) -> engine.Domain:
    """The target domain: `n_target` labelled digits per class and the whole target test set
    (with `data`: the user's labelled images, and all the others to test), on `device` (None:
    the config's)."""
    device = device or torch_demo.device_of(config)
    if data is not None:
        return _domain(user_target(config, data), device)
    digits = cnn_data.target_digits(config.scenario, config.gap, config.seed)
    labelled = cnn_data.labelled_subset(digits.y_train, config.n_target, config.seed)
    x_train, y_train = _tensors(digits.x_train[labelled], digits.y_train[labelled], device)
    x_test, y_test = _target_test(config.scenario, config.gap, config.seed, device)
    return engine.Domain(x_train, y_train, x_test, y_test, digits.classes)


# ------------------------------------------------------------------------------------------ run
def _inspect(model: nn.Module) -> dict[str, Any]:
    """What model_figure needs of a trained model: its first-layer filters, as plain lists."""
    return {"filters": model.blocks["conv1"][0].weight.detach()[:, 0].cpu().tolist()}


def transfer_job(
    config: Config,
    history_every: int | None = 1,
    progress: Progress = None,
    data: ImageData | None = None,
    device: str | None = None,
) -> engine.TransferJob:
    """Everything the engine needs to carry the source model to the target for `config` (the
    source model trained or fetched, `progress` hearing from its training; `data`: the user's
    images as the target; `device`: the run's, None for the config's)."""
    device = device or torch_demo.device_of(config)
    target = target_domain(config, data, device)  # first: a config that does not fit the data trains nothing
    if progress:
        progress(0.0, engine.READING_SOURCE)
    model, source = source_model(config, progress, device)
    return engine.TransferJob(
        strategies=with_baseline(config.strategies),
        source_model=model,
        make_model=SmallCNN,
        source=source,
        target=target,
        settings=transfer_settings(config, history_every),
        seed=config.seed,
    )


def _extras(config: Config, job: engine.TransferJob, data: ImageData | None, device: str) -> dict[str, Any]:
    """What a run's result carries beside the strategies' scores: the source model's, the
    classes, the source filters the model view starts from."""
    source_scores = engine.evaluate(job.source_model, job.source)
    extras = {
        "source_model_accuracy": source_scores["accuracy"],
        "source_model_metric": source_scores["accuracy"],
        "source_classes": list(job.source.classes),
        "target_classes": list(job.target.classes),
        "source_filters": _inspect(job.source_model)["filters"],
        "n_target_train": job.target.n_train,
        "device": str(job.target.device),
    }
    if data is not None:
        extras["user_data"] = data.summary()
        extras["n_target_test"] = int(job.target.y_test.shape[0])
    return extras


_TORCH_DEMO = torch_demo.TorchDemo(
    config=Config,
    strategies=STRATEGIES,
    metric=METRIC,
    loss=LOSS,
    transfer_job=transfer_job,
    extras=_extras,
    yours="with your images ({name})",
    inspect=_inspect,
)


def run(
    config: Config | None = None,
    progress: Progress = None,
    data: ImageData | None = None,
    history_every: int = 1,
) -> RunResult:
    """Train (or fetch) the source model, then carry it to the target with each strategy.

    The history measures both test sets every `history_every` epochs (default: every epoch,
    for the per-epoch curves), and always at the start and after the last epoch.

    `data` (ImageData): the user's images are the target task (see the module doc); ``gap`` is
    ignored and ``source_only`` left out. UserDataError, before any training, when a class has
    fewer than n_target + 1 images.
    """
    return torch_demo.run(_TORCH_DEMO, config or Config(), progress, data, history_every)


def run_many(
    configs: Sequence[Config],
    progress: Progress = None,
    data: ImageData | None = None,
    history_every: int | None = None,
) -> list[RunResult]:
    """`run` for each config, with the target models of all of them trained together (batched
    with torch.func.vmap); the final metrics equal running them one by one up to float rounding.

    A sweep needs only the final metrics, so by default the history holds just the start (epoch
    0) and the end (the last epoch); `history_every=1` records every epoch, as `run` does.
    `data`: the user's images as every config's target task, as in `run`.
    """
    return torch_demo.run_many(_TORCH_DEMO, configs, progress, data, history_every)


def target_weights(config: Config | dict, strategy: str, data: ImageData | None = None) -> bytes:
    """The trained target model of `strategy` for `config`, as safetensors bytes (a SmallCNN
    state_dict: blocks.conv1.0.weight, ..., head.weight). Re-trained alone with the config's
    seed, it is the very model `run(config, data=data)` trained (the page's run); the source
    model comes from the cache. Raises ValueError naming the strategies the scenario (or the
    user's data, whose classes are new) allows."""
    return torch_demo.target_weights(_TORCH_DEMO, config, strategy, data)


# -------------------------------------------------------------------------------------- figures
def samples_figure(config: Config | None = None, data: ImageData | None = None) -> go.Figure:
    """Ten source digits above ten target digits, as the net sees them (with `data`: your
    images too, as uploaded and as the net sees them); see cnn_figures.samples_figure."""
    config = config or Config()
    scenario, n_source, copies, *_ = _source_key(config, "")  # the run's source digits, cached
    source = cnn_data.source_digits(scenario, max(n_source, 1), config.seed, copies)
    ink = user_ink(data) if data is not None else None
    return cnn_figures.samples_figure(config, source, data, ink)


model_figure = cnn_figures.model_figure
confusion_figure = cnn_figures.confusion_figure


def describe_model(result: RunResult) -> str:
    """The sentence under the model view (cnn_figures.describe_model), counting SmallCNN's weights."""
    return cnn_figures.describe_model(result, SmallCNN)


# ------------------------------------------------------------------------ ImageNet (optional)
def imagenet_unavailable(weights: str | None = None) -> str | None:
    """None when ResNet-18's ImageNet weights are on disk, else one line on how to get them."""
    from tl_core import backbones

    return backbones.resnet18_unavailable(weights)


IMAGENET_SIZE = 224  # ResNet-18 reads the user's photos at ImageNet's own resolution
IMAGENET_BATCH = 64  # images through ResNet-18 at a time (bounded memory at 224x224)


def imagenet_feature_extraction(
    config: Config | None = None, weights: str | None = None, data: ImageData | None = None
) -> dict:
    """Feature extraction from ImageNet instead of from the source digits: a frozen ResNet-18
    (ImageNet weights from disk, see :mod:`tl_core.backbones`) reads the 8x8 digits scaled to
    32x32, and a logistic-regression head is fitted on the `n_target` labelled digits per class.
    With `data`, it reads the user's images in colour, scaled to 224x224 (IMAGENET_SIZE, what
    the weights were trained on), with the same labelled and test images as `run`.

    Returns plain values, the head's target test accuracy among them, to set beside the demo's
    own feature extraction. Raises FileNotFoundError with a one-line message when the weights are
    not on disk; nothing is downloaded.
    """
    from sklearn.linear_model import LogisticRegression

    from tl_core import backbones

    config = config or Config()
    device = torch_demo.device_of(config)
    if data is None:
        backbone = backbones.load_resnet18(weights).to(device)
        target = target_domain(config, device=device)
        x_train, y_train, x_test, y_test = target.x_train, target.y_train, target.x_test, target.y_test
        batch = 256
    else:
        labelled, tested = cnn_data.user_split(data.labels, data.class_names, config.n_target, config.seed)
        backbone = backbones.load_resnet18(weights, size=IMAGENET_SIZE).to(device)
        rgb = torch.tensor(data.images).permute(0, 3, 1, 2)  # a copy: the data's array is read-only
        x_train, x_test = (rgb[i].to(device, torch.float32) / 255.0 for i in (labelled, tested))
        y_train, y_test = (torch.from_numpy(data.labels[i]) for i in (labelled, tested))
        batch = IMAGENET_BATCH
    train = backbones.extract_features(backbone, x_train, batch).cpu().numpy()
    test = backbones.extract_features(backbone, x_test, batch).cpu().numpy()
    head = LogisticRegression(max_iter=2000).fit(train, y_train.cpu().numpy())
    return {
        "backbone": "resnet18 (ImageNet)",
        "n_target": config.n_target,
        "target_accuracy": float(head.score(test, y_test.cpu().numpy())),
        "n_target_test": int(len(y_test)),
    }


# What this demo offers beyond the required members (tl_core.demos.protocol)
OFFERS = Offers(
    describe_model=describe_model,
    confusion_figure=confusion_figure,
    prepare=prepare,
    run_many=run_many,
    target_weights=target_weights,
    imagenet=Imagenet(unavailable=imagenet_unavailable, feature_extraction=imagenet_feature_extraction),
    user_data=USER_DATA,
    ignored_with_user_data=IGNORED_WITH_USER_DATA,
    max_n_target=max_n_target,
)
