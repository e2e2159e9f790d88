"""Logistic regression transfer: learn a boundary from plenty of source data, carry it to a target.

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

Strategies (every model is a line w·x + b = 0; positive scores mean class 1)
-------------------------------------------------------------------------
- ``scratch``: logistic regression on the labelled target samples alone, argmin
  Σ log-loss + ridge·‖w‖² with a free intercept (ridge 0.5 is scikit-learn's default C = 1).
- ``source_only``: the source model (fitted the same way on the source data) applied as it is.
- ``fine_tune``: full-batch gradient descent on the target's mean log-loss, starting from the
  source (w, b), for ``epochs`` steps of size ``lr``; `history` records both domains' test
  accuracy and log-loss at every step, from the source model (step 0) on.
- ``regularized``: argmin Σ log-loss + ridge·‖w‖² + λ‖w − w_source‖² + λ(b − b_source)² on the
  target samples (scratch's objective plus the pull toward the source), solved by L-BFGS in
  :class:`tl_core.estimators.classifier.RegularTransferClassifier`. λ counts like a number of
  samples: λ = 0 is exactly scratch, a huge λ gives back the source model.
- ``joint``: one model for both domains, argmin n_s·(mean source log-loss + target_weight · mean
  target log-loss) + ridge·‖w‖²: with weight 1 each domain has an equal say however few target
  samples there are; 0 gives the source model.
- ``coral`` (CORAL, Sun et al. 2016, unsupervised): re-colour the target inputs to look like the
  source's, x ↦ (x − μ_t) C_t^(−1/2) C_s^(1/2) + μ_s (whiten with the target covariance C_t,
  colour with the source covariance C_s, and, beyond the original method, also move the target
  mean μ_t onto the source mean μ_s), then apply the source model. It uses the target *inputs*
  (the unlabelled target pool) and no target label. Because the map is affine, the result is a
  line on the raw target inputs too: `params` holds that line. On source inputs nothing is
  re-coloured, so its source accuracy is the source model's. CORAL assumes only the inputs
  moved: it undoes ``shift`` but not a turned boundary, and on breast_cancer it does worse than
  the source model, because there the class balance moved too (more malignant, larger tumours
  in the target), and pulling the target mean onto the source's drags the boundary the wrong way.

Your own table (``data=``, a :class:`tl_core.userdata.TableData` read with task="classification")
----------------------------------------------------------------------------------------------------
The table's split gives both domains, its label the two classes (y = 1 for the positive class).
A share (CANCER_SOURCE_TEST) of each class's source rows, drawn by the seed, is held out to score
the source model; the seed also draws the n_target labelled target rows per class, and every other
target row is the target test set (CORAL sees the inputs of all target rows, as for breast_cancer).
Features are standardized with the source training rows' statistics. The data replace the fields
in IGNORED_WITH_USER_DATA (scenario, gap and the synthetic settings); every other field keeps its
meaning, and every strategy runs. With one feature the figures draw probability curves; with more
than two, the samples figure shows the two features the source model weighs most and the model
figure each strategy's predicted probabilities on the target test set.

Metric: accuracy on each domain's held-out test set, log-loss beside it (sklearn.metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
import sklearn
from plotly.subplots import make_subplots
from scipy.special import expit
from sklearn.metrics import accuracy_score, log_loss

from tl_core.config import DemoConfig, device_field, param, seed_field
from tl_core.demos.numpy_demo import Domain, Fit, check_result_data, checked_table, run_strategies, scale
from tl_core.demos.protocol import Offers
from tl_core.estimators.classifier import RegularTransferClassifier
from tl_core.result import RunResult, StrategyResult
from tl_core.runtime import seed_everything
from tl_core.strategies import color, label
from tl_core.userdata import TableData, UserDataError, for_figures

STRATEGIES = ("scratch", "source_only", "fine_tune", "regularized", "joint", "coral")
METRIC = "accuracy"
LOSS = "log-loss"
SCENARIOS = ("synthetic", "breast_cancer")

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
CORAL_EPSILON = 1e-3  # added to both covariances so that whitening never divides by ~0
USER_DATA = "table"  # a user's table replaces the scenario (tl_core.userdata.tables)
IGNORED_WITH_USER_DATA = ("scenario", "gap", "shift", "label_noise", "n_source")


@dataclass(frozen=True)
class Config(DemoConfig):
    """Settings of the logistic regression demo; every default teaches without tuning."""

    demo = "logistic"
    ignored_by_scenario = {"breast_cancer": ("shift", "label_noise", "n_source")}

    scenario: str = param(
        "synthetic",
        "synthetic: 2-D points labelled by 2·x0 + x1 + 0.5 > 1, the "
        "target's boundary rotated; breast_cancer: sklearn's tumours, smooth "
        "outlines to rough ones",
        choices=SCENARIOS,
    )
    gap: float = param(
        0.2,
        "how far apart source and target are: the target boundary turns by "
        "gap × 90° (breast_cancer: 0 = random split, 1 = split by smoothness)",
        low=0.0,
        high=1.0,
    )
    n_target: int = param(
        3,
        "labelled target samples per class the target models learn from "
        f"(breast_cancer: at most {CANCER_MAX_TARGET})",
        low=1,
        high=500,
    )
    lam: float = param(
        0.5,
        "λ of regularized transfer: the pull toward the source model, against a "
        "log-loss summed over samples (0 = scratch's boundary, huge = source only's)",
        low=0.0,
        high=10000.0,
        log=True,
    )
    epochs: int = param(15, "full-batch gradient steps of fine-tuning on the target", low=1, high=500)
    lr: float = param(0.5, "learning rate (step size) of fine-tuning", low=0.001, high=10.0, log=True)
    ridge: float = param(
        0.5,
        "L2 penalty ridge·‖w‖² of scratch, the source model, joint training "
        "and regularized transfer (0.5 = scikit-learn's default C = 1)",
        low=0.0,
        high=100.0,
    )
    target_weight: float = param(
        1.0,
        "joint training: weight of the target's mean log-loss against the source's (0 = source only)",
        low=0.0,
        high=100.0,
    )
    shift: float = param(
        0.0,
        "synthetic: move the whole target domain (points and boundary) "
        "right by this much; CORAL can undo it without labels",
        low=0.0,
        high=3.0,
    )
    label_noise: float = param(
        0.05, "synthetic: share of labels flipped at random, so the classes overlap", low=0.0, high=0.4
    )
    n_source: int = param(500, "synthetic: labelled source samples", low=20, high=5000)
    strategies: tuple[str, ...] = param(
        STRATEGIES, "strategies to run (scratch always runs)", choices=STRATEGIES
    )
    seed: int = seed_field()
    device: str = device_field()  # unused: this demo is numpy on the CPU

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenario == "breast_cancer" and self.n_target > CANCER_MAX_TARGET:
            raise ValueError(
                f"n_target must be an integer in [1, {CANCER_MAX_TARGET}] for the "
                f"breast_cancer scenario, got {self.n_target}"
            )


# ----------------------------------------------------------------------------------------------
# Data


@dataclass
class Data:
    """Both domains in the units the models are fitted in, and the target's unlabelled inputs."""

    source: Domain
    target: Domain
    target_unlabelled: np.ndarray  # target inputs without labels: what CORAL may look at
    feature_names: list[str]
    class_names: list[str]
    truth: dict | None = None  # synthetic only: the true source and target boundaries
    table: TableData | None = None  # the user's table, when the data are one


