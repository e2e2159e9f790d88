"""The logistic demo's data: its two scenarios, and a user's table, as two domains of samples.

Scenarios
---------
- ``synthetic``: 2-D inputs x ~ N(0, I). The source is the classic example, labelled
  y = 1 when 2·x0 + x1 + 0.5 > 1. The target's boundary is the source's rotated by
  **angle = gap × 90°** (counter-clockwise) about (0.2, 0.1), the point of the source boundary
  nearest the centre of the inputs: gap 0 is the same task, gap 1 a boundary at right angles,
  where the source model is no better than a coin. With ``shift`` > 0 the whole target domain,
  inputs and boundary together, moves right along x0 by that much: a shift of the inputs that
  CORAL can undo without labels. ``label_noise`` flips that share of labels in both domains, so
  the classes overlap and no line is perfect.
- ``breast_cancer``: scikit-learn's bundled Wisconsin breast cancer data (569 tumours, benign or
  malignant), classified from two features, *mean radius* and *mean texture*, so every model is a
  line one can draw. The domains are split by a third feature, *mean smoothness* (the local
  variation of the tumour's outline): source = the smoother half, target = the rougher half. This
  split shows a real shift: among rough tumours malignancy is common even at a smaller radius, so
  the target boundary sits at a smaller radius than the source's and the source model calls too
  many target tumours benign; the class balance moves too (about 77% benign in the smooth half,
  48% in the rough one). The gap mixes the halves: each tumour joins its own half's domain with
  probability (1 + gap)/2, else the other's, so gap 0 is a random split and gap 1 the pure split.
  Features are standardized with the source training statistics.

Your own table (``data=``, a :class:`tl_core.userdata.TableData` read with task="classification")
----------------------------------------------------------------------------------------------------
The table's split gives both domains, its label the two classes (y = 1 for the positive class).
A share (CANCER_SOURCE_TEST) of each class's source rows, drawn by the seed, is held out to score
the source model; the seed also draws the n_target labelled target rows per class, and every other
target row is the target test set (CORAL sees the inputs of all target rows, as for breast_cancer).
Features are standardized with the source training rows' statistics. The data replace the fields
in the demo's IGNORED_WITH_USER_DATA (scenario, gap and the synthetic settings); every other field keeps its
meaning, and every strategy runs. With one feature the figures draw probability curves; with more
than two, the samples figure shows the two features the source model weighs most and the model
figure each strategy's predicted probabilities on the target test set.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tl_core.config import DemoConfig
from tl_core.demos.numpy_demo import DomainSplit, checked_table, scale
from tl_core.runtime import seed_everything
from tl_core.userdata import TableData, UserDataError

# The classic source boundary 2·x0 + x1 + 0.5 > 1, as w·x + b > 0, and the point it turns about.
SOURCE_WEIGHTS, SOURCE_BIAS = np.array([2.0, 1.0]), -0.5
PIVOT = -SOURCE_BIAS * SOURCE_WEIGHTS / (SOURCE_WEIGHTS @ SOURCE_WEIGHTS)  # (0.2, 0.1)
MAX_ANGLE_DEGREES = 90.0  # the target boundary's rotation at gap = 1
N_TEST = 1000  # held-out samples per domain (synthetic): accuracy to about ±1.5 points
N_POOL = 2000  # target pool (synthetic): labelled samples come from it, CORAL sees its inputs
CANCER_FEATURES = ("mean radius", "mean texture")
CANCER_SPLIT = "mean smoothness"
CANCER_MAX_TARGET = 50  # per class: leaves at least ~50 tumours of each class for testing
CANCER_SOURCE_TEST = 0.3  # share of the source domain held out for testing


@dataclass
class Data:
    """Both domains in the units the models are fitted in, and the target's unlabelled inputs."""

    source: DomainSplit
    target: DomainSplit
    target_unlabelled: np.ndarray  # target inputs without labels: what CORAL may look at
    feature_names: list[str]
    class_names: list[str]
    truth: dict | None = None  # synthetic only: the true source and target boundaries
    table: TableData | None = None  # the user's table, when the data are one


