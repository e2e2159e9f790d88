"""RNN transfer on MNIST-1D: a recurrent classifier learnt on a source task, carried to a target.

Data (:mod:`tl_core.demos.rnn_data`): MNIST-1D, 40-step sequences of ten digit shapes, generated
offline by the `mnist1d` package. Scenarios:

- ``new_classes``: learn digits 0-4 on the source, then digits 5-9 on the target from
  ``n_target`` labelled sequences per digit. The source head cannot name the new digits, so there
  is no "source only" here, and every transfer strategy trains a new head.
- ``shift``: the same ten digits; the target's sequences are drawn 1 + 3·``gap`` times as large
  (0 = the source's own distribution, 1 = four times as large, where carrying the source model
  over hurts: see :mod:`tl_core.demos.rnn_data`).

Model (:mod:`tl_core.demos.rnn_model`): ``layers`` recurrent layers (plain RNN, GRU or LSTM) of
``hidden`` units, a dense layer on the mean hidden state and a linear head; its blocks
"layer1".."layerN" and "dense": feature extraction freezes them all, partial fine-tuning the
first ``partial_blocks`` recurrent layers (the dense layer is retrained), fine-tuning none.
Cross-entropy loss, Adam, minibatches of up to TARGET_BATCH_PER_CLASS sequences per class.

Scratch, the baseline every gain is measured against, trains ``scratch_epochs`` passes, the
strategies that start from the source model ``epochs``, at the same learning rate: fresh weights
level off later. At the defaults, and at every stop of the data-efficiency sweep, twice as many
passes barely change scratch's score (the larger label counts take longest), so a gain shown is
transfer's, not that of a baseline stopped early.

The source model is trained once per scenario, model shape and ``quality`` (its seed is fixed:
it plays the part of a pre-trained model, shared by every run), and cached: in memory, and on
the machine's disk for later processes (engine.stored_source). The run's ``seed``
draws the labelled target sequences, the fresh weights of new layers and the batch order.

Training, scores and histories are the engine's (:mod:`tl_core.engine`), run as every torch
demo runs (:mod:`tl_core.demos.torch_demo`); the pictures are :mod:`tl_core.demos.rnn_figures`.

Your own sequences (``data=``, a :class:`tl_core.userdata.SequenceData` read by
:func:`tl_core.userdata.sequences.read_sequence_csv`, of any length) replace the target task;
the source model stays the config's scenario's MNIST-1D model. ``n_target`` sequences of each of
your classes, drawn with the seed, are the labelled target set, all the others the test set.
Your values are mapped to the source's range (:func:`rnn_data.scale_to_source`;
`extras["target_scaling"]` holds the four numbers). ``gap`` plays no part
(:data:`IGNORED_WITH_USER_DATA`); ``source_only`` is left out, since the source head names
MNIST-1D digits, not your classes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import plotly.graph_objects as go

from tl_core import engine, subsets
from tl_core.config import DemoConfig, device_field, param, seed_field
from tl_core.demos import rnn_data, rnn_figures, torch_demo
from tl_core.demos.protocol import Offers
from tl_core.demos.rnn_model import CELLS, PRESETS, SequenceClassifier
from tl_core.result import RunResult
from tl_core.runtime import seed_everything
from tl_core.strategies import with_baseline
from tl_core.userdata import SequenceData

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
SCENARIOS = ("new_classes", "shift")
QUALITIES = ("fast", "full")
SOURCE_SEED = 0  # one source model per setting: the "pre-trained" model every run starts from
TARGET_SAMPLES = 2000  # sequences generated for a shift target: 75% pool (150 per digit), 25% test
MAX_N_TARGET = 100  # labelled target sequences per digit (the shift pool has 150 of each)
# Target minibatches hold up to this many labelled sequences per class: a few labels per class
# are one batch (full-batch steps), more are several; both scenarios step alike for one n_target.
TARGET_BATCH_PER_CLASS = 6
HISTORY_ROWS = 250  # test sequences of each domain the per-epoch history measures (all at the end)
USER_DATA = "sequences"  # the kind of a user's own data this demo takes (tl_core.userdata)
IGNORED_WITH_USER_DATA = ("gap",)  # settings a user's sequences replace (the scenario picks the source)
Progress = Callable[[float, str], None] | None
NUM_SAMPLES = 5000  # MNIST-1D sequences generated for the source, as published (80% train)
# Target training clips the gradient norm, as source training does: the plain RNN's explodes,
# from fresh weights too; a gated cell carried over at lr 0.02 now and then leaps off its minimum
# late (rounding decides: a GRU's 0.95 fell to 0.36 once), while its scratch trains best unclipped.
TARGET_CLIP = 1.0
SCRATCH_CLIPPED = ("rnn",)  # the cells whose scratch is clipped too
# Trained source models by (scenario, cell, hidden, layers, quality, device)
_SOURCES = engine.SourceCache(size=8)


@dataclass(frozen=True)
class Config(DemoConfig):
    """Settings of the RNN demo; every default teaches without tuning."""

    demo = "rnn"
    ignored_by_scenario: ClassVar[dict[str, tuple[str, ...]]] = {"new_classes": ("gap",)}

    scenario: str = param(
        "new_classes",
        "new_classes: learn digits 0-4, then 5-9 from few labels; "
        "shift: the same digits, the target's sequences drawn larger (set by the gap)",
        choices=SCENARIOS,
    )
    gap: float = param(
        0.5,
        "shift: how much larger the target's sequences are drawn, 1 + 3·gap times "
        "(0 = like the source, 1 = four times as large: the source model's units saturate)",
        low=0.0,
        high=1.0,
    )
    n_target: int = param(
        5, "labelled target sequences per digit the target models learn from", low=1, high=MAX_N_TARGET
    )
    lam: float = param(
        0.1,
        "λ of regularized transfer: the pull λ‖θ − θ_source‖² toward the "
        "source weights (0 = plain fine-tuning; large keeps them at the source's, like feature extraction)",
        low=0.0,
        high=100.0,
        log=True,
    )
    epochs: int = param(
        24,
        "passes over the labelled target sequences of the strategies that start from the source "
        "model (scratch makes scratch_epochs)",
        low=1,
        high=200,
    )
    scratch_epochs: int = param(
        90,
        "passes over the labelled target sequences of scratch: from fresh weights it needs more "
        "than the transferred models before it levels off",
        low=1,
        high=200,
    )
    lr: float = param(
        2e-2, "learning rate (Adam) of target training, scratch's too", low=1e-4, high=0.1, log=True
    )
    cell: str = param(
        "gru",
        "recurrent cell: rnn (h_t = tanh(W_hh h_t−1 + W_xh x_t + b): its gradient explodes over "
        "40 steps unless clipped, so it takes small steps and learns slowly: about 70% on the "
        "source digits at fast quality, over 90% at full), gru or lstm (gated: over 94% at either)",
        choices=CELLS,
    )
    hidden: int = param(32, "hidden units per recurrent layer (the size of h_t)", low=4, high=128)
    layers: int = param(1, "stacked recurrent layers", low=1, high=3)
    partial_blocks: int = param(
        1,
        "partial fine-tune: how many recurrent layers stay frozen (the "
        "dense layer on top is always retrained)",
        low=1,
        high=3,
    )
    backbone_lr_scale: float = param(
        1.0,
        "fine-tune family: learning rate of the transferred layers, as a fraction of lr (0 = frozen)",
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
    quality: str = param(
        "fast",
        "source training: fast (a few seconds, for the lecture) or full "
        "(a GRU passes the published MNIST-1D accuracy; about 20 s)",
        choices=QUALITIES,
    )
    strategies: tuple[str, ...] = param(
        STRATEGIES, "strategies to run (scratch always runs)", choices=STRATEGIES
    )
    seed: int = seed_field()
    device: str = device_field()

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.partial_blocks > self.layers:
            raise ValueError(
                f"partial_blocks must be at most layers ({self.layers}), got {self.partial_blocks}"
            )


# -------------------------------------------------------------------- data and the source model
def load_domains(config: Config) -> rnn_data.Domains:
    """The scenario's MNIST-1D data as numpy arrays (cached by the generation settings)."""
    gap = config.gap if config.scenario == "shift" else 0.0  # new_classes ignores the gap
    return rnn_data.load_domains(config.scenario, float(gap), NUM_SAMPLES, TARGET_SAMPLES)