def make_data(config: Config, data: TableData | None = None) -> Data:
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


def true_boundaries(config: Config) -> dict:
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


def _draw(rng: np.random.Generator, n: int, boundary: dict, config: Config) -> tuple[np.ndarray, np.ndarray]:
    """n points from N(shift, I), labelled by the side of `boundary` they lie on, some flipped."""
    X = rng.standard_normal((n, 2)) + np.asarray(boundary.get("shift", [0.0, 0.0]))
    y = (X @ np.asarray(boundary["weights"]) + boundary["bias"] > 0).astype(int)
    flipped = rng.random(n) < config.label_noise
    return X, np.where(flipped, 1 - y, y)


def _first_per_class(y: np.ndarray, n_per_class: int) -> np.ndarray:
    """Indices of the first `n_per_class` samples of each class, in their original order."""
    rows = np.concatenate([np.flatnonzero(y == c)[:n_per_class] for c in (0, 1)])
    return np.sort(rows)


def _synthetic(config: Config, source_rng, pool_rng, test_rng) -> Data:
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
    target = Domain(X_pool[labelled], y_pool[labelled], *_draw(test_rng, N_TEST, truth["target"], config))
    return Data(Domain(*source), target, X_pool, ["x0", "x1"], ["class 0", "class 1"], truth=truth)


