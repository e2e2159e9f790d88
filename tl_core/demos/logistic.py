"""Logistic regression transfer: learn a boundary from plenty of source data, carry it to a target.

The data (the synthetic and breast_cancer scenarios, a user's table) are made in
:mod:`tl_core.demos.logistic_data`, the figures drawn in :mod:`tl_core.demos.logistic_figures`.

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

Metric: accuracy on each domain's held-out test set, log-loss beside it (sklearn.metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
import sklearn
from scipy.special import expit
from sklearn.metrics import accuracy_score, log_loss

from tl_core.config import DemoConfig, param, seed_field
from tl_core.demos import logistic_data, logistic_figures
from tl_core.demos.logistic_data import CANCER_MAX_TARGET, Data, make_data
from tl_core.demos.numpy_demo import Fit, check_result_data, run_strategies
from tl_core.demos.protocol import Offers
from tl_core.estimators.classifier import RegularTransferClassifier
from tl_core.result import RunResult, StrategyResult
from tl_core.userdata import TableData, for_figures

STRATEGIES = ("scratch", "source_only", "fine_tune", "regularized", "joint", "coral")
METRIC = "accuracy"
LOSS = "log-loss"
SCENARIOS = ("synthetic", "breast_cancer")
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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenario == "breast_cancer" and self.n_target > CANCER_MAX_TARGET:
            raise ValueError(
                f"n_target must be an integer in [1, {CANCER_MAX_TARGET}] for the "
                f"breast_cancer scenario, got {self.n_target}"
            )


def max_n_target(data: TableData) -> int:
    """The most labelled target rows per class the table allows: each class keeps one to test."""
    return logistic_data.most_labelled(data, Config.field("n_target").high)


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


def samples_figure(config: Config | None = None, data: TableData | None = None) -> go.Figure:
    """Source and target samples side by side (:func:`tl_core.demos.logistic_figures.samples`)."""
    config = config if config is not None else Config()
    data = make_data(config, for_figures(data))
    # More than two features: the figure draws the two the source model weighs most.
    weights = fit_source_model(config, data).coef_[0] if len(data.feature_names) > 2 else None
    return logistic_figures.samples(config, data, weights)


def model_figure(result: RunResult, data: TableData | None = None) -> go.Figure:
    """Each strategy's model on the target data (:func:`tl_core.demos.logistic_figures.model`).

    The data are made again from the result's config (and `data`, the table it ran on: else
    UserDataError): the same config and seed give the same data.
    """
    check_result_data(result, data)
    config = Config.from_dict(result.config)
    return logistic_figures.model(result, make_data(config, for_figures(data)))


# What this demo offers beyond the required members (tl_core.demos.protocol)
OFFERS = Offers(
    user_data=USER_DATA,
    ignored_with_user_data=IGNORED_WITH_USER_DATA,
    max_n_target=max_n_target,
)
