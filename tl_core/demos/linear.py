"""Linear regression transfer: fit a line on plenty of source data, carry it to a target with few.

Scenarios
---------
- ``synthetic``: the source is the classic y = 3·x + 2 + noise (noise std 1.5 by default), x
  uniform in [0, 2]. The target's slope and intercept both grow by 2·gap, so at gap = 1 it is
  y = 5·x + 4. Its noise grows in proportion to its slope, so every target is equally hard to learn
  from scratch (the same best R², and scratch's R² does not move with the gap): the gap changes only
  how far the source is. With ``shift_inputs`` the target's x range also moves right by gap × its
  width; with ``n_features`` = d > 1 every one of the d slopes is 3 in the source and shifted alike.
- ``diabetes``: scikit-learn's bundled diabetes data (442 patients, 9 features once the sex
  column is dropped), split into two domains by sex. The gap mixes the groups: each patient goes
  to their own sex's domain with probability (1 + gap)/2, else to the other's, so gap = 0 is a
  random split (no shift) and gap = 1 is the pure sex split. Features and y are standardized with
  the source training statistics; MSE is reported back in the units of y.

Strategies (all fit θ = (w, b), the slopes and the intercept, to y ≈ X·w + b)
------------------------------------------------------------------------------
- ``scratch``: the fit a practitioner makes on a few rows alone: with ``baseline`` = "ridge"
  (the default), ridge regression argmin ‖Xw + b − y‖² + α‖w‖², its α chosen by leave-one-out
  among RIDGE_ALPHAS (scikit-learn's RidgeCV, whose default grid it is). Plain least squares
  ("least_squares") fits 5 rows of 9 features exactly and predicts new ones far worse than their
  mean (R² −8 on diabetes): a baseline any transfer beats, so a gain would not mean transfer.
- ``source_only``: the least-squares line of the source data, applied to the target as it is.
- ``fine_tune``: gradient descent on the target's summed squared error ‖Aθ − y‖², starting from
  the source θ, for ``epochs`` full-batch steps. On the summed error one full-batch step of size
  lr moves θ as far as one pass of per-sample SGD at lr, so ``epochs`` counts passes over the
  data and more target samples move θ further. The step is capped at 1/L (L = 2·λ_max(AᵀA), the
  error's largest curvature), so that no setting diverges. Its history starts (step 0) at the
  source line.
- ``regularized``: argmin ‖Xw + b − y‖² + λ‖w − w_source‖² + λ(b − b_source)², in closed form by
  :class:`tl_core.estimators.regressor.RegularTransferRegressor`, plus scratch's own ridge term
  α‖w‖² (α as scratch chose it). The intercept is pulled toward the source's too, so λ → ∞ gives
  back the source line and λ = 0 exactly the scratch line. λ counts like λ extra samples agreeing
  with the source. ADAPT's RegularTransferLR(lambda_=μ) solves this with
  scipy's lsqr(damp=μ), whose damping acts squared: its μ is our λ = μ².
- ``joint``: one line for both domains by weighted least squares,
  argmin mean_source (Xw + b − y)² + target_weight · mean_target (Xw + b − y)²: with weight 1 each
  domain has an equal say however few target samples there are; 0 gives the source line.

Your own table (``data=``, a :class:`tl_core.userdata.TableData` read with task="regression")
------------------------------------------------------------------------------------------------
The table's split gives both domains. A share (USER_SOURCE_TEST) of the source rows, drawn by the
seed, is held out to score the source model; the seed also draws the n_target labelled target
rows, and every other target row is the target test set. Features and y are standardized with
the source training rows' statistics, as for diabetes, and MSE is reported in y's own units.
The data replace the fields in IGNORED_WITH_USER_DATA (scenario, gap and the synthetic
settings); every other field keeps its meaning, and every strategy runs.

Metric: R² on each domain's held-out test set (the regression "accuracy"), MSE beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score

from tl_core.config import DemoConfig, device_field, param, seed_field
from tl_core.demos.numpy_demo import Domain, Fit, check_result_data, checked_table, run_strategies, scale
from tl_core.demos.protocol import Offers
from tl_core.estimators.regressor import RegularTransferRegressor
from tl_core.result import RunResult, StrategyResult
from tl_core.runtime import seed_everything
from tl_core.strategies import color, label
from tl_core.userdata import TableData, UserDataError, for_figures

STRATEGIES = ("scratch", "source_only", "fine_tune", "regularized", "joint")
METRIC = "R²"
LOSS = "MSE"
SCENARIOS = ("synthetic", "diabetes")
BASELINES = ("ridge", "least_squares")  # scratch's fit
RIDGE_ALPHAS = (0.1, 1.0, 10.0)  # the ridge penalties scratch's leave-one-out chooses among (RidgeCV's)

# The source line and how far the target's moves at gap = 1. The shifts are sized so that at the
# default gap (0.2) the source line is a useful start, and at gap = 1 it is worse than what
# 5 target samples alone give (negative transfer).
SOURCE_SLOPE, SOURCE_INTERCEPT = 3.0, 2.0
SLOPE_SHIFT, INTERCEPT_SHIFT = 2.0, 2.0
X_LOW, X_HIGH = 0.0, 2.0
N_TEST = 500  # held-out samples per domain (synthetic): enough that R² barely wobbles
DIABETES_MAX_TARGET = 150  # leaves at least ~50 patients of the target group for testing
DIABETES_SOURCE_TEST = 0.25  # share of the source group held out for testing
USER_DATA = "table"  # a user's table replaces the scenario (tl_core.userdata.tables)
IGNORED_WITH_USER_DATA = ("scenario", "gap", "noise", "n_source", "n_features", "shift_inputs")
USER_SOURCE_TEST = DIABETES_SOURCE_TEST  # share of a table's source rows held out for testing
USER_MIN_TEST = 2  # target rows left to test at the least: R² needs two


@dataclass(frozen=True)
class Config(DemoConfig):
    """Settings of the linear regression demo; every default teaches without tuning."""

    demo = "linear"
    ignored_by_scenario = {"diabetes": ("noise", "n_source", "n_features", "shift_inputs")}

    scenario: str = param(
        "synthetic",
        "synthetic: y = 3x + 2 + noise to a shifted line; "
        "diabetes: sklearn's diabetes patients, one sex to the other",
        choices=SCENARIOS,
    )
    gap: float = param(
        0.2,
        "how far apart source and target are: 0 = the same line, 1 = slope "
        "and intercept both 2 higher (diabetes: 0 = random split, 1 = split by sex)",
        low=0.0,
        high=1.0,
    )
    n_target: int = param(
        5,
        f"labelled target samples the target models learn from (diabetes: at most {DIABETES_MAX_TARGET})",
        low=2,
        high=500,
    )
    lam: float = param(
        10.0,
        "λ of regularized transfer: how many target samples' worth of pull "
        "toward the source line (0 = scratch's line, huge = source only's)",
        low=0.0,
        high=10000.0,
        log=True,
    )
    epochs: int = param(
        20, "full-batch gradient steps of fine-tuning (passes over the target data)", low=1, high=500
    )
    lr: float = param(
        0.002,
        "learning rate of fine-tuning, per sample (capped at the largest step that cannot overshoot)",
        low=0.0001,
        high=1.0,
        log=True,
    )
    baseline: str = param(
        "ridge",
        "scratch's fit on the target rows: ridge (RidgeCV, its penalty the one of 0.1, 1 and 10 "
        "that predicts each row best when fitted on the others: what a practitioner fits on a few "
        "rows) or least_squares (plain; with few rows of several features, worse than predicting "
        "their mean)",
        choices=BASELINES,
    )
    target_weight: float = param(
        1.0,
        "joint training: weight of the target's mean error against the source's (0 = source only)",
        low=0.0,
        high=100.0,
    )
    noise: float = param(
        1.5,
        "synthetic: standard deviation of the source's noise on y (the target's grows with its slope)",
        low=0.0,
        high=5.0,
    )
    n_source: int = param(1000, "synthetic: labelled source samples", low=10, high=5000)
    n_features: int = param(1, "synthetic: number of input features x (1 draws a line)", low=1, high=10)
    shift_inputs: bool = param(False, "synthetic: also move the target's x range right by gap × its width")
    strategies: tuple[str, ...] = param(
        STRATEGIES, "strategies to run (scratch always runs)", choices=STRATEGIES
    )
    seed: int = seed_field()
    device: str = device_field()  # unused: this demo is numpy on the CPU

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenario == "diabetes" and self.n_target > DIABETES_MAX_TARGET:
            raise ValueError(
                f"n_target must be an integer in [2, {DIABETES_MAX_TARGET}] for the "
                f"diabetes scenario, got {self.n_target}"
            )


# ----------------------------------------------------------------------------------------------
# Data


@dataclass
class Data:
    """Both domains, in the units the models are fitted in.

    For diabetes, X and y are standardized; `y_scale` and `y_offset` map y back to its own units
    (y_original = y · y_scale + y_offset), so MSE can be reported in them.
    """

    source: Domain
    target: Domain
    feature_names: list[str]
    y_scale: float = 1.0
    y_offset: float = 0.0
    truth: dict | None = None  # synthetic only: the true source and target lines
    table: TableData | None = None  # the user's table, when the data are one


def make_data(config: Config, data: TableData | None = None) -> Data:
    """The data of `config` (or of the user's table `data`), deterministic given the seed.

    The source, the labelled target samples and the target test set are drawn from three
    independent streams, so changing n_target leaves the source and the target test set as
    they were (a data-efficiency curve then only varies what it means to).
    """
    streams = seed_everything(config.seed).spawn(3)
    if data is not None:
        return _user_table(config, checked_table(data, "regression", "linear"), *streams[1:])
    if config.scenario == "diabetes":
        return _diabetes(config, *streams)
    return _synthetic(config, *streams)


def _true_lines(config: Config) -> dict:
    d = config.n_features
    shift = config.gap * (X_HIGH - X_LOW) if config.shift_inputs else 0.0
    target_slope = SOURCE_SLOPE + SLOPE_SHIFT * config.gap
    return {
        "source": {
            "coef": [SOURCE_SLOPE] * d,
            "intercept": SOURCE_INTERCEPT,
            "x_low": X_LOW,
            "noise": config.noise,
        },
        "target": {
            "coef": [target_slope] * d,
            "intercept": SOURCE_INTERCEPT + INTERCEPT_SHIFT * config.gap,
            "x_low": X_LOW + shift,
            # The noise grows with the slope, so every target is as hard to learn from
            # scratch (same best R²): the gap changes only how far the source is.
            "noise": config.noise * target_slope / SOURCE_SLOPE,
        },
    }


def _draw(
    rng: np.random.Generator, n: int, line: dict, config: Config, spread: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """n samples y = x·w + b + noise, x uniform in [x_low, x_low + width] per feature.

    With `spread`, each feature's n values fall one in each of n equal slices of the range
    (Latin hypercube sampling), as a small experiment would be designed.
    """
    shape = (n, config.n_features)
    if spread:
        strata = np.argsort(rng.random(shape), axis=0)  # a random slice order per feature
        unit = (strata + rng.random(shape)) / n
    else:
        unit = rng.random(shape)
    X = line["x_low"] + (X_HIGH - X_LOW) * unit
    y = X @ np.asarray(line["coef"]) + line["intercept"] + line["noise"] * rng.standard_normal(n)
    return X, y


def _synthetic(config: Config, source_rng, target_rng, test_rng) -> Data:
    truth = _true_lines(config)
    source = Domain(
        *_draw(source_rng, config.n_source, truth["source"], config),
        *_draw(source_rng, N_TEST, truth["source"], config),
    )
    # The few labelled target samples are spread over the range: with 5 points, an unlucky
    # clump would make scratch's line swing wildly, and that noise would drown the lesson.
    target = Domain(
        *_draw(target_rng, config.n_target, truth["target"], config, spread=True),
        *_draw(test_rng, N_TEST, truth["target"], config),
    )
    names = ["x"] if config.n_features == 1 else [f"x{i + 1}" for i in range(config.n_features)]
    return Data(source, target, names, truth=truth)


@lru_cache(maxsize=1)
def _diabetes_table() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return bunch.data, bunch.target, tuple(bunch.feature_names)


def _diabetes(config: Config, split_rng, target_rng, source_rng) -> Data:
    X, y, names = _diabetes_table()
    sex = list(names).index("sex")
    group_2 = X[:, sex] > 0  # the data codes sex as two scaled values; call them group 1 and 2
    features = np.delete(X, sex, axis=1)
    # Each patient joins their own group's domain with probability (1 + gap)/2.
    own_domain = split_rng.random(len(y)) < (1 + config.gap) / 2
    in_target = np.where(own_domain, group_2, ~group_2)
    source_rows = source_rng.permutation(np.flatnonzero(~in_target))
    target_rows = target_rng.permutation(np.flatnonzero(in_target))
    n_source_test = int(round(DIABETES_SOURCE_TEST * len(source_rows)))
    return _standardized(
        (features, y),
        (features, y),
        source_rows[n_source_test:],
        source_rows[:n_source_test],
        target_rows[: config.n_target],
        target_rows[config.n_target :],
        [n for n in names if n != "sex"],
    )


def max_n_target(data: TableData) -> int:
    """The most labelled target rows the table allows: USER_MIN_TEST are left to test."""
    n_rows = len(checked_table(data, "regression", "linear").target_y)
    return max(0, min(n_rows - USER_MIN_TEST, Config.field("n_target").high))


def _user_table(config: Config, table: TableData, target_rng, source_rng) -> Data:
    """The table's domains: the seed holds out source rows and picks the labelled target rows."""
    n_rows, needed = len(table.target_y), config.n_target + USER_MIN_TEST
    if n_rows < needed:
        raise UserDataError(
            f"n_target = {config.n_target} needs at least {needed} target rows "
            f"({config.n_target} labelled + {USER_MIN_TEST} to test), but the "
            f"target, {table.target_words}, has {n_rows} (n_target can be at "
            f"most {max_n_target(table)} here)"
        )
    source_rows = source_rng.permutation(len(table.source_y))
    target_rows = target_rng.permutation(n_rows)
    n_source_test = max(USER_MIN_TEST, int(round(USER_SOURCE_TEST * len(source_rows))))
    data = _standardized(
        (table.source_X, table.source_y),
        (table.target_X, table.target_y),
        source_rows[n_source_test:],
        source_rows[:n_source_test],
        target_rows[: config.n_target],
        target_rows[config.n_target :],
        list(table.feature_names),
    )
    data.table = table
    return data


def _standardized(
    source: tuple,
    target: tuple,
    source_train,
    source_test,
    target_train,
    target_test,
    feature_names: list[str],
) -> Data:
    """Both domains' rows, X and y standardized with the source training rows' statistics.

    Those are the only data a real source model had; y is mapped back to its own units by
    y · y_scale + y_offset.
    """
    (source_X, source_y), (target_X, target_y) = source, target
    x_mean, x_std = scale(source_X[source_train])
    y_mean, y_std = scale(source_y[source_train])

    def part(X, y, rows):
        return (X[rows] - x_mean) / x_std, (y[rows] - y_mean) / y_std

    return Data(
        Domain(*part(source_X, source_y, source_train), *part(source_X, source_y, source_test)),
        Domain(*part(target_X, target_y, target_train), *part(target_X, target_y, target_test)),
        feature_names,
        y_scale=float(y_std),
        y_offset=float(y_mean),
    )


# ----------------------------------------------------------------------------------------------
# Strategies: each returns the fitted lines (one row of θ = (w, b) per step) and its extras.


def _theta(model) -> np.ndarray:
    return np.append(model.coef_, model.intercept_)[None, :]


def _scratch_model(config: Config, data: Data) -> RidgeCV | LinearRegression:
    """Scratch's fit on the target rows: RidgeCV (leave-one-out over RIDGE_ALPHAS) or plain OLS."""
    model = RidgeCV(alphas=RIDGE_ALPHAS) if config.baseline == "ridge" else LinearRegression()
    return model.fit(data.target.X_train, data.target.y_train)


def _ridge_alpha(model: RidgeCV | LinearRegression) -> float:
    return float(getattr(model, "alpha_", 0.0))


def _fit_scratch(config: Config, data: Data, source_model) -> Fit:
    model = _scratch_model(config, data)
    return Fit(_theta(model), {"ridge_alpha": _ridge_alpha(model)})


def _fit_source_only(config: Config, data: Data, source_model) -> Fit:
    return Fit(_theta(source_model), {})


def _fit_regularized(config: Config, data: Data, source_model) -> Fit:
    """The pull toward the source line, on top of scratch's own fit (its ridge α included), so
    that λ = 0 is scratch's line exactly."""
    model = RegularTransferRegressor(
        coef_source=source_model.coef_,
        intercept_source=source_model.intercept_,
        lam=config.lam,
        alpha=_ridge_alpha(_scratch_model(config, data)),
    )
    model.fit(data.target.X_train, data.target.y_train)
    return Fit(_theta(model), {})


def _fit_joint(config: Config, data: Data, source_model) -> Fit:
    source, target = data.source, data.target
    n_source, n_target = len(source.y_train), len(target.y_train)
    # Weights 1/n per domain turn the sums into the two domains' mean errors.
    weights = np.concatenate(
        [np.full(n_source, 1.0 / n_source), np.full(n_target, config.target_weight / n_target)]
    )
    model = LinearRegression().fit(
        np.vstack([source.X_train, target.X_train]),
        np.concatenate([source.y_train, target.y_train]),
        sample_weight=weights,
    )
    return Fit(_theta(model), {})


def _fit_fine_tune(config: Config, data: Data, source_model) -> Fit:
    """Gradient descent on ‖Aθ − y‖² from the source θ: θ ← θ − step · 2Aᵀ(Aθ − y)."""
    X, y = data.target.X_train, data.target.y_train
    A = np.hstack([X, np.ones((len(y), 1))])
    # The gradient 2(AᵀAθ − Aᵀy) needs only AᵀA and Aᵀy: each step is then a tiny product,
    # however many target samples there are.
    gram, correlation = A.T @ A, A.T @ y
    curvature = 2 * np.linalg.eigvalsh(gram)[-1]  # L: the error's largest second derivative
    step = min(config.lr, 1.0 / curvature)  # at most 1/L: never overshoots along any direction
    thetas = np.empty((config.epochs + 1, A.shape[1]))
    thetas[0] = _theta(source_model)[0]
    for t in range(config.epochs):
        thetas[t + 1] = thetas[t] - step * 2 * (gram @ thetas[t] - correlation)
    return Fit(thetas, {"step_size": float(step), "lr_capped": bool(step < config.lr)})


FITS: dict[str, Callable[[Config, Data, RegularTransferRegressor], Fit]] = {
    "scratch": _fit_scratch,
    "source_only": _fit_source_only,
    "fine_tune": _fit_fine_tune,
    "regularized": _fit_regularized,
    "joint": _fit_joint,
}


# ----------------------------------------------------------------------------------------------
# Evaluation and run


def _scores(domain: Domain, thetas: np.ndarray, y_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Test R² and MSE (in y's own units) of each row of `thetas` on one domain."""
    predictions = domain.X_test @ thetas[:, :-1].T + thetas[:, -1]
    truth = np.repeat(domain.y_test[:, None], len(thetas), axis=1)
    r2 = r2_score(truth, predictions, multioutput="raw_values")
    mse = mean_squared_error(truth, predictions, multioutput="raw_values") * y_scale**2
    return r2, mse


def _params(theta: np.ndarray) -> dict:
    coef = [float(c) for c in theta[:-1]]
    params = {"coef": coef, "intercept": float(theta[-1])}
    if len(coef) == 1:
        params["slope"] = coef[0]
    return params


def _evaluate(name: str, fit: Fit, data: Data, wall_time: float) -> StrategyResult:
    source_r2, source_mse = _scores(data.source, fit.thetas, data.y_scale)
    target_r2, target_mse = _scores(data.target, fit.thetas, data.y_scale)
    history = {}
    if len(fit.thetas) > 1:  # an iterative strategy: its whole path, from the source line on
        history = {
            "step": list(range(len(fit.thetas))),
            "source_metric": source_r2.tolist(),
            "target_metric": target_r2.tolist(),
            "source_loss": source_mse.tolist(),
            "target_loss": target_mse.tolist(),
        }
    return StrategyResult(
        strategy=name,
        source_metric=float(source_r2[-1]),
        target_metric=float(target_r2[-1]),
        source_loss=float(source_mse[-1]),
        target_loss=float(target_mse[-1]),
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
    """Fit the source line, then every strategy on the target; score all on both test sets.

    `data`: a user's table in place of the scenario (see the module docstring); a config that
    does not fit it (n_target too large) raises UserDataError naming the numbers.
    """
    config = config if config is not None else Config()
    started = time.perf_counter()
    table, data = data, make_data(config, data)
    source_model = RegularTransferRegressor(lam=0.0).fit(data.source.X_train, data.source.y_train)
    results = run_strategies(config, FITS, data, source_model, _evaluate, progress)
    extras = {
        "n_source_train": len(data.source.y_train),
        "n_source_test": len(data.source.y_test),
        "n_target_test": len(data.target.y_test),
        "feature_names": data.feature_names,
        "source_model_metric": float(r2_score(data.source.y_test, source_model.predict(data.source.X_test))),
    }
    if data.truth is not None:
        extras["true_lines"] = data.truth
    else:
        extras["standardized"] = True  # diabetes or a table: params are in standardized units
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

SOURCE_COLOR, TARGET_COLOR = "#1f77b4", "#d62728"
MAX_POINTS_SHOWN = 300  # more source points only hide each other
LABELLED_MARKER = dict(color=TARGET_COLOR, size=11, line=dict(width=1, color="black"))


def _x_label(data: Data, config: Config, j: int) -> str:
    if data.table is not None:
        return f"{data.feature_names[j]} (standardized)"
    if config.scenario == "diabetes":
        return "bmi (standardized)"
    return "x" if config.n_features == 1 else "x1 (first feature)"


def _y_label(data: Data, config: Config) -> str:
    if data.table is not None:
        return data.table.label_name
    return "y" if config.scenario == "synthetic" else "disease progression"


def _first_feature(data: Data) -> int:
    """The feature the samples figure puts on its x axis.

    A table's: the one most correlated with y in the source training rows. Diabetes: bmi, which
    says the most about disease progression. Synthetic: x (or x1).
    """
    if data.table is not None:
        X, y = data.source.X_train, data.source.y_train
        with np.errstate(invalid="ignore", divide="ignore"):  # a constant column has no correlation
            correlations = [abs(np.corrcoef(X[:, j], y)[0, 1]) for j in range(X.shape[1])]
        return int(np.argmax(np.nan_to_num(correlations)))
    return data.feature_names.index("bmi") if "bmi" in data.feature_names else 0


def _to_units(data: Data) -> Callable[[np.ndarray], np.ndarray]:
    """Standardized y back to y's own units (the identity for synthetic data)."""
    if data.y_scale == 1.0 and data.y_offset == 0.0:
        return lambda y: y
    return lambda y: y * data.y_scale + data.y_offset


def _panel_titles(config: Config, data: Data) -> tuple[str, str]:
    if data.table is not None:
        table = data.table
        return (
            f"Source: {table.source_words}, {len(table.source_y)} rows",
            f"Target: {table.target_words}, {config.n_target} labelled of {len(table.target_y)} rows",
        )
    if config.scenario == "diabetes":
        return (
            f"Source: {len(data.source.y_train)} patients to learn from",
            f"Target: {config.n_target} labelled patients",
        )
    if config.n_features == 1:
        lines = data.truth
        return (
            f"Source: y = {_line_text(lines['source'])} + noise, {config.n_source} samples",
            f"Target: y = {_line_text(lines['target'])} + noise, {config.n_target} labelled",
        )
    return (f"Source: {config.n_source} samples", f"Target: {config.n_target} labelled")


def _line_text(line: dict) -> str:
    return f"{line['coef'][0]:.2f}x + {line['intercept']:.2f}"


def samples_figure(config: Config | None = None, data: TableData | None = None) -> go.Figure:
    """Source samples (left) and target samples (right) on the same axes, so the gap shows.

    The right panel marks the few labelled target samples; the faint points are the target's
    held-out test samples, the distribution the target models are scored on. With several
    features, x is one of them (bmi; for a table, the one most correlated with y).
    """
    config = config if config is not None else Config()
    data = make_data(config, for_figures(data))
    j = _first_feature(data)
    to_y = lambda y: y * data.y_scale + data.y_offset  # noqa: E731 - back to y's own units
    fig = make_subplots(
        rows=1, cols=2, shared_xaxes=True, shared_yaxes=True, subplot_titles=_panel_titles(config, data)
    )
    shown = slice(0, MAX_POINTS_SHOWN)
    fig.add_trace(
        go.Scatter(
            x=data.source.X_train[shown, j],
            y=to_y(data.source.y_train[shown]),
            mode="markers",
            name="source samples",
            marker=dict(color=SOURCE_COLOR, size=5, opacity=0.5),
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_test[shown, j],
            y=to_y(data.target.y_test[shown]),
            mode="markers",
            name="target test samples (unlabelled to the models)",
            marker=dict(color=TARGET_COLOR, size=4, opacity=0.2),
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_train[:, j],
            y=to_y(data.target.y_train),
            mode="markers",
            name="target labelled samples",
            marker=LABELLED_MARKER,
        ),
        row=1,
        col=2,
    )
    if data.truth is not None and config.n_features == 1:
        _add_source_line(fig, data)
    fig.update_xaxes(title_text=_x_label(data, config, j))
    fig.update_yaxes(title_text=_y_label(data, config), row=1, col=1)
    fig.update_layout(
        template="plotly_white",
        title="Source and target samples",
        legend=dict(orientation="h", yanchor="top", y=-0.2),
    )
    return fig


def _add_source_line(fig: go.Figure, data: Data) -> None:
    """The true source line on both panels: the target samples' distance from it is the gap."""
    line = data.truth["source"]
    xs = np.array(
        [
            min(data.source.X_test.min(), data.target.X_test.min()),
            max(data.source.X_test.max(), data.target.X_test.max()),
        ]
    )
    for col in (1, 2):
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=line["coef"][0] * xs + line["intercept"],
                mode="lines",
                name=f"source line y = {_line_text(line)}",
                legendgroup="source line",
                showlegend=col == 1,
                line=dict(color=SOURCE_COLOR, dash="dash"),
            ),
            row=1,
            col=col,
        )


def model_figure(result: RunResult, data: TableData | None = None) -> go.Figure:
    """Each strategy's fitted model against the data.

    One input feature (synthetic x, or a table with one feature): the data of both domains with
    each strategy's fitted line. Otherwise (d > 1, diabetes, most tables): predicted against
    true y on the target test set, where a perfect model puts every point on the diagonal.
    `data`: the table the result ran on (UserDataError if it is not).
    """
    check_result_data(result, data)
    config = Config.from_dict(result.config)
    data = make_data(config, for_figures(data))
    if len(data.feature_names) == 1 and (data.table is not None or config.scenario == "synthetic"):
        return _lines_figure(result, data, config)
    return _predicted_vs_true_figure(result, data, config)


def _lines_figure(result: RunResult, data: Data, config: Config) -> go.Figure:
    """Samples and fitted lines; a table's x is standardized, its y in its own units."""
    to_y = _to_units(data)
    fig = go.Figure()
    shown = slice(0, MAX_POINTS_SHOWN)
    fig.add_trace(
        go.Scatter(
            x=data.source.X_train[shown, 0],
            y=to_y(data.source.y_train[shown]),
            mode="markers",
            name="source samples",
            marker=dict(color=SOURCE_COLOR, size=4, opacity=0.25),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_test[shown, 0],
            y=to_y(data.target.y_test[shown]),
            mode="markers",
            name="target test samples",
            marker=dict(color=TARGET_COLOR, size=4, opacity=0.2),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=data.target.X_train[:, 0],
            y=to_y(data.target.y_train),
            mode="markers",
            name="target labelled samples",
            marker=LABELLED_MARKER,
        )
    )
    all_x = np.concatenate([data.source.X_test[:, 0], data.target.X_test[:, 0]])
    xs = np.array([all_x.min(), all_x.max()])
    for s in result.strategies:
        ys = to_y(s.params["slope"] * xs + s.params["intercept"])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=label(s.strategy),
                line=dict(
                    color=color(s.strategy), width=3, dash="dot" if s.strategy == "source_only" else "solid"
                ),
                hovertemplate=f"{label(s.strategy)}: y = {s.params['slope']:.2f}x"
                f" + {s.params['intercept']:.2f}<extra></extra>",
            )
        )
    fig.update_layout(
        template="plotly_white",
        title="Fitted lines of each strategy",
        xaxis_title=_x_label(data, config, 0),
        yaxis_title=_y_label(data, config),
    )
    return fig


