"""The linear regression demo: its maths, the lessons its defaults show, and its plumbing."""

import json

import numpy as np
import pytest
from sklearn.linear_model import RidgeCV

from tl_core.demos import linear
from tl_core.demos.linear import Config, make_data, model_figure, run, samples_figure
from tl_core.estimators.regressor import RegularTransferRegressor
from tl_core.result import RunResult
from tl_core.strategies import label

SEEDS = range(10)


def mean_over_seeds(quantity, **fields):
    """Mean over SEEDS of quantity(result) for runs with `fields` changed from the defaults."""
    return np.mean([quantity(run(Config(seed=seed, **fields))) for seed in SEEDS])


def gain(name):
    return lambda result: result.gain(name)


def target(name):
    return lambda result: result.strategy(name).target_metric


def source(name):
    return lambda result: result.strategy(name).source_metric


# --- the maths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fields", [{}, {"scenario": "diabetes"}, {"n_features": 4, "n_target": 3}])
def test_scratch_is_scikit_learns_ridge_cv_on_the_target_rows(fields):
    """The baseline a practitioner fits on a few rows: ridge, its penalty chosen by leave-one-out."""
    config = Config(**fields)
    data = make_data(config)
    expected = RidgeCV(alphas=linear.RIDGE_ALPHAS).fit(data.target.X_train, data.target.y_train)
    scratch = run(config).strategy("scratch")
    np.testing.assert_allclose(scratch.params["coef"], expected.coef_, rtol=1e-10)
    assert scratch.params["intercept"] == pytest.approx(expected.intercept_, rel=1e-10)
    assert scratch.extras["ridge_alpha"] == expected.alpha_


def test_with_few_rows_of_many_features_ridge_scratch_beats_plain_least_squares():
    """Least squares fits 5 diabetes patients' 9 features exactly, and predicts new patients worse
    than their mean: a baseline that any transfer beats. The ridge baseline does far better."""
    ridge, least_squares = (
        [
            run(Config(scenario="diabetes", baseline=b, seed=s)).strategy("scratch").target_metric
            for s in SEEDS
        ]
        for b in ("ridge", "least_squares")
    )
    assert np.mean(ridge) > np.mean(least_squares) + 0.2
    assert min(ridge) > -1 > min(least_squares)


@pytest.mark.parametrize("baseline", linear.BASELINES)
def test_lambda_zero_is_the_scratch_fit_whichever_baseline(baseline):
    # 20 rows for 10 unknowns: with fewer, least squares has many exact fits, and λ → 0 picks
    # the one closest to the source where plain least squares picks the one closest to zero.
    result = run(Config(n_target=20, lam=0.0, baseline=baseline, scenario="diabetes"))
    scratch, regularized = result.strategy("scratch").params, result.strategy("regularized").params
    np.testing.assert_allclose(regularized["coef"], scratch["coef"], rtol=1e-8, atol=1e-12)
    assert regularized["intercept"] == pytest.approx(scratch["intercept"], rel=1e-8)


def test_least_squares_baseline_is_the_target_only_least_squares_fit():
    data = make_data(Config(n_target=8))
    X, y = data.target.X_train, data.target.y_train
    A = np.hstack([X, np.ones((len(y), 1))])
    least_squares = np.linalg.lstsq(A, y, rcond=None)[0]
    params = run(Config(n_target=8, baseline="least_squares")).strategy("scratch").params
    np.testing.assert_allclose(params["coef"] + [params["intercept"]], least_squares, rtol=1e-8)


def test_huge_lambda_gives_back_the_source_line():
    result = run(Config(lam=Config.field("lam").high))
    regularized = result.strategy("regularized").params
    source_only = result.strategy("source_only").params
    # λ = 10⁴ against 5 samples: within a thousandth of the source line.
    assert regularized["slope"] == pytest.approx(source_only["slope"], abs=1e-3)
    assert regularized["intercept"] == pytest.approx(source_only["intercept"], abs=1e-3)


