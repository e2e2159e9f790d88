"""RegularTransferClassifier: a real scikit-learn classifier whose λ moves it from the target fit
to the source model."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from tl_core.estimators.classifier import RegularTransferClassifier


@parametrize_with_checks(
    [
        RegularTransferClassifier(),
        RegularTransferClassifier(intercept_source=None),
        RegularTransferClassifier(alpha=0.5),
    ]
)
def test_sklearn_compatible(estimator, check, monkeypatch):
    # scikit-learn skips its "array API dispatch with NumPy inputs changes nothing" check unless
    # this is set; our estimator only uses NumPy, so the check must simply pass.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    check(estimator)


def overlapping_classes(n=200, seed=0):
    """Two overlapping Gaussian classes: no separating line, so the unregularized fit is finite."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(size=(n, 2)) + np.outer(y, [1.0, 0.5])
    return X, y


def test_no_source_and_free_intercept_is_sklearn_logistic_regression():
    X, y = overlapping_classes()
    lam = 2.0
    ours = RegularTransferClassifier(lam=lam, intercept_source=None).fit(X, y)
    theirs = LogisticRegression(C=1 / (2 * lam), tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-5)
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-6)


def test_lambda_zero_is_the_unregularized_fit_whatever_the_source():
    X, y = overlapping_classes()
    ours = RegularTransferClassifier(coef_source=[-5.0, 3.0], intercept_source=4.0, lam=0.0).fit(X, y)
    theirs = LogisticRegression(C=1e12, tol=1e-12, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-4)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-4)


def test_lambda_zero_with_a_ridge_term_is_sklearn_logistic_regression_whatever_the_source():
    """α is the target-only fit's own penalty: λ = 0 gives LogisticRegression(C = 1 / (2α))."""
    X, y = overlapping_classes()
    alpha = 0.5
    ours = RegularTransferClassifier(coef_source=[-5.0, 3.0], intercept_source=4.0, lam=0.0, alpha=alpha)
    theirs = LogisticRegression(C=1 / (2 * alpha), tol=1e-10, max_iter=10_000).fit(X, y)
    np.testing.assert_allclose(ours.fit(X, y).coef_, theirs.coef_, atol=1e-5)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-5)
    huge = RegularTransferClassifier(coef_source=[-5.0, 3.0], intercept_source=4.0, lam=1e9, alpha=alpha)
    np.testing.assert_allclose(huge.fit(X, y).coef_[0], [-5.0, 3.0], atol=1e-4)


def test_huge_lambda_gives_back_the_source_model():
    X, y = overlapping_classes()
    model = RegularTransferClassifier(coef_source=[-5.0, 3.0], intercept_source=4.0, lam=1e9).fit(X, y)
    np.testing.assert_allclose(model.coef_[0], [-5.0, 3.0], atol=1e-4)
    np.testing.assert_allclose(model.intercept_, [4.0], atol=1e-4)


def test_growing_lambda_moves_the_fit_toward_the_source():
    X, y = overlapping_classes()
    source = np.array([-1.0, 1.0])
    distances = [
        np.linalg.norm(RegularTransferClassifier(coef_source=source, lam=lam).fit(X, y).coef_ - source)
        for lam in (0.0, 1.0, 10.0, 100.0)
    ]
    assert all(a > b for a, b in zip(distances, distances[1:]))


def test_labels_are_any_two_classes_and_proba_follows_classes_order():
    X, y = overlapping_classes()
    labels = np.where(y == 1, "malignant", "benign")
    model = RegularTransferClassifier().fit(X, labels)
    assert list(model.classes_) == ["benign", "malignant"]
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])


def test_bad_settings_name_the_setting():
    X, y = overlapping_classes()
    with pytest.raises(ValueError, match="lam"):
        RegularTransferClassifier(lam=-1).fit(X, y)
    with pytest.raises(ValueError, match="coef_source"):
        RegularTransferClassifier(coef_source=[1.0, 2.0, 3.0]).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        RegularTransferClassifier().fit(X, y % 2 + (X[:, 0] > 1))
