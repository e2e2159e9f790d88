"""The CNN demo: the lessons its defaults must show (mean over 5 seeds), and its contracts.

Trained source models are cached by the demo (per scenario, seed and source settings), and the
sweeps below are module-scoped fixtures, so each is trained once for the whole file.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from tl_core import backbones
from tl_core.demos import cnn
from tl_core.result import RunResult
from tl_core.strategies import label

SEEDS = range(5)
FEW = (1, 2, 5)  # labels per class where transfer must beat scratch
MANY = 20  # labels per class where scratch has caught up (most of) the way


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def sim2real():
    """Default config (sim2real) at several label counts and 5 seeds, batched: {n: [results]}."""
    configs = [cnn.Config(n_target=n, seed=seed) for n in FEW + (MANY,) for seed in SEEDS]
    results = cnn.run_many(configs)
    table = {}
    for config, result in zip(configs, results, strict=True):
        table.setdefault(config.n_target, []).append(result)
    return table


def mean(results, strategy, key="target_metric"):
    return float(np.mean([getattr(r.strategy(strategy), key) for r in results]))


def gain(results, strategy):
    return mean(results, strategy) - mean(results, "scratch")


# ------------------------------------------------------------------------------------- lessons
@pytest.mark.parametrize("n_target", FEW)
@pytest.mark.slow
def test_with_few_labels_transfer_beats_scratch(sim2real, n_target):
    for strategy in ("fine_tune", "feature_extraction"):
        assert gain(sim2real[n_target], strategy) > 0.02, (strategy, n_target)


@pytest.mark.slow
def test_the_gain_shrinks_as_labels_grow(sim2real):
    for strategy in ("fine_tune", "feature_extraction"):
        gains = [gain(sim2real[n], strategy) for n in FEW + (MANY,)]
        assert gains[0] > gains[-1] + 0.05, (strategy, gains)
        assert gains[-1] < 0.05, (strategy, gains)


@pytest.mark.slow
def test_fine_tuning_forgets_the_source_and_feature_extraction_keeps_it(sim2real):
    results = [r for rs in sim2real.values() for r in rs]
    for r in results:
        assert r.strategy("feature_extraction").source_metric == r.extras["source_model_accuracy"]
    source_accuracy = float(np.mean([r.extras["source_model_accuracy"] for r in results]))
    assert mean(results, "fine_tune", "source_metric") < source_accuracy - 0.1


@pytest.fixture(scope="module")
def new_classes():
    """new_classes at few labels and 5 seeds, without and with warped source copies:
    {source_copies: {n_target: [results]}}."""
    configs = [
        cnn.Config(
            scenario="new_classes",
            n_target=n,
            seed=seed,
            source_copies=copies,
            strategies=("feature_extraction", "fine_tune"),
        )
        for copies in (0, 4)
        for n in FEW
        for seed in SEEDS
    ]
    table: dict = {}
    for config, result in zip(configs, cnn.run_many(configs), strict=True):
        table.setdefault(config.source_copies, {}).setdefault(config.n_target, []).append(result)
    return table


@pytest.mark.parametrize("n_target", FEW)
@pytest.mark.slow
def test_new_classes_is_negative_transfer_at_the_defaults(new_classes, n_target):
    """The scenario's help says so: features learned on 0-4 fit 5-9 worse than a fresh net."""
    results = new_classes[cnn.Config().source_copies][n_target]
    assert gain(results, "fine_tune") < -0.02
    assert gain(results, "feature_extraction") < -0.1


@pytest.mark.parametrize("n_target", FEW)
@pytest.mark.slow
def test_warped_source_copies_make_the_features_carry_over_better(new_classes, n_target):
    for strategy in ("fine_tune", "feature_extraction"):
        plain, warped = (mean(new_classes[c][n_target], strategy) for c in (0, 4))
        assert warped > plain + 0.03, (strategy, plain, warped)


def test_source_only_target_accuracy_falls_as_the_gap_grows():
    gaps = (0.0, 0.5, 1.0)
    configs = [
        cnn.Config(scenario="shift", gap=g, seed=s, strategies=("source_only",)) for g in gaps for s in SEEDS
    ]
    results = cnn.run_many(configs)
    by_gap = [mean(results[i * len(SEEDS) : (i + 1) * len(SEEDS)], "source_only") for i in range(len(gaps))]
    assert by_gap[0] > by_gap[1] > by_gap[2], by_gap
    assert by_gap[0] > 0.8  # gap 0: the same kind of digits, the source model reads them well