def test_regularized_closed_form_equals_the_augmented_least_squares_system():
    """argmin ‖Xw + b − y‖² + α‖w‖² + λ‖(w, b) − (w_s, b_s)‖² (α: scratch's ridge) solves
    [A; √α R; √λ I] θ = [y; 0; √λ θ_s], R the identity on the slopes only."""
    config = Config(n_features=3, n_target=6, lam=7.0, gap=0.5)
    data = make_data(config)
    X, y = data.source.X_train, data.source.y_train
    theta_source = np.linalg.lstsq(np.hstack([X, np.ones((len(y), 1))]), y, rcond=None)[0]
    X, y = data.target.X_train, data.target.y_train
    A = np.hstack([X, np.ones((len(y), 1))])
    result = run(config)
    root, ridge = np.sqrt(config.lam), np.sqrt(result.strategy("scratch").extras["ridge_alpha"])
    expected = np.linalg.lstsq(
        np.vstack([A, ridge * np.diag([1.0, 1.0, 1.0, 0.0]), root * np.eye(4)]),
        np.concatenate([y, np.zeros(4), root * theta_source]),
        rcond=None,
    )[0]
    params = result.strategy("regularized").params
    np.testing.assert_allclose(params["coef"] + [params["intercept"]], expected, rtol=1e-8)


def test_joint_training_weighs_the_two_domains_mean_errors():
    config = Config(target_weight=3.0)
    data = make_data(config)
    Xs, ys = data.source.X_train, data.source.y_train
    Xt, yt = data.target.X_train, data.target.y_train
    # Minimise mean_s(...)² + 3·mean_t(...)²: least squares with rows scaled by √weight.
    A = np.vstack(
        [
            np.hstack([Xs, np.ones((len(ys), 1))]) / np.sqrt(len(ys)),
            np.hstack([Xt, np.ones((len(yt), 1))]) * np.sqrt(3.0 / len(yt)),
        ]
    )
    b = np.concatenate([ys / np.sqrt(len(ys)), yt * np.sqrt(3.0 / len(yt))])
    expected = np.linalg.lstsq(A, b, rcond=None)[0]
    params = run(config).strategy("joint").params
    np.testing.assert_allclose([params["slope"], params["intercept"]], expected, rtol=1e-8)


def test_fine_tuning_is_gradient_descent_from_the_source_line():
    result = run(Config(epochs=3))
    fine_tune, source_only = result.strategy("fine_tune"), result.strategy("source_only")
    assert fine_tune.history["step"] == [0, 1, 2, 3]
    # Step 0 is the source line itself.
    assert fine_tune.history["target_metric"][0] == pytest.approx(source_only.target_metric)
    assert fine_tune.history["source_metric"][0] == pytest.approx(source_only.source_metric)
    assert fine_tune.history["target_metric"][-1] == fine_tune.target_metric


@pytest.mark.parametrize(
    "fields",
    [
        dict(lr=1.0, epochs=500, n_target=500),
        dict(lr=1.0, epochs=500, n_features=10, shift_inputs=True, gap=1.0),
        dict(scenario="diabetes", lr=1.0, epochs=500, n_target=150),
    ],
)
def test_fine_tuning_never_diverges_at_the_largest_settings(fields):
    config = Config(strategies=("source_only", "fine_tune"), **fields)
    result = run(config)
    history = result.strategy("fine_tune").history
    assert all(np.all(np.isfinite(history[key])) for key in history)
    # The step is capped at 1/L, so each step lowers the training error.
    data = make_data(config)

    def training_error(name):
        params = result.strategy(name).params
        predictions = data.target.X_train @ np.asarray(params["coef"]) + params["intercept"]
        return np.mean((predictions - data.target.y_train) ** 2)

    assert training_error("fine_tune") < training_error("source_only")


def test_scratch_does_not_depend_on_the_gap():
    """Each target is equally hard to learn from scratch, so the gap curve's baseline is flat."""
    scores = [run(Config(gap=gap, seed=3)).strategy("scratch").target_metric for gap in (0, 0.5, 1)]
    assert scores == pytest.approx([scores[0]] * 3, abs=1e-9)


# --- the lessons, with the defaults --------------------------------------------------------------