@lru_cache(maxsize=8)
def _device_tensors(scenario: str, gap: float, device: str):
    """Source domain and the target test/pool tensors on `device`, made once per data and device."""
    data = load_domains(Config(scenario=scenario, gap=gap))
    source = _domain(data.source_train, data.source_test, data.source_digits, device)
    pool = _domain(data.target_pool, data.target_test, data.target_digits, device)
    return data, source, pool


def _domain(train: rnn_data.Split, test: rnn_data.Split, classes, device: str) -> engine.Domain:
    return engine.Domain.from_arrays(train.x, train.y, test.x, test.y, classes, device)


def domains(config: Config, device: str, data: SequenceData | None = None):
    """(source, target) engine domains: the target's training set is `n_target` sequences per
    digit drawn from the target pool with the run's seed (a larger draw is not a superset).
    With `data`, the target is the user's sequences (see :func:`user_target`)."""
    if data is not None:
        _, source, _ = _device_tensors(config.scenario, 0.0, device)
        split = user_target(config, data)
        return source, _domain(split.train, split.test_split, data.class_names, device)
    gap = config.gap if config.scenario == "shift" else 0.0
    data, source, pool = _device_tensors(config.scenario, gap, device)
    rows = rnn_data.labelled_subset(data.target_pool, config.n_target, seed_everything(config.seed))
    rows = pool.x_train.new_tensor(rows, dtype=pool.y_train.dtype)
    target = engine.Domain(pool.x_train[rows], pool.y_train[rows], pool.x_test, pool.y_test, pool.classes)
    return source, target