def make_data(config: DemoConfig, data: TableData | None = None) -> Data:
    """The data of `config` (or of the user's table `data`), deterministic given the seed.

    Source, target pool and target test set come from independent streams, so changing
    n_target or n_source leaves the rest as it was, and the labelled target samples for a
    larger n_target include those for a smaller one.
    """
    streams = seed_everything(config.seed).spawn(3)
    if data is not None:
        return _user_table(config, checked_table(data, "classification", "logistic"), *streams[1:])
    if config.scenario == "breast_cancer":
        return _breast_cancer(config, *streams)
    return _synthetic(config, *streams)


def true_boundaries(config: DemoConfig) -> dict:
    """The source and target boundaries w·x + b = 0 (synthetic), as plain floats."""
    angle = np.deg2rad(config.gap * MAX_ANGLE_DEGREES)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target_weights = rotation @ SOURCE_WEIGHTS
    target_pivot = PIVOT + np.array([config.shift, 0.0])
    return {
        "angle_degrees": config.gap * MAX_ANGLE_DEGREES,
        "source": {"weights": SOURCE_WEIGHTS.tolist(), "bias": SOURCE_BIAS},
        "target": {
            "weights": target_weights.tolist(),
            "bias": float(-target_weights @ target_pivot),
            "shift": [config.shift, 0.0],
        },
    }


def _draw(
    rng: np.random.Generator, n: int, boundary: dict, config: DemoConfig
) -> tuple[np.ndarray, np.ndarray]:
    """n points from N(shift, I), labelled by the side of `boundary` they lie on, some flipped."""
    X = rng.standard_normal((n, 2)) + np.asarray(boundary.get("shift", [0.0, 0.0]))
    y = (X @ np.asarray(boundary["weights"]) + boundary["bias"] > 0).astype(int)
    flipped = rng.random(n) < config.label_noise
    return X, np.where(flipped, 1 - y, y)


def _first_per_class(y: np.ndarray, n_per_class: int) -> np.ndarray:
    """Indices of the first `n_per_class` samples of each class, in their original order."""
    rows = np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in (0, 1)])
    return np.sort(rows)


def _synthetic(config: DemoConfig, source_rng, pool_rng, test_rng) -> Data:
    truth = true_boundaries(config)
    source = (
        *_draw(source_rng, config.n_source, truth["source"], config),
        *_draw(source_rng, N_TEST, truth["source"], config),
    )
    X_pool, y_pool = _draw(pool_rng, N_POOL, truth["target"], config)
    labelled = _first_per_class(y_pool, config.n_target)
    if min(np.bincount(y_pool[labelled], minlength=2)) < config.n_target:
        raise ValueError(
            f"n_target must be at most {min(np.bincount(y_pool, minlength=2))} here "
            f"(the target pool runs out of one class), got {config.n_target}"
        )
    target = DomainSplit(
        X_pool[labelled], y_pool[labelled], *_draw(test_rng, N_TEST, truth["target"], config)
    )
    return Data(DomainSplit(*source), target, X_pool, ["x0", "x1"], ["class 0", "class 1"], truth=truth)


@lru_cache(maxsize=1)
def _cancer_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model features, split feature and labels (1 = benign, as sklearn codes it)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = list(bunch.feature_names)
    features = bunch.data[:, [names.index(n) for n in CANCER_FEATURES]]
    return features, bunch.data[:, names.index(CANCER_SPLIT)], bunch.target