def test_lambda_zero_is_fine_tuning_and_huge_lambda_stays_at_the_source():
    plain, zero = cnn.run(cnn.Config(lam=0.0, strategies=("fine_tune", "regularized"))).strategies[1:]
    assert plain.history == zero.history
    huge = cnn.run(cnn.Config(lam=1000.0, strategies=("fine_tune", "regularized")))
    source_accuracy = huge.extras["source_model_accuracy"]
    assert huge.strategy("regularized").source_metric == pytest.approx(source_accuracy, abs=0.02)
    assert huge.strategy("fine_tune").source_metric < source_accuracy - 0.1
    # The filters barely move from the source's.
    moved = np.abs(
        np.subtract(huge.strategy("regularized").extras["filters"], huge.extras["source_filters"])
    ).max()
    assert moved < 3 * cnn.Config().lr


# ----------------------------------------------------------------------------------- contracts
def test_training_never_changes_the_source_model():
    config = cnn.Config(seed=11, epochs=3)
    model, _ = cnn.source_model(config)
    before = copy.deepcopy(model.state_dict())
    cnn.run(config)
    cnn.run_many([config])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_same_config_and_seed_give_identical_numbers():
    config = cnn.Config(seed=5, epochs=5)
    first, second = cnn.run(config).to_dict(), cnn.run(config).to_dict()
    for d in (first, second):
        d.pop("wall_time")
        for s in d["results"]:
            s.pop("wall_time")
    assert first == second


@pytest.mark.slow
def test_run_many_equals_run_one_by_one(sim2real):
    """A sweep trains all its models together, and grouped convolutions over more models may sum
    in another order, so it agrees with run to float tolerance: losses to 1e-3 relative,
    accuracies within one test digit. A sweep records only the start and the end of target
    training; run records every epoch."""
    batched = [sim2real[1][0], sim2real[5][3], sim2real[MANY][1]]
    for b in batched:
        alone = cnn.run(cnn.Config.from_dict(b.config))
        n_test = sum(map(sum, alone.strategy("scratch").extras["confusion_matrix"]))
        assert alone.names() == b.names()
        for x, y in zip(alone.strategies, b.strategies, strict=True):
            assert x.target_metric == pytest.approx(y.target_metric, abs=1.01 / n_test)
            assert x.source_metric == pytest.approx(y.source_metric, abs=0.003)
            assert x.target_loss == pytest.approx(y.target_loss, rel=1e-3)
            if x.strategy == "source_only":
                continue
            assert y.history["step"] == [0, b.config["epochs"]]
            assert len(x.history["step"]) == b.config["epochs"] + 1
            assert np.allclose(
                [x.history["target_loss"][i] for i in y.history["step"]], y.history["target_loss"], rtol=1e-3
            )


def test_run_many_equals_run_across_gaps_and_lambdas():
    configs = [
        cnn.Config(scenario="shift", gap=0.25, lam=0.1, epochs=5, strategies=("regularized", "joint")),
        cnn.Config(
            scenario="shift", gap=0.75, lam=1.0, epochs=5, seed=1, strategies=("regularized", "joint")
        ),
    ]
    many = cnn.run_many(configs, history_every=1)
    for config, batched in zip(configs, many, strict=True):
        alone = cnn.run(config)
        for x, y in zip(alone.strategies, batched.strategies, strict=True):
            assert x.strategy == y.strategy
            assert np.allclose(x.history["target_loss"], y.history["target_loss"], rtol=1e-3)
            assert np.allclose(x.history["source_metric"], y.history["source_metric"], atol=0.005)


def test_settings_a_scenario_ignores_change_nothing():
    for scenario, ignored in cnn.Config.ignored_by_scenario.items():
        base = cnn.Config(
            scenario=scenario, epochs=2, n_source=200, source_epochs=1, strategies=("fine_tune",)
        )
        expected = [s.target_metric for s in cnn.run(base).strategies]
        for name in ignored:
            spec = cnn.Config.field(name)
            changed = cnn.run(base.replace(**{name: spec.high if spec.default != spec.high else spec.low}))
            assert [s.target_metric for s in changed.strategies] == expected, (scenario, name)


def test_new_classes_get_a_new_head_and_no_source_only():
    result = cnn.run(cnn.Config(scenario="new_classes", epochs=3))
    assert "source_only" not in result.names()
    assert result.extras["source_classes"] == [0, 1, 2, 3, 4]
    assert result.extras["target_classes"] == [5, 6, 7, 8, 9]
    for s in result.strategies:
        assert np.asarray(s.extras["confusion_matrix"]).shape == (5, 5)