def max_n_target(data: SequenceData) -> int:
    """The most labelled sequences per class `data` allows: every class keeps one to test (and
    no more than the n_target setting allows)."""
    return rnn_data.max_n_target(data, Config.field("n_target").high)


@lru_cache(maxsize=4)
def _source_range(scenario: str) -> tuple[float, float]:
    """Mean and standard deviation of the scenario's source training sequences (all steps)."""
    x = rnn_data.load_domains(scenario, 0.0, NUM_SAMPLES, TARGET_SAMPLES).source_train.x
    return float(x.mean(dtype=np.float64)), float(x.std(dtype=np.float64))


def user_target(config: Config, data: SequenceData) -> rnn_data.UserTarget:
    """The user's sequences split for `config`: `n_target` per class labelled (drawn with the
    seed, as the built-in pool is), the rest to test, all scaled to the source's range by the
    labelled ones (:func:`rnn_data.scale_to_source`)."""
    rnn_data.check_fits(data, config.n_target, max_n_target(data))
    mean, std = _source_range(config.scenario)
    return rnn_data.user_target(
        data.sequences, data.lengths, data.labels, config.n_target, seed_everything(config.seed), mean, std
    )


def model_factory(config: Config) -> Callable:
    """make_model(n_classes) for the engine: a fresh recurrent classifier of the config's shape."""
    cell, hidden, layers = config.cell, config.hidden, config.layers

    def make_model(n_classes: int):
        return SequenceClassifier(n_classes, cell=cell, hidden=hidden, layers=layers)

    return make_model


def source_model(config: Config, device: str, progress: Progress = None):
    """The trained source model of the config's scenario, model shape and quality (cached).
    `progress(fraction, message)` hears from the source training when it has to run."""
    return _source_model(
        config.scenario, config.cell, config.hidden, config.layers, config.quality, device, progress
    )


def _source_model(
    scenario: str, cell: str, hidden: int, layers: int, quality: str, device: str, progress: Progress = None
):
    def build():
        config = Config(scenario=scenario, cell=cell, hidden=hidden, layers=layers, quality=quality)
        _, source, _ = _device_tensors(scenario, 0.0, device)
        return engine.stored_source(
            model_factory(config),
            source,
            engine.SourceSettings(**PRESETS[quality, cell].for_source(source.n_train)),
            SOURCE_SEED,
            progress=progress,
        )

    return _SOURCES.get(
        (scenario, cell, hidden, layers, quality, device), build, waiting=engine.waiting_for_source(progress)
    )


def prepare(config: Config) -> None:
    """Make what runs of `config` start from, so that the machine keeps it on disk (see
    `python -m tl_core prepare`): the scenario's MNIST-1D sequences and its source model."""
    device = torch_demo.device_of(config)
    domains(config, device)
    source_model(config, device)


