"""The logistic regression demo: its defaults teach the lessons, its knobs reach their limits,
and its results are reproducible and plain."""

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tl_core.demos import logistic
from tl_core.demos.logistic import Config, make_data, run
from tl_core.demos.logistic_data import true_boundaries
from tl_core.result import RunResult

SEEDS = range(10)


def mean_target(strategy, seeds=SEEDS, **fields):
    """Mean target accuracy of a strategy and of scratch over seeds."""
    results = [run(Config(seed=s, **fields)) for s in seeds]
    return (
        np.mean([r.strategy(strategy).target_metric for r in results]),
        np.mean([r.strategy("scratch").target_metric for r in results]),
    )


def mean_gain(strategy, **fields):
    ours, scratch = mean_target(strategy, **fields)
    return ours - scratch


def weights_and_bias(params):
    return np.append(params["weights"], params["bias"])


# ----- the limits of λ and of the other knobs ---------------------------------------------------


@pytest.mark.parametrize("ridge", [0.5, 0.0])
def test_lambda_zero_is_scratch_the_target_only_fit(ridge):
    """Regularized transfer is scratch's objective plus the pull: at λ = 0 it is scratch, which is
    scikit-learn's LogisticRegression(C = 1 / (2·ridge)) (unregularized at ridge 0)."""
    # 50 noisy samples per class overlap, so even the unregularized optimum is finite
    config = Config(lam=0.0, ridge=ridge, n_target=50, label_noise=0.2)
    data = make_data(config)
    independent = LogisticRegression(C=1 / (2 * ridge) if ridge else 1e12, tol=1e-12, max_iter=10_000).fit(
        data.target.X_train, data.target.y_train
    )
    result = run(config)
    for name in ("regularized", "scratch"):
        ours = weights_and_bias(result.strategy(name).params)
        np.testing.assert_allclose(ours, np.append(independent.coef_, independent.intercept_), atol=1e-3)


def test_huge_lambda_gives_back_the_source_model():
    result = run(Config(lam=10_000.0))
    np.testing.assert_allclose(
        weights_and_bias(result.strategy("regularized").params),
        weights_and_bias(result.strategy("source_only").params),
        atol=1e-3,
    )


def test_scratch_is_scikit_learns_default_logistic_regression():
    config = Config(n_target=10)
    data = make_data(config)
    reference = LogisticRegression(C=1.0, tol=1e-10).fit(data.target.X_train, data.target.y_train)
    ours = weights_and_bias(run(config).strategy("scratch").params)
    np.testing.assert_allclose(ours, np.append(reference.coef_, reference.intercept_), atol=1e-4)


def test_joint_with_no_target_weight_is_the_source_model():
    result = run(Config(target_weight=0.0))
    np.testing.assert_allclose(
        weights_and_bias(result.strategy("joint").params),
        weights_and_bias(result.strategy("source_only").params),
        atol=1e-4,
    )


def test_n_target_counts_labelled_samples_per_class():
    for scenario in ("synthetic", "breast_cancer"):
        data = make_data(Config(scenario=scenario, n_target=7))
        assert np.bincount(data.target.y_train).tolist() == [7, 7]


def test_the_target_boundary_turns_by_gap_times_90_degrees():
    for gap in (0.0, 0.5, 1.0):
        truth = true_boundaries(Config(gap=gap))
        w_source, w_target = np.array(truth["source"]["weights"]), np.array(truth["target"]["weights"])
        turned = np.arctan2(w_source[0] * w_target[1] - w_source[1] * w_target[0], w_source @ w_target)
        assert np.degrees(turned) == pytest.approx(90 * gap, abs=1e-9)
    # without label noise every target test label is the side of the true target boundary
    config = Config(gap=0.5, shift=1.0, label_noise=0.0)
    data, target = make_data(config), true_boundaries(config)["target"]
    sides = data.target.X_test @ np.array(target["weights"]) + target["bias"] > 0
    np.testing.assert_array_equal(sides.astype(int), data.target.y_test)


# ----- the lessons, with the defaults ------------------------------------------------------------


def test_with_few_target_labels_transfer_beats_scratch():
    assert Config().n_target <= 5
    for strategy in ("regularized", "fine_tune", "joint"):
        assert mean_gain(strategy) > 0.02, strategy


def test_with_many_target_labels_the_gain_shrinks():
    for strategy in ("regularized", "fine_tune"):
        few, many = mean_gain(strategy), mean_gain(strategy, n_target=100)
        assert many < few - 0.02, strategy
        assert many < 0.01, strategy


def test_at_a_large_gap_transfer_turns_negative():
    assert mean_gain("source_only", gap=1.0) < -0.1
    assert mean_gain("regularized", gap=1.0, lam=1000.0) < -0.1


