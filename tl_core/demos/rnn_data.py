"""MNIST-1D, generated offline, split into a source and a target domain for the RNN demo.

MNIST-1D (Greydanus 2020) turns ten hand-made 12-point templates, one per digit, into 40-step
sequences: each template is padded, scaled, shifted in time (translation), buried in correlated
and independent noise, and tilted (shear). We call the `mnist1d` package's own generator,
`make_dataset`, never its download function, so nothing leaves the machine.

Two ways to make a target task:

- ``new_classes``: the source is digits 0-4, the target digits 5-9 (the same generator, new
  labels). The recurrent features learnt on 0-4 read wiggles in a sequence; the head must learn
  new classes.
- ``shift``: the same ten digits, but every target sequence is drawn 1 + 3·`gap` times as large
  (MNIST-1D's scale, the same for every sequence, as a sensor of another gain would record
  them); `gap` = 0 is the source's own distribution, `gap` = 1 four times as large.

Why a scale: carried to sequences 4 times as large, the source model's recurrent units saturate
and read the digits no better than a model trained from scratch on a few labelled target
sequences (which learns the larger sequences as easily as the source's): source only and
feature extraction fall below scratch past gap 0.5 or so, fine-tuning (which re-learns the input
weights) to about its level. Growing MNIST-1D's random distortions instead (noise, shear,
translation) made the target hard to learn from a few labels for scratch as much as for the
transferred models, and transfer never hurt.

Generation takes a few seconds per 5000 sequences, so each generated set is cached in memory,
keyed by the settings that made it, and on disk (:mod:`tl_core.diskcache`) for the next process.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tl_core import diskcache
from tl_core.runtime import global_random
from tl_core.userdata import SequenceData, UserDataError, per_class_counts

SEQUENCE_LENGTH = 40  # MNIST-1D's final_seq_length
SOURCE_DATA_SEED = 42  # the published MNIST-1D set is generated with seed 42
TARGET_DATA_SEED = 43  # fresh sequences for the target, even at gap 0
TARGET_POOL_SHARE = 0.75  # of a shift target set: the pool labels are drawn from; the rest tests

GAP_SCALE = 3.0  # at gap g the target's sequences are 1 + GAP_SCALE·g times as large


@dataclass(frozen=True)
class Split:
    """Sequences `x` (n, 40) and class labels `y` (n,) as numpy arrays, read-only."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class Domains:
    """Everything a run reads: the source task, the target pool to draw labels from, two test sets.

    Target labels are renumbered from 0 (digits 5-9 become classes 0-4) so that a target head has
    exactly `n_target_classes` outputs; `target_digits` keeps the digit each class stands for.
    """

    source_train: Split
    source_test: Split
    target_pool: Split
    target_test: Split
    source_digits: tuple[int, ...]
    target_digits: tuple[int, ...]

    @property
    def n_source_classes(self) -> int:
        return len(self.source_digits)

    @property
    def n_target_classes(self) -> int:
        return len(self.target_digits)

    @property
    def same_classes(self) -> bool:
        """True when source and target share their classes, so the source head can be used as is."""
        return self.source_digits == self.target_digits


def generator_settings() -> dict:
    """MNIST-1D's published generation settings (noise, shear, scale, translation...)."""
    from mnist1d.data import get_dataset_args

    return get_dataset_args(as_dict=True)


def target_scale(gap: float) -> float:
    """How many times as large the shift target's sequences are drawn at `gap`: 1 + 3·gap."""
    return 1.0 + GAP_SCALE * float(gap)


@contextmanager
def _private_global_random():
    """Run code that seeds numpy's and python's global generators without disturbing the caller.

    `mnist1d.make_dataset` seeds and draws from the global generators; we put them back after.
    """
    with global_random():  # no other session's thread seeds them meanwhile
        numpy_state, python_state = np.random.get_state(), random.getstate()
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