@pytest.mark.slow
def test_results_round_trip_through_json(sim2real):
    result = sim2real[1][0]
    text = result.to_json()
    json.loads(text)
    assert RunResult.from_json(text) == result


def test_bad_settings_are_value_errors_naming_the_field():
    with pytest.raises(ValueError, match="n_target"):
        cnn.Config(n_target=0)
    with pytest.raises(ValueError, match="scenario"):
        cnn.Config(scenario="imagenet")
    with pytest.raises(ValueError, match="gap"):
        cnn.Config(gap=1.5)


# ------------------------------------------------------------------------------------- figures
def test_samples_figure_shows_ten_source_and_ten_target_digits():
    for scenario in cnn.SCENARIOS:
        fig = cnn.samples_figure(cnn.Config(scenario=scenario))
        assert [t.type for t in fig.data] == ["heatmap"] * 20
        assert all(np.asarray(t.z).shape == (8, 8) for t in fig.data)
        names = [t.name for t in fig.data]
        assert names.count("source") == names.count("target") == 10


@pytest.mark.parametrize("scenario", cnn.SCENARIOS)
def test_samples_figure_draws_the_digits_the_source_model_learned_from(scenario, monkeypatch):
    """The page draws its samples after its run: the source digits come from the run's cache,
    not rendered or warped again (rendering thousands of printed digits took 0.2 s a page)."""
    config = cnn.Config(scenario=scenario, seed=7301, n_source=300, source_epochs=1, source_copies=1)
    _, source = cnn.source_model(config)
    made = []
    for name in ("render_printed_digits", "warp_digits"):
        real = getattr(cnn.cnn_data, name)
        monkeypatch.setattr(
            cnn.cnn_data, name, lambda *a, real=real, name=name: made.append(name) or real(*a)
        )
    fig = cnn.samples_figure(config)
    assert made == []
    drawn = np.array([t.z for t in fig.data if t.name == "source"])
    test_digits = source.x_test.cpu().numpy()[:, 0] * 16.0  # the net's ink, 0..1, as drawn (0..16)
    assert all(any(np.allclose(d, x) for x in test_digits) for d in drawn)


@pytest.mark.slow
def test_model_and_confusion_figures(sim2real):
    result = sim2real[1][0]
    fig = cnn.model_figure(result)
    names = [t.name for t in fig.data]
    assert (
        names.count("source filter")
        == names.count("after transfer")
        == names.count("change")
        == cnn.N_FILTERS
    )
    best = result.ranked()[0]  # by default the strategy the page's sentences call best
    # the change is drawn as it is, after − before, on a scale of its own: a small change shows
    changes = [t for t in fig.data if t.name == "change"]
    expected = np.asarray(best.extras.get("filters", result.extras["source_filters"])) - np.asarray(
        result.extras["source_filters"]
    )
    np.testing.assert_allclose([np.asarray(t.z) for t in changes], expected)
    assert changes[0].zmax == pytest.approx(max(np.abs(expected).max(), 1e-12))
    wrong = best.extras["misclassified"]
    assert names.count("misclassified") == len(wrong) > 0
    assert f"after {label(best.strategy).lower()}" in fig.layout.title.text
    confusion = cnn.confusion_figure(result, "scratch")
    matrix = np.asarray(confusion.data[0].z)
    assert matrix.shape == (10, 10)
    assert np.trace(matrix) / matrix.sum() == pytest.approx(result.strategy("scratch").target_metric)


@pytest.mark.slow
def test_the_model_views_sentence_says_how_far_the_best_strategy_moved_the_filters(sim2real):
    """Computed from the filters drawn: frozen ones are the source's exactly, fine-tuned ones moved."""
    for best, words in (
        ("feature_extraction", "kept the source model's first-layer filters exactly"),
        ("fine_tune", "moved the source model's first-layer filters by"),
    ):
        result = copy.deepcopy(sim2real[1][0])
        result.strategy(best).target_metric = 1.0  # make it the best on the target
        text = cnn.describe_model(result)
        assert text.startswith(f"{label(best)} {words}")
        assert f"Best on the target: {label(best).lower()} (accuracy 100%)" in text