def test_fine_tuning_gains_on_the_target_and_forgets_the_source():
    histories = [run(Config(seed=s, strategies=("fine_tune",))).strategy("fine_tune").history for s in SEEDS]
    source_change = np.mean([h["source_metric"][-1] - h["source_metric"][0] for h in histories])
    target_change = np.mean([h["target_metric"][-1] - h["target_metric"][0] for h in histories])
    assert source_change < -0.02
    assert target_change > 0.0


def test_fine_tuning_history_starts_at_the_source_model_and_ends_at_the_reported_numbers():
    result = run(Config(epochs=7))
    fine_tune, source_only = result.strategy("fine_tune"), result.strategy("source_only")
    history = fine_tune.history
    assert history["step"] == list(range(8))
    assert set(history) == {"step", "source_metric", "target_metric", "source_loss", "target_loss"}
    assert history["target_metric"][0] == pytest.approx(source_only.target_metric)
    assert history["source_loss"][0] == pytest.approx(source_only.source_loss)
    assert history["target_metric"][-1] == pytest.approx(fine_tune.target_metric)
    assert history["target_loss"][-1] == pytest.approx(fine_tune.target_loss)
    assert history["source_metric"][-1] == pytest.approx(fine_tune.source_metric)


# ----- CORAL -------------------------------------------------------------------------------------


def test_coral_uses_no_target_labels():
    config = Config(shift=1.0)
    data = make_data(config)
    source_model = logistic.fit_source_model(config, data)
    before = logistic.FITS["coral"](config, data, source_model).thetas
    rng = np.random.default_rng(1)
    data.target.y_train = rng.permutation(data.target.y_train)
    data.target.y_train[:2] = 1 - data.target.y_train[:2]
    after = logistic.FITS["coral"](config, data, source_model).thetas
    np.testing.assert_array_equal(before, after)


def test_coral_at_gap_zero_matches_source_only():
    """With no shift CORAL's map is the identity up to the noise of estimated means and covariances."""
    differences = []
    for seed in range(5):
        config = Config(gap=0.0, seed=seed)
        result, data = run(config), make_data(config)
        coral, source = result.strategy("coral"), result.strategy("source_only")
        differences.append(abs(coral.target_metric - source.target_metric))
        predictions = [
            data.target.X_test @ s.params["weights"] + s.params["bias"] > 0 for s in (coral, source)
        ]
        assert np.mean(predictions[0] == predictions[1]) > 0.93
    assert np.mean(differences) < 0.015


def test_coral_undoes_a_shift_of_the_target_inputs():
    coral, _ = mean_target("coral", seeds=range(5), shift=1.5)
    source_only, _ = mean_target("source_only", seeds=range(5), shift=1.5)
    assert coral > source_only + 0.2


def test_coral_map_gives_target_inputs_the_source_mean_and_covariance():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(2000, 2)) @ np.array([[2.0, 0.5], [0.0, 0.7]]) + [1.0, -2.0]
    target = rng.normal(size=(2000, 2)) @ np.array([[0.5, 0.0], [0.3, 1.5]]) + [-3.0, 0.5]
    matrix, offset = logistic.coral_map(source, target)
    moved = target @ matrix + offset
    np.testing.assert_allclose(moved.mean(0), source.mean(0), atol=1e-9)
    # equal up to the small ε both covariances get before the matrix square roots
    np.testing.assert_allclose(np.cov(moved, rowvar=False), np.cov(source, rowvar=False), rtol=1e-2)


# ----- the real data set -------------------------------------------------------------------------


def test_breast_cancer_split_by_smoothness_shows_a_shift():
    """At gap 1 the source model loses accuracy on the rough tumours, more than at gap 0."""

    def drop(gap):
        results = [
            run(Config(scenario="breast_cancer", gap=gap, seed=s, strategies=("source_only",)))
            for s in range(5)
        ]
        return np.mean(
            [
                r.strategy("source_only").source_metric - r.strategy("source_only").target_metric
                for r in results
            ]
        )

    assert drop(1.0) > 0.05
    assert drop(1.0) > drop(0.0) + 0.05


# ----- reproducible, checked, plain -----------------------------------------------------------------


def without_timings(result):
    data = result.to_dict()
    data["wall_time"] = 0.0
    for s in data["results"]:
        s["wall_time"] = 0.0
    return json.dumps(data, sort_keys=True)


@pytest.mark.parametrize("scenario", ["synthetic", "breast_cancer"])
def test_same_config_and_seed_give_identical_results(scenario):
    first, second = run(Config(scenario=scenario, seed=3)), run(Config(scenario=scenario, seed=3))
    assert without_timings(first) == without_timings(second)
    assert without_timings(first) != without_timings(run(Config(scenario=scenario, seed=4)))