@pytest.mark.parametrize("n_target", [5, 10])
@pytest.mark.parametrize("name", ["regularized", "fine_tune"])
def test_lesson_1_transfer_beats_scratch_with_few_target_samples(name, n_target):
    assert mean_over_seeds(gain(name), n_target=n_target) > 0


@pytest.mark.parametrize("name", ["regularized", "fine_tune"])
def test_lesson_2_the_gain_shrinks_with_many_target_samples(name):
    few, many = mean_over_seeds(gain(name)), mean_over_seeds(gain(name), n_target=200)
    assert abs(many) < 0.01 < few


def test_lesson_2_with_many_target_samples_their_own_model_beats_the_source():
    assert mean_over_seeds(gain("source_only"), n_target=200) < -0.05


@pytest.mark.parametrize(
    "name, fields",
    [
        ("source_only", {}),
        ("regularized", {"lam": 1000.0}),
        ("regularized", {}),
        ("joint", {}),
        ("fine_tune", {}),
    ],
)
def test_lesson_3_a_large_gap_makes_transfer_worse_than_scratch(name, fields):
    assert mean_over_seeds(gain(name), gap=1.0, **fields) < 0


def test_lesson_3_the_fine_tuning_gain_shrinks_as_the_gap_grows():
    near, far = mean_over_seeds(gain("fine_tune")), mean_over_seeds(gain("fine_tune"), gap=1.0)
    assert far < near - 0.1


def test_lesson_4_fine_tuning_forgets_the_source_while_source_only_keeps_it():
    def forgetting(result):
        history = result.strategy("fine_tune").history["source_metric"]
        return history[-1] - history[0]

    assert mean_over_seeds(forgetting) < -0.03
    source_model_r2 = run(Config()).strategy("source_only").source_metric
    # The source model never sees the target: its source R² is the same whatever n_target is.
    assert all(
        run(Config(n_target=n)).strategy("source_only").source_metric == source_model_r2 for n in (2, 50)
    )


def test_lesson_5_lambda_trades_source_for_target():
    lams = [0.0, 1.0, 10.0, 100.0, 10000.0]
    source_r2 = [mean_over_seeds(source("regularized"), lam=lam) for lam in lams]
    # More pull keeps more of the source (up to test noise once the line barely moves).
    assert np.all(np.diff(source_r2) > -0.005) and source_r2[-1] > source_r2[0] + 0.1
    assert source_r2[0] == pytest.approx(mean_over_seeds(source("scratch")))
    assert source_r2[-1] == pytest.approx(mean_over_seeds(source("source_only")), abs=1e-3)
    target_r2 = [mean_over_seeds(target("regularized"), lam=lam) for lam in lams]
    assert max(target_r2[1:-1]) > max(target_r2[0], target_r2[-1])  # the best λ is in between


def test_diabetes_splits_by_sex_at_gap_one_and_the_groups_differ():
    data = make_data(Config(scenario="diabetes", gap=1.0))
    assert len(data.target.y_train) + len(data.target.y_test) == 207  # sex group 2
    assert len(data.source.y_train) + len(data.source.y_test) == 235  # sex group 1
    # With many patients of the target group, their own model beats the other group's.
    assert mean_over_seeds(gain("source_only"), scenario="diabetes", gap=1.0, n_target=150) < -0.05
    assert mean_over_seeds(gain("regularized"), scenario="diabetes", gap=1.0, n_target=20) > 0.03


# --- plumbing ------------------------------------------------------------------------------------


def without_times(result):
    data = result.to_dict()
    data["wall_time"] = 0.0
    for strategy in data["results"]:
        strategy["wall_time"] = 0.0
    return json.dumps(data)


@pytest.mark.parametrize("fields", [{}, {"scenario": "diabetes"}, {"n_features": 3, "shift_inputs": True}])
def test_same_config_and_seed_give_identical_results(fields):
    first, second = run(Config(**fields)), run(Config(**fields))
    assert without_times(first) == without_times(second)
    assert without_times(run(Config(seed=1, **fields))) != without_times(first)


@pytest.mark.parametrize("fields", [{}, {"scenario": "diabetes"}])
def test_result_round_trips_through_json(fields):
    result = run(Config(**fields))
    assert RunResult.from_json(result.to_json()) == result