def _breast_cancer(config: DemoConfig, split_rng, target_rng, source_rng) -> Data:
    features, smoothness, y = _cancer_table()
    rough = smoothness > np.median(smoothness)
    # Each tumour joins its own half's domain with probability (1 + gap)/2.
    own_domain = split_rng.random(len(y)) < (1 + config.gap) / 2
    in_target = np.where(own_domain, rough, ~rough)
    source_rows = source_rng.permutation(np.flatnonzero(~in_target))
    target_rows = target_rng.permutation(np.flatnonzero(in_target))
    n_source_test = int(round(CANCER_SOURCE_TEST * len(source_rows)))
    source_train, source_test = source_rows[n_source_test:], source_rows[:n_source_test]
    labelled = _first_per_class(y[target_rows], config.n_target)
    return _standardized(
        (features, y),
        (features, y),
        source_train,
        source_test,
        target_rows[labelled],
        np.delete(target_rows, labelled),
        target_rows,
        feature_names=[f"{n} (standardized)" for n in CANCER_FEATURES],
        class_names=["malignant", "benign"],
    )


def most_labelled(table: TableData, n_target_high: int) -> int:
    """The most labelled target rows per class the table allows: each class keeps one to test,
    and no more than `n_target_high` (the n_target field's upper bound)."""
    counts = np.bincount(checked_table(table, "classification", "logistic").target_y, minlength=2)
    return max(0, min(int(counts.min()) - 1, n_target_high))


def _user_table(config: DemoConfig, table: TableData, target_rng, source_rng) -> Data:
    """The table's domains: the seed holds out source rows and picks the labelled target rows."""
    counts = np.bincount(table.target_y, minlength=2)
    for c in (0, 1):
        if counts[c] < config.n_target + 1:
            raise UserDataError(
                f"n_target = {config.n_target} per class needs at least {config.n_target + 1} "
                f"rows of class {table.class_names[c]!r} in the target ({config.n_target} "
                f"labelled + 1 to test), but the target, {table.target_words}, has {counts[c]} "
                f"(n_target can be at most {most_labelled(table, config.field('n_target').high)} here)"
            )
    source_rows = source_rng.permutation(len(table.source_y))
    held_out = _held_out_per_class(table.source_y[source_rows], CANCER_SOURCE_TEST)
    target_rows = target_rng.permutation(len(table.target_y))
    labelled = _first_per_class(table.target_y[target_rows], config.n_target)
    data = _standardized(
        (table.source_X, table.source_y),
        (table.target_X, table.target_y),
        source_rows[~held_out],
        source_rows[held_out],
        target_rows[labelled],
        np.delete(target_rows, labelled),
        target_rows,
        feature_names=[f"{n} (standardized)" for n in table.feature_names],
        class_names=list(table.class_names),
    )
    data.table = table
    return data


def _held_out_per_class(y: np.ndarray, share: float) -> np.ndarray:
    """Mask of the first `share` of each class's rows, at least one and never all of them.

    Holding out per class keeps both classes in the source training rows however rare one is.
    """
    held_out = np.zeros(len(y), dtype=bool)
    for c in (0, 1):
        rows = np.flatnonzero(y == c)
        held_out[rows[: min(max(1, int(round(share * len(rows)))), len(rows) - 1)]] = True
    return held_out


def _standardized(
    source: tuple,
    target: tuple,
    source_train,
    source_test,
    target_train,
    target_test,
    target_rows,
    feature_names: list[str],
    class_names: list[str],
) -> Data:
    """Both domains' rows, X standardized with the source training rows' statistics.

    Those are the only data a real source model had. `target_rows` are every target row: their
    inputs are the unlabelled pool CORAL may look at.
    """
    (source_X, source_y), (target_X, target_y) = source, target
    mean, std = scale(source_X[source_train])

    def part(X, y, rows):
        return (X[rows] - mean) / std, y[rows]

    return Data(
        DomainSplit(*part(source_X, source_y, source_train), *part(source_X, source_y, source_test)),
        DomainSplit(*part(target_X, target_y, target_train), *part(target_X, target_y, target_test)),
        target_unlabelled=part(target_X, target_y, target_rows)[0],
        feature_names=feature_names,
        class_names=class_names,
    )