def test_the_model_view_says_why_partial_fine_tune_and_fine_tune_can_score_alike(sim2real):
    """Where they tie, the sentence says why: the frozen blocks (the default two, conv1 and conv2)
    are a small part of the net; it says nothing of the kind when they differ."""
    result = copy.deepcopy(sim2real[2][0])
    result.strategy("partial_fine_tune").target_metric = result.strategy("fine_tune").target_metric
    text = cnn.describe_model(result)
    assert "Partial fine-tune and fine-tune score alike here" in text
    assert "freezes only conv1 and conv2, 2480 of the net's 7290 weights" in text
    result.strategy("partial_fine_tune").target_metric -= 0.05
    assert "alike" not in cnn.describe_model(result)


# ------------------------------------------------------------------------------ device, backbone
# Every device this machine has: the CPU always, a CUDA GPU where there is one (never a skip).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_a_tiny_run_on_each_device_of_this_machine(device):
    config = cnn.Config(device=device, epochs=2, n_source=200, source_epochs=1)
    result = cnn.run(config)
    assert result.extras["device"].startswith(device)
    assert all(0.0 <= s.target_metric <= 1.0 for s in result.strategies)
    assert len(cnn.run_many([config])[0].strategies) == len(result.strategies)


def test_resnet18_loads_from_a_weights_file_on_disk(tmp_path):
    from torchvision.models import resnet18

    path = tmp_path / backbones.RESNET18_FILE
    torch.save(resnet18(weights=None).state_dict(), path)
    assert backbones.resnet18_unavailable(path) is None
    features = backbones.extract_features(backbones.load_resnet18(path), torch.rand(3, 1, 8, 8))
    assert features.shape == (3, 512)
    assert cnn.imagenet_unavailable(str(path)) is None
    probe = cnn.imagenet_feature_extraction(cnn.Config(scenario="new_classes"), weights=str(path))
    assert 0.0 <= probe["target_accuracy"] <= 1.0


def test_missing_resnet18_weights_give_a_one_line_message(tmp_path):
    missing = tmp_path / "nowhere.pth"
    message = backbones.resnet18_unavailable(missing)
    assert "\n" not in message and backbones.RESNET18_URL in message and str(missing) in message
    with pytest.raises(FileNotFoundError, match="never downloads"):
        backbones.load_resnet18(missing)
    assert cnn.imagenet_unavailable(str(missing)) == message


def test_the_blocks_in_order_are_the_features_the_head_reads():
    """The engine runs the blocks itself (and only the trained ones after frozen ones)."""
    model = cnn.SmallCNN(10)
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    h = x
    for block in model.blocks.values():
        h = block(h)
    assert torch.equal(h, model.features(x)) and h.shape == (4, cnn.N_HIDDEN)


def test_progress_is_reported_during_source_training(empty_disk_cache):
    """The app stops stale work only at progress calls: a source model not trained yet (on this
    machine: its disk cache is empty) must report as it trains, not only once the target
    strategies start."""
    calls = []
    config = cnn.Config(source_epochs=3, seed=11, epochs=1, strategies=("fine_tune",))
    cnn.run(config, progress=lambda fraction, message: calls.append(message))
    source_calls = [m for m in calls if m.startswith("training the source model: epoch")]
    assert len(source_calls) >= 3
    target_calls = [i for i, m in enumerate(calls) if m.startswith("training scratch")]
    assert calls.index(source_calls[-1]) < target_calls[0]


def test_printed_digits_are_warped_as_affine_grid_and_bicubic_interpolation_would():
    """The fast sampling grid of the rendered source digits is torch's affine grid plus the
    bicubically smoothed random warp, to float rounding."""
    import torch.nn.functional as F

    from tl_core.demos import cnn_data

    generator = torch.Generator().manual_seed(0)
    theta = torch.randn(6, 2, 3, generator=generator)
    coarse = torch.randn(6, 2, 4, 4, generator=generator)
    smooth = cnn_data._bicubic_weights(4, 64)
    expected = F.interpolate(coarse, size=(64, 64), mode="bicubic", align_corners=True)
    assert torch.allclose(smooth @ coarse @ smooth.T, expected, atol=1e-5)
    affine = F.affine_grid(theta, (6, 1, 64, 64), align_corners=False)
    assert torch.allclose(cnn_data._sampling_grid(theta, 64), affine, atol=1e-5)
    warped = cnn_data._sampling_grid(theta, 64, expected.clone())
    assert torch.allclose(warped, affine + expected.permute(0, 2, 3, 1), atol=1e-5)