def _predicted_vs_true_figure(result: RunResult, data: Data, config: Config) -> go.Figure:
    to_y = lambda y: y * data.y_scale + data.y_offset  # noqa: E731 - back to y's own units
    X, truth = data.target.X_test[:MAX_POINTS_SHOWN], to_y(data.target.y_test[:MAX_POINTS_SHOWN])
    fig = go.Figure()
    for s in result.strategies:
        predicted = to_y(X @ np.asarray(s.params["coef"]) + s.params["intercept"])
        fig.add_trace(
            go.Scatter(
                x=truth,
                y=predicted,
                mode="markers",
                name=label(s.strategy),
                marker=dict(color=color(s.strategy), size=5, opacity=0.6),
            )
        )
    ends = [float(truth.min()), float(truth.max())]
    fig.add_trace(
        go.Scatter(
            x=ends, y=ends, mode="lines", name="perfect prediction", line=dict(color="black", dash="dash")
        )
    )
    what = _y_label(data, config)
    fig.update_layout(
        template="plotly_white",
        title="Target test set: predicted against true (on the diagonal = right)",
        xaxis_title=f"true {what}",
        yaxis_title=f"predicted {what}",
    )
    return fig


# What this demo offers beyond the required members (tl_core.demos.protocol)
OFFERS = Offers(
    user_data=USER_DATA,
    ignored_with_user_data=IGNORED_WITH_USER_DATA,
    max_n_target=max_n_target,
)
