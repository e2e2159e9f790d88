"""Regularized transfer for linear regression, as a scikit-learn estimator.

The target model is the least-squares fit to the few target samples, pulled toward the source
model's coefficients by a penalty of strength λ (``lam``), with an optional ridge penalty α
(``alpha``) on the coefficients, the one the target-only fit has:

    w, b = argmin  ‖X w + b − y‖²  +  α ‖w‖²  +  λ ‖w − w_source‖²  +  λ (b − b_source)²

The first term is the *sum* of squared errors, so λ counts like λ extra samples that agree with
the source model: with 5 target samples, λ = 5 gives the source as much say as the data.

- λ = 0 is the target-only fit (training from scratch): ordinary least squares when α = 0,
  scikit-learn's ``Ridge(alpha=α)`` otherwise;
- λ → ∞ gives back the source model exactly (the source model applied as it is), whatever α.
- With no source coefficients (``coef_source=None``) the pull is toward zero: ridge regression.
- The intercept is pulled toward ``intercept_source`` when one is given (as ADAPT's
  RegularTransferLR does, so a large λ returns the source *line*, not only its slope). When it is
  None the intercept is left free, as in scikit-learn's ``Ridge``: then ``coef_source=None``
  gives exactly ``Ridge(alpha=lam)``.

Relation to ADAPT: ``adapt.parameter_based.RegularTransferLR(lambda_=μ)`` solves the same
problem with ``scipy.sparse.linalg.lsqr(X, y, damp=μ, x0=β_source)``, whose damping enters the
objective squared (‖Xβ − y‖² + μ²‖β − β_source‖²). So its ``lambda_ = μ`` is our ``lam = μ²``.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data


class RegularTransferRegressor(RegressorMixin, BaseEstimator):
    """Least squares pulled toward a source model: argmin ‖Xw + b − y‖² + α‖w‖² + λ‖(w, b) − (w_s, b_s)‖².

    Parameters
    ----------
    coef_source : array-like of shape (n_features,) or None, default=None
        The source model's coefficients w_s. None pulls toward zero (ridge regression).
    intercept_source : float or None, default=None
        The source model's intercept b_s. A number pulls the intercept toward it with the same λ;
        None leaves the intercept free (unpenalized, as in ``Ridge``). Ignored without an intercept.
    lam : float, default=1.0
        λ ≥ 0, the strength of the pull. 0 gives the target-only fit.
    alpha : float, default=0.0
        α ≥ 0, a ridge penalty on the coefficients toward zero (the intercept stays free of it):
        the target-only fit's own penalty, so that λ = 0 gives that fit. 0 is least squares.
    fit_intercept : bool, default=True
        Whether to fit an intercept b (else b = 0).

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    n_features_in_ : int
    """

    def __init__(self, coef_source=None, intercept_source=None, lam=1.0, alpha=0.0, fit_intercept=True):
        self.coef_source = coef_source
        self.intercept_source = intercept_source
        self.lam = lam
        self.alpha = alpha
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        """Solve the normal equations for the change δ = θ − θ_s from the source model.

        With A = [X, 1] (or X without an intercept) and r = y − A θ_s, what the source model leaves
        unexplained, the objective is ‖A δ − r‖² + α‖w_s + δ_w‖² + λ‖δ‖², so
        (AᵀA + αP + λI) δ = Aᵀ r − α P θ_s, where P picks the coefficients (not the intercept). A
        free intercept is first removed by centring X and r, as scikit-learn's Ridge does. Solving
        for the change keeps a huge λ exact: the answer is then θ_s plus a tiny δ.
        """
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        lam, alpha = self._checked("lam", self.lam), self._checked("alpha", self.alpha)
        coef_source = self._source_coefs(X.shape[1])
        pull_intercept = self.fit_intercept and self.intercept_source is not None
        intercept_source = float(self.intercept_source) if pull_intercept else 0.0
        residual = y - X @ coef_source - intercept_source
        on_coefs = np.full(X.shape[1], lam + alpha)  # the penalty's curvature on each coefficient
        if pull_intercept:
            change = _penalized_change(
                np.hstack([X, np.ones((len(y), 1))]),
                residual,
                np.append(on_coefs, lam),
                np.append(alpha * coef_source, 0.0),
            )
            coef_change, intercept = change[:-1], intercept_source + change[-1]
        elif self.fit_intercept:  # free intercept: it absorbs the means
            x_mean, residual_mean = X.mean(axis=0), residual.mean()
            coef_change = _penalized_change(
                X - x_mean, residual - residual_mean, on_coefs, alpha * coef_source
            )
            intercept = residual_mean - x_mean @ coef_change
        else:
            coef_change, intercept = _penalized_change(X, residual, on_coefs, alpha * coef_source), 0.0
        self.coef_ = coef_source + coef_change
        self.intercept_ = float(intercept)
        return self

    def predict(self, X):
        """X w + b."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_

    @staticmethod
    def _checked(name: str, value) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float, np.number))
            or not np.isfinite(value)
            or value < 0
        ):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        return float(value)

    def _source_coefs(self, n_features: int) -> np.ndarray:
        if self.coef_source is None:
            return np.zeros(n_features)
        coef_source = np.asarray(self.coef_source, dtype=np.float64).ravel()
        if coef_source.shape[0] != n_features:
            raise ValueError(
                f"coef_source must have one value per feature ({n_features}), got {coef_source.shape[0]}"
            )
        return coef_source


def _penalized_change(A: np.ndarray, residual: np.ndarray, penalty: np.ndarray, pull_back: np.ndarray):
    """δ solving the normal equations (AᵀA + diag(penalty)) δ = Aᵀ residual − pull_back.

    lstsq rather than solve: with no penalty and fewer samples than unknowns AᵀA is singular,
    and lstsq then gives the smallest change, i.e. the fit closest to the source (or to zero).
    """
    return np.linalg.lstsq(A.T @ A + np.diag(penalty), A.T @ residual - pull_back, rcond=None)[0]
