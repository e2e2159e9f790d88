"""Linear regression transfer: fit a line on plenty of source data, carry it to a target with few.

The data (the synthetic and diabetes scenarios, a user's table) are made in
:mod:`tl_core.demos.linear_data`, the figures drawn in :mod:`tl_core.demos.linear_figures`.

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

Metric: R² on each domain's held-out test set (the regression "accuracy"), MSE beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from sklearn.linear_model import LinearRegression, RidgeCV
from sklearn.metrics import mean_squared_error, r2_score

from tl_core.config import DemoConfig, param, seed_field
from tl_core.demos import linear_data, linear_figures
from tl_core.demos.linear_data import DIABETES_MAX_TARGET, Data, make_data
from tl_core.demos.numpy_demo import DomainSplit, Fit, check_result_data, run_strategies
from tl_core.demos.protocol import Offers
from tl_core.estimators.regressor import RegularTransferRegressor
from tl_core.result import RunResult, StrategyResult
from tl_core.userdata import TableData, for_figures

STRATEGIES = ("scratch", "source_only", "fine_tune", "regularized", "joint")
METRIC = "R²"
LOSS = "MSE"
SCENARIOS = ("synthetic", "diabetes")
BASELINES = ("ridge", "least_squares")  # scratch's fit
RIDGE_ALPHAS = (0.1, 1.0, 10.0)  # the ridge penalties scratch's leave-one-out chooses among (RidgeCV's)
USER_DATA = "table"  # a user's table replaces the scenario (tl_core.userdata.tables)
IGNORED_WITH_USER_DATA = ("scenario", "gap", "noise", "n_source", "n_features", "shift_inputs")


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

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.scenario == "diabetes" and self.n_target > DIABETES_MAX_TARGET:
            raise ValueError(
                f"n_target must be an integer in [2, {DIABETES_MAX_TARGET}] for the "
                f"diabetes scenario, got {self.n_target}"
            )


def max_n_target(data: TableData) -> int:
    """The most labelled target rows the table allows: USER_MIN_TEST are left to test."""
    return linear_data.most_labelled(data, Config.field("n_target").high)


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


def _scores(domain: DomainSplit, thetas: np.ndarray, y_scale: float) -> tuple[np.ndarray, np.ndarray]:
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


def samples_figure(config: Config | None = None, data: TableData | None = None) -> go.Figure:
    """Source and target samples side by side (:func:`tl_core.demos.linear_figures.samples`)."""
    config = config if config is not None else Config()
    return linear_figures.samples(config, make_data(config, for_figures(data)))


def model_figure(result: RunResult, data: TableData | None = None) -> go.Figure:
    """Each strategy's fitted model against the data (:func:`tl_core.demos.linear_figures.model`).

    `data`: the table the result ran on (UserDataError if it is not).
    """
    check_result_data(result, data)
    config = Config.from_dict(result.config)
    return linear_figures.model(result, config, make_data(config, for_figures(data)))


# What this demo offers beyond the required members (tl_core.demos.protocol)
OFFERS = Offers(
    user_data=USER_DATA,
    ignored_with_user_data=IGNORED_WITH_USER_DATA,
    max_n_target=max_n_target,
)