def source_accuracy(config: Config, device: str | None = None) -> float:
    """Test accuracy of the source model on its own task (the ten digits in ``shift``), on
    `device` (None: the config's, see torch_demo.device_of)."""
    device = device or torch_demo.device_of(config)
    return _source_accuracy(
        config.scenario, config.cell, config.hidden, config.layers, config.quality, device
    )


@lru_cache(maxsize=8)  # a run's headline reads it: measured once per source model, not per run
def _source_accuracy(scenario: str, cell: str, hidden: int, layers: int, quality: str, device: str) -> float:
    config = Config(scenario=scenario, cell=cell, hidden=hidden, layers=layers, quality=quality)
    _, source, _ = _device_tensors(scenario, 0.0, device)
    return engine.evaluate(source_model(config, device), source)["accuracy"]


# ------------------------------------------------------------------------------------------ run
def transfer_settings(
    config: Config, n_classes: int, history_every: int | None = 1
) -> engine.TransferSettings:
    """The engine's target-training settings for a target of `n_classes` classes; the history
    measures every `history_every` epochs (1, for the curves; None: at the start and the end
    only, all a sweep reads)."""
    return engine.TransferSettings(
        epochs=config.epochs,
        scratch_epochs=config.scratch_epochs,
        lr=config.lr,
        batch_size=TARGET_BATCH_PER_CLASS * n_classes,
        lam=config.lam,
        partial_blocks=config.partial_blocks,
        backbone_lr_scale=config.backbone_lr_scale,
        target_weight=config.target_weight,
        history_every=torch_demo.history_every(history_every, config.epochs, config.scratch_epochs),
        history_rows=HISTORY_ROWS,
        clip_grad_norm=TARGET_CLIP,
        clip_scratch=config.cell in SCRATCH_CLIPPED,
    )


def transfer_job(
    config: Config,
    history_every: int | None = 1,
    progress: Progress = None,
    data: SequenceData | None = None,
    device: str | None = None,
) -> engine.TransferJob:
    """Everything the engine needs to carry the source model to the target for `config`;
    `progress` hears from the source training if the source model is not cached yet; `data`:
    the user's sequences as the target; `device`: the run's (None: the config's)."""
    device = device or torch_demo.device_of(config)
    source, target = domains(config, device, data)  # first: data that does not fit trains nothing
    if progress:
        progress(0.0, engine.READING_SOURCE)
    return engine.TransferJob(
        strategies=with_baseline(config.strategies),
        source_model=source_model(config, device, progress),
        make_model=model_factory(config),
        source=source,
        target=target,
        settings=transfer_settings(config, target.n_classes, history_every),
        seed=config.seed,
    )


def _extras(
    config: Config, job: engine.TransferJob, data: SequenceData | None, device: str
) -> dict[str, Any]:
    """What a run's result carries beside the strategies' scores: the source model's score, the
    sizes and classes of both domains, the hidden-state paths of the model view."""
    n_source_test, n_target_test = int(job.source.y_test.shape[0]), int(job.target.y_test.shape[0])
    extras = {
        "source_model_metric": source_accuracy(config, device),  # before any target training
        "n_source_train": job.source.n_train,
        "n_source_test": n_source_test,
        "n_target_train": job.target.n_train,
        "n_target_test": n_target_test,
        "source_digits": list(job.source.classes),
        "target_digits": list(job.target.classes),
        "hidden_paths": hidden_paths(config, device, data),
        **subsets.history_note(HISTORY_ROWS, n_source_test, n_target_test, "test sequences"),
    }
    if data is not None:  # the target's classes are the user's, named, not digits
        del extras["target_digits"]
        extras.update(
            target_classes=list(data.class_names),
            user_data=data.summary(),
            target_scaling=user_target(config, data).scaling,
        )
    return extras


_TORCH_DEMO = torch_demo.TorchDemo(
    config=Config,
    strategies=STRATEGIES,
    metric=METRIC,
    loss=LOSS,
    transfer_job=transfer_job,
    extras=_extras,
    yours="on your data",
)