def test_result_has_every_strategy_with_plain_params():
    result = run(Config())
    assert result.names() == list(linear.STRATEGIES)
    assert (result.metric_name, result.loss_name) == ("R²", "MSE")
    for strategy in result.strategies:
        assert isinstance(strategy.params["slope"], float)
        assert isinstance(strategy.params["intercept"], float)
        assert strategy.target_loss > 0
    assert result.strategy("regularized").history == {}  # closed form: no steps


def test_asking_for_some_strategies_runs_them_after_scratch():
    names = run(Config(strategies=("joint", "regularized"))).names()
    assert names == ["scratch", "joint", "regularized"]


def test_progress_is_reported_up_to_done():
    calls = []
    result = run(Config(), progress=lambda fraction, message: calls.append((fraction, message)))
    fractions = [f for f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert [message for _, message in calls] == [f"{label(s.strategy)} done" for s in result.strategies]


@pytest.mark.parametrize(
    "fields, field",
    [
        (dict(gap=1.7), "gap"),
        (dict(scenario="housing"), "scenario"),
        (dict(n_target=1), "n_target"),
        (dict(lam=-1.0), "lam"),
        (dict(epochs=0), "epochs"),
        (dict(lr=5.0), "lr"),
        (dict(strategies=("coral",)), "strategies"),
        (dict(n_features=11), "n_features"),
        (dict(scenario="diabetes", n_target=200), "n_target"),
        (dict(shift_inputs="maybe"), "shift_inputs"),
    ],
)
def test_bad_values_are_errors_naming_the_field(fields, field):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        Config(**fields)


def test_samples_figure_shows_both_domains():
    figure = samples_figure(Config(n_target=7))
    traces = {trace.name: trace for trace in figure.data}
    assert set(traces) == {
        "source samples",
        "target test samples (unlabelled to the models)",
        "target labelled samples",
        "source line y = 3.00x + 2.00",
    }
    assert len(traces["target labelled samples"].x) == 7
    assert traces["source samples"].xaxis != traces["target labelled samples"].xaxis  # side by side
    # The source line is drawn over the target samples too, so the gap shows.
    assert {t.xaxis for t in figure.data if t.name.startswith("source line")} == {"x", "x2"}


@pytest.mark.parametrize("fields", [{"scenario": "diabetes"}, {"n_features": 2}])
def test_samples_figure_works_for_every_scenario(fields):
    """Without a source line to draw (a real data set, several features), the samples remain."""
    names = {t.name for t in samples_figure(Config(**fields)).data}
    assert names == {
        "source samples",
        "target test samples (unlabelled to the models)",
        "target labelled samples",
    }


def test_model_figure_draws_each_strategys_fitted_line():
    result = run(Config())
    figure = model_figure(result)
    lines = {trace.name: trace for trace in figure.data if trace.mode == "lines"}
    assert set(lines) == {label(name) for name in result.names()}
    scratch = result.strategy("scratch").params
    x, y = lines[label("scratch")].x, lines[label("scratch")].y
    np.testing.assert_allclose(y, scratch["slope"] * np.asarray(x) + scratch["intercept"])


@pytest.mark.parametrize("fields", [{"scenario": "diabetes"}, {"n_features": 3}])
def test_model_figure_plots_predicted_against_true_beyond_one_feature(fields):
    result = run(Config(**fields))
    names = [trace.name for trace in model_figure(result).data]
    assert names == [label(name) for name in result.names()] + ["perfect prediction"]


def test_regularized_strategy_uses_the_estimator():
    """One implementation of the maths: the demo's numbers are the estimator's."""
    config = Config(gap=0.6, lam=3.0)
    data = make_data(config)
    source_model = RegularTransferRegressor(lam=0.0).fit(data.source.X_train, data.source.y_train)
    result = run(config)
    alpha = result.strategy("scratch").extras["ridge_alpha"]
    model = RegularTransferRegressor(source_model.coef_, source_model.intercept_, lam=3.0, alpha=alpha)
    model.fit(data.target.X_train, data.target.y_train)
    params = result.strategy("regularized").params
    assert params["slope"] == model.coef_[0] and params["intercept"] == model.intercept_
