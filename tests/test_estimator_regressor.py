"""RegularTransferRegressor is a real scikit-learn estimator, and its maths is the stated one."""

import numpy as np
import pytest
from scipy.sparse.linalg import lsqr
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.utils.estimator_checks import parametrize_with_checks

from tl_core.estimators.regressor import RegularTransferRegressor


@parametrize_with_checks(
    [
        RegularTransferRegressor(),  # ridge toward zero, free intercept
        RegularTransferRegressor(intercept_source=0.0, lam=3.0),  # intercept pulled too
        RegularTransferRegressor(fit_intercept=False),
        RegularTransferRegressor(intercept_source=0.0, lam=3.0, alpha=2.0),  # with the ridge term
    ]
)
def test_passes_scikit_learn_checks(estimator, check, monkeypatch):
    # scikit-learn skips its array-API check unless SCIPY_ARRAY_API is set; our maths is plain
    # numpy, so set it for the check and run it rather than skip it.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + 3.0 + rng.normal(scale=0.3, size=8)
    return X, y, np.array([2.0, -1.0, 0.0]), 1.5


def test_without_a_source_it_is_scikit_learns_ridge(data):
    X, y, _, _ = data
    ours = RegularTransferRegressor(lam=2.0).fit(X, y)
    ridge = Ridge(alpha=2.0).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ridge.coef_, rtol=1e-10)
    assert ours.intercept_ == pytest.approx(ridge.intercept_, rel=1e-10)


def test_lambda_zero_is_least_squares_on_the_target(data):
    X, y, coef_source, intercept_source = data
    ours = RegularTransferRegressor(coef_source, intercept_source, lam=0.0).fit(X, y)
    ols = LinearRegression().fit(X, y)
    np.testing.assert_allclose(ours.coef_, ols.coef_, rtol=1e-9)
    assert ours.intercept_ == pytest.approx(ols.intercept_, rel=1e-9)


def test_huge_lambda_gives_back_the_source_model(data):
    X, y, coef_source, intercept_source = data
    ours = RegularTransferRegressor(coef_source, intercept_source, lam=1e12).fit(X, y)
    np.testing.assert_allclose(ours.coef_, coef_source, atol=1e-9)
    assert ours.intercept_ == pytest.approx(intercept_source, abs=1e-9)


def test_huge_lambda_with_a_free_intercept_keeps_source_slopes_and_fits_the_level(data):
    X, y, coef_source, _ = data
    ours = RegularTransferRegressor(coef_source, None, lam=1e12).fit(X, y)
    np.testing.assert_allclose(ours.coef_, coef_source, atol=1e-9)
    # With the slopes fixed, the best intercept is the mean residual.
    assert ours.intercept_ == pytest.approx(np.mean(y - X @ coef_source), abs=1e-8)


@pytest.mark.parametrize("lam", [0.1, 2.5, 40.0])
@pytest.mark.parametrize("pull_intercept", [True, False])
def test_closed_form_equals_the_augmented_least_squares_system(data, lam, pull_intercept):
    """argmin ‖Aθ − y‖² + λ‖P(θ − θ_s)‖² is least squares on [A; √λP]θ = [y; √λPθ_s]."""
    X, y, coef_source, intercept_source = data
    A = np.hstack([X, np.ones((len(y), 1))])
    theta_source = np.append(coef_source, intercept_source)
    P = np.diag([1.0, 1.0, 1.0, 1.0 if pull_intercept else 0.0])
    expected = np.linalg.lstsq(
        np.vstack([A, np.sqrt(lam) * P]), np.concatenate([y, np.sqrt(lam) * P @ theta_source]), rcond=None
    )[0]
    ours = RegularTransferRegressor(coef_source, intercept_source if pull_intercept else None, lam=lam).fit(
        X, y
    )
    np.testing.assert_allclose(np.append(ours.coef_, ours.intercept_), expected, rtol=1e-9)


@pytest.mark.parametrize("pull_intercept", [True, False])
def test_with_a_ridge_term_it_solves_the_augmented_system_and_keeps_both_limits(data, pull_intercept):
    """argmin ‖Aθ − y‖² + α‖w‖² + λ‖P(θ − θ_s)‖²: least squares on [A; √α R; √λ P]; λ = 0 is
    scikit-learn's Ridge(alpha=α) on the target, λ huge the source model."""
    X, y, coef_source, intercept_source = data
    intercept_source = intercept_source if pull_intercept else None
    alpha, lam = 2.0, 3.0
    A = np.hstack([X, np.ones((len(y), 1))])
    theta_source = np.append(coef_source, intercept_source or 0.0)
    R, P = np.diag([1.0, 1.0, 1.0, 0.0]), np.diag([1.0, 1.0, 1.0, 1.0 if pull_intercept else 0.0])
    expected = np.linalg.lstsq(
        np.vstack([A, np.sqrt(alpha) * R, np.sqrt(lam) * P]),
        np.concatenate([y, np.zeros(4), np.sqrt(lam) * P @ theta_source]),
        rcond=None,
    )[0]
    ours = RegularTransferRegressor(coef_source, intercept_source, lam=lam, alpha=alpha).fit(X, y)
    np.testing.assert_allclose(np.append(ours.coef_, ours.intercept_), expected, rtol=1e-9)
    at_zero = RegularTransferRegressor(coef_source, intercept_source, lam=0.0, alpha=alpha).fit(X, y)
    ridge = Ridge(alpha=alpha).fit(X, y)
    np.testing.assert_allclose(np.append(at_zero.coef_, at_zero.intercept_), [*ridge.coef_, ridge.intercept_])
    huge = RegularTransferRegressor(coef_source, intercept_source, lam=1e12, alpha=alpha).fit(X, y)
    np.testing.assert_allclose(huge.coef_, coef_source, atol=1e-9)


def test_adapts_lambda_acts_squared(data):
    """ADAPT's RegularTransferLR solves lsqr(A, y, damp=μ, x0=θ_s): that is our λ = μ²."""
    X, y, coef_source, intercept_source = data
    mu = 1.7
    A = np.hstack([np.ones((len(y), 1)), X])  # ADAPT puts the intercept first
    adapt = lsqr(A, y, damp=mu, x0=np.append(intercept_source, coef_source), atol=1e-14, btol=1e-14)[0]
    ours = RegularTransferRegressor(coef_source, intercept_source, lam=mu**2).fit(X, y)
    np.testing.assert_allclose(np.append(ours.intercept_, ours.coef_), adapt, rtol=1e-8)


def test_fewer_samples_than_features_gives_the_minimum_norm_fit():
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(3, 6)), rng.normal(size=3)
    ours = RegularTransferRegressor(lam=0.0, fit_intercept=False).fit(X, y)
    np.testing.assert_allclose(ours.coef_, np.linalg.pinv(X) @ y, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), y, atol=1e-10)  # it interpolates the 3 samples


@pytest.mark.parametrize("lam", [-1.0, float("nan"), "big", True])
def test_bad_lambda_is_a_clear_error(data, lam):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        RegularTransferRegressor(lam=lam).fit(X, y)


def test_bad_alpha_is_a_clear_error(data):
    X, y, _, _ = data
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0, got -1"):
        RegularTransferRegressor(alpha=-1).fit(X, y)


def test_source_coefficients_of_the_wrong_length_are_a_clear_error(data):
    X, y, _, _ = data
    expected = "coef_source must have one value per feature \\(3\\), got 2"
    with pytest.raises(ValueError, match=expected):
        RegularTransferRegressor(coef_source=[1.0, 2.0]).fit(X, y)