@lru_cache(maxsize=1)
def _cancer_table() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model features, split feature and labels (1 = benign, as sklearn codes it)."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    names = list(bunch.feature_names)
    features = bunch.data[:, [names.index(n) for n in CANCER_FEATURES]]
    return features, bunch.data[:, names.index(CANCER_SPLIT)], bunch.target


def _breast_cancer(config: Config, split_rng, target_rng, source_rng) -> Data:
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


def max_n_target(data: TableData) -> int:
    """The most labelled target rows per class the table allows: each class keeps one to test."""
    counts = np.bincount(checked_table(data, "classification", "logistic").target_y, minlength=2)
    return max(0, min(int(counts.min()) - 1, Config.field("n_target").high))


def _user_table(config: Config, table: TableData, target_rng, source_rng) -> Data:
    """The table's domains: the seed holds out source rows and picks the labelled target rows."""
    counts = np.bincount(table.target_y, minlength=2)
    for c in (0, 1):
        if counts[c] < config.n_target + 1:
            raise UserDataError(
                f"n_target = {config.n_target} per class needs at least {config.n_target + 1} "
                f"rows of class {table.class_names[c]!r} in the target ({config.n_target} "
                f"labelled + 1 to test), but the target, {table.target_words}, has {counts[c]} "
                f"(n_target can be at most {max_n_target(table)} here)"
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
        Domain(*part(source_X, source_y, source_train), *part(source_X, source_y, source_test)),
        Domain(*part(target_X, target_y, target_train), *part(target_X, target_y, target_test)),
        target_unlabelled=part(target_X, target_y, target_rows)[0],
        feature_names=feature_names,
        class_names=class_names,
    )


# ----------------------------------------------------------------------------------------------
# Strategies: each returns its line θ = (w, b) on target inputs (one row per step when iterative)


def _theta(model: RegularTransferClassifier) -> np.ndarray:
    return np.append(model.coef_[0], model.intercept_)[None, :]


def fit_source_model(config: Config, data: Data) -> RegularTransferClassifier:
    """The source model: logistic regression with the ridge penalty on the source samples."""
    model = RegularTransferClassifier(lam=config.ridge, intercept_source=None)
    return model.fit(data.source.X_train, data.source.y_train)


def _fit_scratch(config: Config, data: Data, source_model) -> Fit:
    model = RegularTransferClassifier(lam=config.ridge, intercept_source=None)
    return Fit(_theta(model.fit(data.target.X_train, data.target.y_train)), {})


def _fit_source_only(config: Config, data: Data, source_model) -> Fit:
    return Fit(_theta(source_model), {})


def _fit_regularized(config: Config, data: Data, source_model) -> Fit:
    model = RegularTransferClassifier(
        coef_source=source_model.coef_[0],
        intercept_source=float(source_model.intercept_[0]),
        lam=config.lam,
        alpha=config.ridge,  # scratch's own penalty: λ = 0 is scratch
    )
    return Fit(_theta(model.fit(data.target.X_train, data.target.y_train)), {})


def _fit_joint(config: Config, data: Data, source_model) -> Fit:
    source, target = data.source, data.target
    n_source, n_target = len(source.y_train), len(target.y_train)
    # Per-sample weights 1 and w·n_s/n_t make the sum n_s·(mean_source + w·mean_target).
    weights = np.concatenate(
        [np.ones(n_source), np.full(n_target, config.target_weight * n_source / n_target)]
    )
    model = RegularTransferClassifier(lam=config.ridge, intercept_source=None)
    model.fit(
        np.vstack([source.X_train, target.X_train]),
        np.concatenate([source.y_train, target.y_train]),
        sample_weight=weights,
    )
    return Fit(_theta(model), {})