@lru_cache(maxsize=16)
def mnist1d(
    gap: float = 0.0, num_samples: int = 5000, train_split: float = 0.8, data_seed: int = SOURCE_DATA_SEED
) -> tuple[Split, Split]:
    """(train, test) of a generated MNIST-1D set, every sequence drawn target_scale(gap) times as
    large; gap 0 with the defaults is the published set.

    Cached: the same arguments return the same (read-only) arrays without generating again, in
    this process and (through :mod:`tl_core.diskcache`, which keeps the sequences as generated)
    in the next one.
    """
    settings = generator_settings()
    settings.update(num_samples=num_samples, train_split=train_split, seed=data_seed)
    data = diskcache.arrays(
        "mnist1d", _cache_key(settings), lambda: _generate(settings), check=lambda d: _check(d, settings)
    )
    scale = target_scale(gap)
    return _split(data["x"] * scale, data["y"]), _split(data["x_test"] * scale, data["y_test"])


def _generate(settings: dict) -> dict[str, np.ndarray]:
    from mnist1d.data import make_dataset
    from mnist1d.utils import ObjectView

    with _private_global_random():
        data = make_dataset(ObjectView(settings))
    return {name: data[name] for name in ("x", "y", "x_test", "y_test")}


def _check(data: dict[str, np.ndarray], settings: dict) -> None:
    """Raise unless `data` has the shape of a set generated with `settings` (a disk cache entry
    with other arrays is then generated again)."""
    x, y, x_test, y_test = (data[name] for name in ("x", "y", "x_test", "y_test"))
    n_train = int(settings["num_samples"] * settings["train_split"])
    if (
        x.shape != (n_train, x_test.shape[-1])
        or y.shape != (n_train,)
        or x_test.shape[0] + n_train != settings["num_samples"]
        or y_test.shape != (x_test.shape[0],)
    ):
        raise ValueError(f"arrays of the wrong shapes for {settings['num_samples']} sequences")


def _cache_key(settings: dict) -> dict:
    """Everything the generated numbers depend on: the settings and the generator's code (the
    mnist1d package, and the numpy and scipy it draws and interpolates with)."""
    from importlib.metadata import version

    return {"settings": settings, **{package: version(package) for package in ("mnist1d", "numpy", "scipy")}}


def _split(x: np.ndarray, y: np.ndarray) -> Split:
    x, y = x.astype(np.float32), y.astype(np.int64)
    x.flags.writeable = False  # shared through the cache: nobody may change them
    y.flags.writeable = False
    return Split(x, y)


def _keep(split: Split, digits: tuple[int, ...]) -> Split:
    """The sequences of `digits`, relabelled 0..len(digits)-1 in that order."""
    mask = np.isin(split.y, digits)
    relabel = np.full(10, -1, dtype=np.int64)
    relabel[list(digits)] = np.arange(len(digits))
    return _split(split.x[mask], relabel[split.y[mask]])


SOURCE_DIGITS = (0, 1, 2, 3, 4)
NEW_DIGITS = (5, 6, 7, 8, 9)
ALL_DIGITS = tuple(range(10))


@lru_cache(maxsize=16)
def load_domains(scenario: str, gap: float, num_samples: int, target_samples: int) -> Domains:
    """The source and target data of a scenario (see the module docstring).

    `num_samples` sets the size of the source set (80% train, 20% test, as published); in
    ``shift`` the target set has `target_samples` sequences (75% pool, 25% test), generated with a
    different data seed so that even at gap 0 they are new sequences from the same distribution.
    """
    if scenario == "new_classes":
        train, test = mnist1d(0.0, num_samples)
        return Domains(
            _keep(train, SOURCE_DIGITS),
            _keep(test, SOURCE_DIGITS),
            _keep(train, NEW_DIGITS),
            _keep(test, NEW_DIGITS),
            SOURCE_DIGITS,
            NEW_DIGITS,
        )
    if scenario == "shift":  # the target: new sequences (another data seed), drawn larger by the gap
        train, test = mnist1d(0.0, num_samples)
        pool, target_test = mnist1d(float(gap), target_samples, TARGET_POOL_SHARE, TARGET_DATA_SEED)
        return Domains(train, test, pool, target_test, ALL_DIGITS, ALL_DIGITS)
    raise ValueError(f"scenario must be one of new_classes, shift, got {scenario!r}")