def test_result_round_trips_through_json():
    result = run(Config(scenario="synthetic"))
    again = RunResult.from_json(result.to_json())
    assert again == result
    assert again.to_json() == result.to_json()
    assert set(result.strategy("regularized").params) == {"weights", "bias"}
    assert all(type(v) is float for v in result.strategy("regularized").params["weights"])


@pytest.mark.parametrize(
    "field, value",
    [
        ("gap", 1.5),
        ("n_target", 0),
        ("lam", -1.0),
        ("epochs", 0),
        ("lr", 0.0),
        ("scenario", "mnist"),
        ("strategies", ("scratch", "bogus")),
        ("label_noise", 0.9),
        ("shift", -1.0),
        ("target_weight", -2.0),
    ],
)
def test_bad_values_are_refused_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Config(**{field: value})


def test_breast_cancer_refuses_more_target_labels_than_it_can_spare():
    with pytest.raises(ValueError, match="n_target"):
        Config(scenario="breast_cancer", n_target=logistic.CANCER_MAX_TARGET + 1)


def test_progress_reports_each_strategy_and_ends_at_one():
    calls = []
    result = run(Config(), progress=lambda fraction, message: calls.append(fraction))
    assert len(calls) == len(result.strategies) and calls[-1] == 1.0
    assert result.names()[0] == "scratch" and set(result.names()) == set(logistic.STRATEGIES)


# ----- figures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["synthetic", "breast_cancer"])
def test_samples_figure_shows_both_domains_by_class(scenario):
    config = Config(scenario=scenario)
    fig = logistic.samples_figure(config)
    names = [t.name for t in fig.data]
    classes = make_data(config).class_names
    for what in ("source samples", "target test samples", "target labelled samples"):
        for name in classes:
            assert f"{what}: {name}" in names
    labelled = [t for t in fig.data if t.name.startswith("target labelled")]
    assert sum(len(t.x) for t in labelled) == 2 * config.n_target
    assert {t.xaxis for t in fig.data if t.name.startswith("source")} == {"x"}
    assert {t.xaxis for t in fig.data if t.name.startswith("target")} == {"x2"}
    assert ("true target boundary" in names) == (scenario == "synthetic")
    if scenario == "synthetic":  # the source boundary beside the target's: the gap shows
        compared = [t for t in fig.data if t.name == "true source boundary, for comparison"]
        assert [t.xaxis for t in compared] == ["x2"] and compared[0].line.dash == "dot"


@pytest.mark.parametrize(
    "fields", [{}, {"n_target": 20, "seed": 3}, {"scenario": "breast_cancer", "n_target": 50}]
)
def test_samples_figure_axes_hold_every_point_drawn(fields):
    """ "3 labelled per class" shows 6 points: a labelled sample never falls outside the axes."""
    fig = logistic.samples_figure(Config(**fields))
    (x_low, x_high), (y_low, y_high) = fig.layout.xaxis.range, fig.layout.yaxis.range
    for trace in fig.data:
        if trace.mode == "markers":
            assert all(x_low <= x <= x_high for x in trace.x) and all(y_low <= y <= y_high for y in trace.y)


def test_breast_cancer_panels_say_what_each_domain_holds_at_the_gap():
    """Gap 0 is a random split: no "smoother → rougher" there; gap 1 is the split by smoothness."""
    titles = {
        gap: [
            a.text
            for a in logistic.samples_figure(Config(scenario="breast_cancer", gap=gap)).layout.annotations
        ]
        for gap in (0.0, 0.5, 1.0)
    }
    assert titles[0.0][0].startswith("Source: a random half of the tumours")
    assert titles[0.0][1].startswith("Target: the other half")
    assert titles[0.5][0].startswith("Source: about 75% smoother tumours")
    assert titles[1.0][1].startswith("Target: rougher tumours")


@pytest.mark.parametrize("scenario", ["synthetic", "breast_cancer"])
def test_model_figure_draws_one_boundary_per_strategy(scenario):
    result = run(Config(scenario=scenario))
    fig = logistic.model_figure(result)
    lines = [t for t in fig.data if t.mode == "lines" and t.name != "true target boundary"]
    assert len(lines) == len(result.strategies)
    # the right answer is drawn too where it is known (synthetic), so a student sees which line is right
    truth = [t for t in fig.data if t.name == "true target boundary"]
    assert len(truth) == (scenario == "synthetic")
    if truth:
        target = result.extras["true_boundaries"]["target"]
        ends = np.column_stack([truth[0].x, truth[0].y])
        np.testing.assert_allclose(ends @ target["weights"] + target["bias"], 0.0, atol=1e-9)
    for line, s in zip(lines, result.strategies):
        # both end points lie on the strategy's boundary w·x + b = 0
        ends = np.column_stack([line.x, line.y])
        np.testing.assert_allclose(ends @ s.params["weights"] + s.params["bias"], 0.0, atol=1e-9)
    assert any(t.name.startswith("target labelled samples") for t in fig.data)