def run(
    config: Config | None = None,
    progress: Progress = None,
    data: SequenceData | None = None,
    history_every: int = 1,
) -> RunResult:
    """Train (or reuse) the source model, then every strategy on the target; score both domains.
    The history measures every `history_every` epochs (and always at the start and the end).
    `data`: the user's sequences as the target (see the module docstring)."""
    return torch_demo.run(
        _TORCH_DEMO, config if config is not None else Config(), progress, data, history_every
    )


def run_many(
    configs: Sequence[Config],
    progress: Progress = None,
    data: SequenceData | None = None,
    history_every: int | None = None,
) -> list[RunResult]:
    """run() for every config (on the user's sequences with `data`): the same numbers, to the
    last digit. A sweep needs only the final metrics, so by default the history holds just the
    start and the end; `history_every=1` records every epoch, as `run` does.

    Like target models of all the configs are trained together (the engine's vmap over the
    written-out recurrence), several times faster than one model after another
    (benchmarks/bench_rnn.py measures both).
    """
    return torch_demo.run_many(_TORCH_DEMO, configs, progress, data, history_every)


def target_weights(config: Config | dict, strategy: str, data: SequenceData | None = None) -> bytes:
    """The trained target model of `strategy` for `config`, as safetensors bytes (a
    SequenceClassifier state_dict: blocks.layer1.rnn.weight_ih_l0, ..., head.weight). Re-trained
    alone with the config's seed, it is the very model `run(config)` trained (the page's run);
    the source model comes from the cache. Raises ValueError naming the strategies the scenario
    allows (no source_only in new_classes, nor on a user's `data`)."""
    return torch_demo.target_weights(_TORCH_DEMO, config, strategy, data)


# -------------------------------------------------------- hidden-state paths for the model view
def hidden_paths(config: Config, device: str, data: SequenceData | None = None) -> dict:
    """Hidden states h_1..h_T of a few source and target test sequences under the source model's
    recurrent layers (the frozen features of feature extraction), in the 2-D plane (PCA) that
    best spreads both domains' states (rnn_figures.digit_paths): cached, as they do not depend
    on the seed. With `data`, the target paths are the user's test sequences, which the seed
    picks (rnn_figures.user_paths)."""
    if data is not None:
        builtin, source, _ = _device_tensors(config.scenario, 0.0, device)
        test = user_target(config, data).test_split
        return rnn_figures.user_paths(
            source_model(config, device),
            (source.x_test, builtin.source_test.y, builtin.source_digits),
            (test.x, test.y, data.class_names),
        )
    gap = config.gap if config.scenario == "shift" else 0.0
    paths = _hidden_paths(
        config.scenario, gap, config.cell, config.hidden, config.layers, config.quality, device
    )
    return copy.deepcopy(paths)  # the cached copy must not change with a caller's result


@lru_cache(maxsize=16)
def _hidden_paths(scenario, gap, cell, hidden, layers, quality, device) -> dict:
    data, source, pool = _device_tensors(scenario, gap, device)
    return rnn_figures.digit_paths(
        _source_model(scenario, cell, hidden, layers, quality, device),
        (source.x_test, data.source_test.y, data.source_digits),
        (pool.x_test, data.target_test.y, data.target_digits),
    )


# ------------------------------------------------------------------------ figures (rnn_figures)
def samples_figure(config: Config | None = None, data: SequenceData | None = None) -> go.Figure:
    """One test sequence of each digit from the source (left) and the target (right), stacked one
    digit per row; with `data`, the right panel shows the user's sequences instead, scaled to
    the source's range as the models read them."""
    config = config if config is not None else Config()
    if data is not None:
        builtin = load_domains(config.replace(gap=0.0))
        return rnn_figures.user_samples_figure(config, builtin, user_target(config, data), data)
    return rnn_figures.samples_figure(config, load_domains(config))


model_figure = rnn_figures.model_figure
describe_model = rnn_figures.describe_model
confusion_figure = rnn_figures.confusion_figure


# What this demo offers beyond the required members (tl_core.demos.protocol)
OFFERS = Offers(
    describe_model=describe_model,
    confusion_figure=confusion_figure,
    prepare=prepare,
    run_many=run_many,
    target_weights=target_weights,
    user_data=USER_DATA,
    ignored_with_user_data=IGNORED_WITH_USER_DATA,
    max_n_target=max_n_target,
)