def labelled_subset(pool: Split, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `per_class` sequences of each class of `pool`, drawn without replacement by `rng`.

    A class with fewer sequences gives all it has. Indices are returned sorted, so the same draw
    always yields the same order.
    """
    picks = []
    for label in np.unique(pool.y):
        members = np.flatnonzero(pool.y == label)
        picks.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.concatenate(picks))


# ----------------------------------------------------------------------------------------------
# A user's own sequences as the target (tl_core.userdata.sequences reads them)


def _check_data(data) -> SequenceData:
    if not isinstance(data, SequenceData):
        raise TypeError(
            f"the RNN demo takes sequences (tl_core.userdata.sequences."
            f"read_sequence_csv), got {type(data).__name__}"
        )
    return data


def max_n_target(data: SequenceData, most: int) -> int:
    """The most labelled sequences per class `data` allows: every class keeps one to test (and
    no more than `most`, the n_target setting's bound)."""
    smallest = int(np.bincount(_check_data(data).labels, minlength=len(data.class_names)).min())
    return max(0, min(smallest - 1, most))


def check_fits(data: SequenceData, n_target: int, allowed: int) -> None:
    """UserDataError unless every class has `n_target` sequences to learn from and one to test
    (`allowed`: the most n_target can be, for the message)."""
    counts = per_class_counts(_check_data(data).labels, data.class_names)
    smallest = min(counts, key=counts.get)
    if counts[smallest] < n_target + 1:
        raise UserDataError(
            f"n_target = {n_target} per class needs at least {n_target + 1} "
            f"sequences of class {smallest!r} in {data.name} ({n_target} labelled + 1 to "
            f"test); it has {counts[smallest]} (n_target can be at most {allowed} here)"
        )


@dataclass(frozen=True)
class UserTarget:
    """A user's sequences split for one run: `n_target` labelled per class, the rest to test.

    `labelled` and `test` index the user's sequences (sorted); `train` and `test_split` hold
    them scaled to the source's range (see :func:`scale_to_source`); `scaling` says how.
    """

    train: Split
    test_split: Split
    labelled: np.ndarray
    test: np.ndarray
    scaling: dict


def scale_to_source(
    x: np.ndarray, lengths: np.ndarray, rows: np.ndarray, source_mean: float, source_std: float
) -> tuple[np.ndarray, dict]:
    """Every sequence x mapped to the source's range: x' = (x − m) / s · s_source + m_source.

    m and s are the mean and standard deviation of the values of the labelled sequences `rows`
    (their own steps, not the padding): what a user knows before testing, so the held-out test
    sequences play no part. One m and s for all steps and sequences, so every sequence keeps its
    shape and the classes keep their differences in level and size. A constant set (s = 0)
    is only shifted.
    """
    rows = np.asarray(rows, dtype=np.int64)
    steps = np.arange(x.shape[1])[None, :] < np.asarray(lengths)[rows, None]
    values = np.asarray(x, dtype=np.float64)[rows][steps]
    mean, std = float(values.mean()), float(values.std())
    std = std if std > 1e-12 else 1.0
    scaled = (np.asarray(x, dtype=np.float64) - mean) / std * source_std + source_mean
    return scaled.astype(np.float32), {
        "target_mean": mean,
        "target_std": std,
        "source_mean": float(source_mean),
        "source_std": float(source_std),
    }


def user_target(
    sequences: np.ndarray,
    lengths: np.ndarray,
    labels: np.ndarray,
    per_class: int,
    rng: np.random.Generator,
    source_mean: float,
    source_std: float,
) -> UserTarget:
    """`per_class` labelled sequences of each class drawn by `rng` (labelled_subset's draw), the
    rest held out for testing, all scaled to the source's range by the labelled ones."""
    labels = np.asarray(labels, dtype=np.int64)
    labelled = labelled_subset(Split(sequences, labels), per_class, rng)
    test = np.setdiff1d(np.arange(len(labels)), labelled)
    scaled, scaling = scale_to_source(sequences, lengths, labelled, source_mean, source_std)
    return UserTarget(
        _split(scaled[labelled], labels[labelled]),
        _split(scaled[test], labels[test]),
        labelled,
        test,
        scaling,
    )