def _fit_fine_tune(config: Config, data: Data, source_model) -> Fit:
    """Gradient descent on the mean log-loss from the source θ: θ ← θ − lr · Aᵀ(σ(Aθ) − y) / n."""
    X, y = data.target.X_train, data.target.y_train
    A = np.hstack([X, np.ones((len(y), 1))])
    thetas = np.empty((config.epochs + 1, A.shape[1]))
    thetas[0] = _theta(source_model)[0]
    for t in range(config.epochs):
        thetas[t + 1] = thetas[t] - config.lr * A.T @ (expit(A @ thetas[t]) - y) / len(y)
    return Fit(thetas, {})


def coral_map(source_inputs: np.ndarray, target_inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The affine map x ↦ x·M + c that gives target inputs the source's mean and covariance.

    M = C_t^(−1/2) C_s^(1/2) whitens with the target covariance and colours with the source's;
    c = μ_s − μ_t·M moves the target mean onto the source mean. Only inputs are used: no labels.
    """

    def covariance(X):
        return np.cov(X, rowvar=False) + CORAL_EPSILON * np.eye(X.shape[1])

    M = _matrix_power(covariance(target_inputs), -0.5) @ _matrix_power(covariance(source_inputs), 0.5)
    return M, source_inputs.mean(0) - target_inputs.mean(0) @ M


def _matrix_power(C: np.ndarray, power: float) -> np.ndarray:
    """C^power for a symmetric positive-definite C (a covariance + CORAL_EPSILON·I), through its
    eigendecomposition. Its eigenvalues are at least CORAL_EPSILON; rounding can put the smallest
    below it (even below 0, for a feature far larger than the others), so they are held there."""
    values, vectors = np.linalg.eigh(C)
    return (vectors * np.maximum(values, CORAL_EPSILON) ** power) @ vectors.T


def _fit_coral(config: Config, data: Data, source_model) -> Fit:
    M, c = coral_map(data.source.X_train, data.target_unlabelled)
    w, b = source_model.coef_[0], float(source_model.intercept_[0])
    # w·(x M + c) + b = x·(M w) + (c·w + b): the source line, seen on raw target inputs
    theta = np.append(M @ w, c @ w + b)[None, :]
    return Fit(theta, {"matrix": M.tolist(), "offset": c.tolist()}, source_theta=_theta(source_model)[0])


FITS: dict[str, Callable[[Config, Data, RegularTransferClassifier], Fit]] = {
    "scratch": _fit_scratch,
    "source_only": _fit_source_only,
    "fine_tune": _fit_fine_tune,
    "regularized": _fit_regularized,
    "joint": _fit_joint,
    "coral": _fit_coral,
}


# ----------------------------------------------------------------------------------------------
# Evaluation and run


def _path_scores(X: np.ndarray, y: np.ndarray, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and mean log-loss of every row of `thetas` at once (for training histories).

    log-loss per sample is log(1 + e^z) − y·z, the same number sklearn's log_loss gives.
    """
    scores = X @ thetas[:, :-1].T + thetas[:, -1]
    accuracy = ((scores > 0) == y[:, None]).mean(axis=0)
    loss = (np.logaddexp(0.0, scores) - y[:, None] * scores).mean(axis=0)
    return accuracy, loss


def _scores(X: np.ndarray, y: np.ndarray, theta: np.ndarray) -> tuple[float, float]:
    """Test accuracy and log-loss of one line θ, by sklearn.metrics."""
    scores = X @ theta[:-1] + theta[-1]
    # Our inputs are known-good arrays: skipping sklearn's argument checks makes scoring 2x faster.
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        return (float(accuracy_score(y, scores > 0)), float(log_loss(y, expit(scores), labels=[0, 1])))


def _params(theta: np.ndarray) -> dict:
    return {"weights": [float(v) for v in theta[:-1]], "bias": float(theta[-1])}


def _evaluate(name: str, fit: Fit, data: Data, wall_time: float) -> StrategyResult:
    source_theta = fit.thetas[-1] if fit.source_theta is None else fit.source_theta
    source_metric, source_loss = _scores(data.source.X_test, data.source.y_test, source_theta)
    target_metric, target_loss = _scores(data.target.X_test, data.target.y_test, fit.thetas[-1])
    history = {}
    if len(fit.thetas) > 1:  # an iterative strategy: its whole path, from the source model on
        source_acc, source_ll = _path_scores(data.source.X_test, data.source.y_test, fit.thetas)
        target_acc, target_ll = _path_scores(data.target.X_test, data.target.y_test, fit.thetas)
        history = {
            "step": list(range(len(fit.thetas))),
            "source_metric": source_acc.tolist(),
            "target_metric": target_acc.tolist(),
            "source_loss": source_ll.tolist(),
            "target_loss": target_ll.tolist(),
        }
    return StrategyResult(
        strategy=name,
        source_metric=source_metric,
        target_metric=target_metric,
        source_loss=source_loss,
        target_loss=target_loss,
        history=history,
        params=_params(fit.thetas[-1]),
        extras=fit.extras,
        wall_time=wall_time,
    )


def run(
    config: Config | None = None,
    progress: Callable[[float, str], None] | None = None,
    data: TableData | None = None,
) -> RunResult:
    """Fit the source model, then every strategy on the target; score all on both test sets.

    `data`: a user's table in place of the scenario (see the module docstring); a config that
    does not fit it (n_target per class too large) raises UserDataError naming the numbers.
    """
    config = config if config is not None else Config()
    started = time.perf_counter()
    table, data = data, make_data(config, data)
    source_model = fit_source_model(config, data)
    results = run_strategies(config, FITS, data, source_model, _evaluate, progress)
    extras = {
        "n_source_train": len(data.source.y_train),
        "n_source_test": len(data.source.y_test),
        "n_target_train": len(data.target.y_train),
        "n_target_test": len(data.target.y_test),
        "feature_names": data.feature_names,
        "class_names": data.class_names,
        "source_model_metric": float(
            accuracy_score(data.source.y_test, source_model.predict(data.source.X_test))
        ),
    }
    if data.truth is not None:
        extras["true_boundaries"] = data.truth
    else:
        extras["standardized"] = True  # breast_cancer or a table: params in standardized units
    if table is not None:
        extras["user_data"] = table.summary()
    return RunResult(
        demo=Config.demo,
        config=config.to_dict(),
        metric_name=METRIC,
        loss_name=LOSS,
        strategies=results,
        extras=extras,
        wall_time=time.perf_counter() - started,
    )


# ----------------------------------------------------------------------------------------------
# Figures

CLASS_COLORS = ("#e45756", "#4c78a8")  # class 0, class 1 on every panel
MAX_POINTS_SHOWN = 400  # more points only hide each other


def _class_traces(
    X: np.ndarray,
    y: np.ndarray,
    class_names: list[str],
    what: str,
    size: float,
    opacity: float,
    outline: bool = False,
    showlegend: bool = True,
) -> list[go.Scatter]:
    """One scatter per class, coloured by class."""
    return [
        go.Scatter(
            x=X[y == c, 0],
            y=X[y == c, 1],
            mode="markers",
            name=f"{what}: {class_names[c]}",
            legendgroup=f"{what} {c}",
            showlegend=showlegend,
            marker=dict(
                color=CLASS_COLORS[c],
                size=size,
                opacity=opacity,
                line=dict(width=1.5 if outline else 0, color="black"),
            ),
        )
        for c in (0, 1)
    ]


def _boundary_line(weights, bias, x_range, y_range) -> tuple[list[float], list[float]]:
    """Two end points of the line w0·x + w1·y + b = 0 across the plotted box."""
    w0, w1 = weights
    if abs(w1) >= abs(w0):  # more horizontal than vertical: y as a function of x
        xs = np.array(x_range)
        return xs.tolist(), ((-bias - w0 * xs) / w1).tolist()
    ys = np.array(y_range)
    return ((-bias - w1 * ys) / w0).tolist(), ys.tolist()


def _box(*arrays: np.ndarray) -> tuple[list[float], list[float]]:
    points = np.vstack(arrays)
    low, high = points.min(0), points.max(0)
    pad = 0.05 * (high - low)
    return [low[0] - pad[0], high[0] + pad[0]], [low[1] - pad[1], high[1] + pad[1]]


def _panel_titles(config: Config, data: Data) -> tuple[str, str]:
    if data.table is not None:
        table = data.table
        return (
            f"Source: {table.source_words}, {len(table.source_y)} rows",
            f"Target: {table.target_words}, {config.n_target} labelled per class of "
            f"{len(table.target_y)} rows",
        )
    if config.scenario == "breast_cancer":
        source, target = _cancer_domain_words(config.gap)
        return (
            f"Source: {source}, {len(data.source.y_train)} to learn from",
            f"Target: {target}, {config.n_target} labelled per class",
        )
    shift = f", shifted by {config.shift:g}" if config.shift else ""
    return (
        f"Source: 2·x0 + x1 + 0.5 > 1, {config.n_source} samples",
        f"Target: boundary turned {config.gap * MAX_ANGLE_DEGREES:.0f}°{shift}, "
        f"{config.n_target} labelled per class",
    )


def _cancer_domain_words(gap: float) -> tuple[str, str]:
    """What each breast-cancer domain holds at this gap: a tumour joins its own half (smoother or
    rougher outline) with probability (1 + gap)/2, so gap 0 is a random split."""
    if gap == 0:
        return "a random half of the tumours", "the other half"
    if gap == 1:
        return "smoother tumours", "rougher tumours"
    share = f"{(1 + gap) / 2:.0%}"
    return f"about {share} smoother tumours", f"about {share} rougher"


def _plane(config: Config, data: Data) -> tuple[Data, str]:
    """The data on the two axes the samples figure draws, and what the figure's title adds.

    Two features: as they are. More: the two the source model weighs most (the features are
    standardized, so the weights compare). One: the feature against the class, spread a little
    up and down so that the points do not hide each other.
    """
    n_features = len(data.feature_names)
    if n_features == 2:
        return data, ""
    if n_features > 2:
        weights = np.abs(fit_source_model(config, data).coef_[0])
        columns = sorted(np.argsort(-weights, kind="stable")[:2])
        names = [data.feature_names[j] for j in columns]
        return _mapped(
            data, lambda X, y: X[:, columns], names
        ), f": the 2 of {n_features} features the source model weighs most"
    jitter = np.random.default_rng(0)  # a fixed spread: the figure is the same every time

    def with_class(X, y):
        return np.column_stack([X[:, 0], y + jitter.uniform(-0.15, 0.15, len(y))])

    return _mapped(data, with_class, [data.feature_names[0], "class"]), ""


def _mapped(data: Data, to_plane, feature_names: list[str]) -> Data:
    def domain(d: Domain) -> Domain:
        return Domain(to_plane(d.X_train, d.y_train), d.y_train, to_plane(d.X_test, d.y_test), d.y_test)

    return Data(
        domain(data.source),
        domain(data.target),
        data.target_unlabelled,
        feature_names,
        data.class_names,
        data.truth,
        data.table,
    )


def samples_figure(config: Config | None = None, data: TableData | None = None) -> go.Figure:
    """Source samples (left) and target samples (right) on the same axes, coloured by class.

    The right panel outlines the few labelled target samples; the faint points are the target's
    held-out test samples, what the target models are scored on. For synthetic data the true
    boundary of each domain is drawn (the target's solid, the source's dashed, and dotted on the
    target panel for comparison: the angle between them is the gap). A table with one feature
    is drawn against the class, one with more than two on the two features the source model
    weighs most.
    """
    config = config if config is not None else Config()
    data, what = _plane(config, make_data(config, for_figures(data)))
    shown = slice(0, MAX_POINTS_SHOWN)
    # every point drawn lies inside the axes: the labelled target samples too
    x_range, y_range = _box(data.source.X_train[shown], data.target.X_test[shown], data.target.X_train)
    fig = make_subplots(
        rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, subplot_titles=_panel_titles(config, data)
    )
    for trace in _class_traces(
        data.source.X_train[shown], data.source.y_train[shown], data.class_names, "source samples", 6, 0.6
    ):
        fig.add_trace(trace, row=1, col=1)
    for trace in _class_traces(
        data.target.X_test[shown], data.target.y_test[shown], data.class_names, "target test samples", 5, 0.2
    ):
        fig.add_trace(trace, row=1, col=2)
    for trace in _class_traces(
        data.target.X_train,
        data.target.y_train,
        data.class_names,
        "target labelled samples",
        12,
        1.0,
        outline=True,
    ):
        fig.add_trace(trace, row=1, col=2)
    if data.truth is not None:  # the target panel shows the source's boundary too: the gap
        lines = {
            domain: _boundary_line(
                data.truth[domain]["weights"], data.truth[domain]["bias"], x_range, y_range
            )
            for domain in ("source", "target")
        }
        for col, domain, name, style in (
            (1, "source", "true source boundary", dict(color="black", dash="dash")),
            (2, "source", "true source boundary, for comparison", dict(color="#999999", dash="dot")),
            (2, "target", "true target boundary", dict(color="black")),
        ):
            xs, ys = lines[domain]
            fig.add_trace(
                go.Scatter(x=xs, y=ys, mode="lines", name=name, line=dict(width=2, **style)), row=1, col=col
            )
    fig.update_xaxes(title_text=data.feature_names[0], range=x_range)
    fig.update_yaxes(title_text=data.feature_names[1], range=y_range, row=1, col=1)
    fig.update_yaxes(range=y_range)
    if data.feature_names[1] == "class":  # one feature: the y axis names the classes
        fig.update_yaxes(tickvals=[0, 1], ticktext=data.class_names)
    fig.update_layout(
        template="plotly_white",
        title="Source and target samples" + what,
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return fig


def model_figure(result: RunResult, data: TableData | None = None) -> go.Figure:
    """Each strategy's model on the target data.

    Two features: each strategy's decision boundary over the target data. The faint points are
    the target test set, the outlined ones the labelled target samples; each line is where a
    strategy's model switches class (the source model's dotted), and for synthetic data the true
    target boundary is drawn in black, so that a student sees which line is right. One feature (a table): each
    strategy's probability of class 1 along it, the samples at 0 and 1. More than two: each
    strategy's probability of class 1 for every target test sample, coloured by its true class.
    The data are regenerated from the result's config (and `data`, the table it ran on): the
    same config and seed give the same data.
    """
    check_result_data(result, data)
    config = Config.from_dict(result.config)
    data = make_data(config, for_figures(data))
    if len(data.feature_names) == 1:
        return _probability_curves_figure(result, data)
    if len(data.feature_names) > 2:
        return _probability_strips_figure(result, data)
    shown = slice(0, MAX_POINTS_SHOWN)
    x_range, y_range = _box(data.target.X_test[shown], data.target.X_train)
    fig = go.Figure()
    for trace in _class_traces(
        data.target.X_test[shown], data.target.y_test[shown], data.class_names, "target test samples", 5, 0.25
    ):
        fig.add_trace(trace)
    for trace in _class_traces(
        data.target.X_train,
        data.target.y_train,
        data.class_names,
        "target labelled samples",
        12,
        1.0,
        outline=True,
    ):
        fig.add_trace(trace)
    for s in result.strategies:
        xs, ys = _boundary_line(s.params["weights"], s.params["bias"], x_range, y_range)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=label(s.strategy),
                line=dict(
                    color=color(s.strategy), width=3, dash="dot" if s.strategy == "source_only" else "solid"
                ),
                hovertemplate=f"{label(s.strategy)}: target accuracy {s.target_metric:.2f}<extra></extra>",
            )
        )
    if data.truth is not None:  # the right answer, drawn over the strategies' lines
        xs, ys = _boundary_line(
            data.truth["target"]["weights"], data.truth["target"]["bias"], x_range, y_range
        )
        fig.add_trace(
            go.Scatter(
                x=xs, y=ys, mode="lines", name="true target boundary", line=dict(color="black", width=2)
            )
        )
    fig.update_layout(
        template="plotly_white",
        title="Decision boundaries on the target data",
        xaxis=dict(title=data.feature_names[0], range=x_range),
        yaxis=dict(title=data.feature_names[1], range=y_range),
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return fig


def _probability_curves_figure(result: RunResult, data: Data) -> go.Figure:
    """One feature: σ(w·x + b) of each strategy along x, the target samples at 0 and 1."""
    shown = slice(0, MAX_POINTS_SHOWN)
    spread = np.random.default_rng(0)  # a fixed spread: the figure is the same every time
    fig = go.Figure()
    for X, y, what, size, opacity, outline in (
        (data.target.X_test[shown], data.target.y_test[shown], "target test samples", 5, 0.25, False),
        (data.target.X_train, data.target.y_train, "target labelled samples", 12, 1.0, True),
    ):
        plane = np.column_stack([X[:, 0], y + spread.uniform(-0.04, 0.04, len(y))])
        for trace in _class_traces(plane, y, data.class_names, what, size, opacity, outline=outline):
            fig.add_trace(trace)
    x_range, _ = _box(
        np.column_stack([data.target.X_test[shown, 0], data.target.y_test[shown]]),
        np.column_stack([data.target.X_train[:, 0], data.target.y_train]),
    )
    xs = np.linspace(*x_range, 200)
    for s in result.strategies:
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=expit(s.params["weights"][0] * xs + s.params["bias"]),
                mode="lines",
                name=label(s.strategy),
                line=dict(
                    color=color(s.strategy), width=3, dash="dot" if s.strategy == "source_only" else "solid"
                ),
                hovertemplate=f"{label(s.strategy)}: target accuracy {s.target_metric:.2f}<extra></extra>",
            )
        )
    fig.add_hline(y=0.5, line=dict(color="black", dash="dash", width=1))
    fig.update_layout(
        template="plotly_white",
        title=f"Probability of {data.class_names[1]} along {data.feature_names[0]}: "
        "each model says that class above the dashed line",
        xaxis=dict(title=data.feature_names[0], range=x_range),
        yaxis=dict(title=f"probability of {data.class_names[1]}", range=[-0.1, 1.1]),
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return fig


def _probability_strips_figure(result: RunResult, data: Data) -> go.Figure:
    """Many features: each strategy's σ(w·x + b) on every target test sample, by true class.

    A good model puts one class above the dashed 0.5 line and the other below it.
    """
    X, y = data.target.X_test[:MAX_POINTS_SHOWN], data.target.y_test[:MAX_POINTS_SHOWN]
    spread = np.random.default_rng(0).uniform(-0.3, 0.3, len(y))  # the same spread every time
    fig = go.Figure()
    for i, s in enumerate(result.strategies):
        probability = expit(X @ np.asarray(s.params["weights"]) + s.params["bias"])
        for c in (0, 1):
            fig.add_trace(
                go.Scatter(
                    x=i + spread[y == c],
                    y=probability[y == c],
                    mode="markers",
                    name=f"target test samples: {data.class_names[c]}",
                    legendgroup=str(c),
                    showlegend=i == 0,
                    marker=dict(color=CLASS_COLORS[c], size=5, opacity=0.4),
                    hovertemplate=(
                        f"{label(s.strategy)}: target accuracy {s.target_metric:.2f}<extra></extra>"
                    ),
                )
            )
    fig.add_hline(y=0.5, line=dict(color="black", dash="dash", width=1))
    fig.update_layout(
        template="plotly_white",
        title=f"Target test set: each strategy's probability of {data.class_names[1]} "
        "(above the dashed line it says that class)",
        xaxis=dict(
            tickvals=list(range(len(result.strategies))),
            ticktext=[label(s.strategy) for s in result.strategies],
        ),
        yaxis=dict(title=f"probability of {data.class_names[1]}", range=[-0.05, 1.05]),
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return fig


# What this demo offers beyond the required members (tl_core.demos.protocol)
OFFERS = Offers(
    user_data=USER_DATA,
    ignored_with_user_data=IGNORED_WITH_USER_DATA,
    max_n_target=max_n_target,
)
