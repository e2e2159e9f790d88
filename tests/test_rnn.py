"""The RNN demo (MNIST-1D): the lessons its defaults must show, and its contracts.

Lessons are checked on the mean over ten seeds that no default was tuned on (UNSEEN), at the
page's default settings and the stops of its default sweeps. Source models are cached by the
module (one per scenario, cell, shape and quality), so every test here shares them, and each
sweep is trained once (batched, rnn.run_many) for all the tests that read it. Torch runs on one
thread while this file runs: these small recurrences gain nothing from more, and a busy machine
makes two threads far slower than one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_close, one_example

from tl_core import diskcache
from tl_core.demos import get_demo, rnn, rnn_data
from tl_core.lecture import sweep_values
from tl_core.result import RunResult

UNSEEN = range(1000, 1010)  # seeds no default was tuned on (they were tuned on 0-9)
DEFAULT = rnn.Config()
FEW = DEFAULT.n_target  # labelled sequences per digit at the defaults
MANY = sweep_values(rnn, DEFAULT, "n_target")[-1]  # the largest stop of the page's sweep (50)
GAPS = sweep_values(rnn, rnn.Config(scenario="shift"), "gap")  # 0, 0.2, ..., 1
CHANCE = 1 / 5  # five target digits in new_classes
TRANSFERRING = ("source_only", "feature_extraction", "fine_tune")  # carry the source model over


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


def mean_over_seeds(results: list[RunResult], strategy: str, what: str = "target_metric") -> float:
    return float(np.mean([getattr(r.strategy(strategy), what) for r in results]))


def gain(results: list[RunResult], strategy: str) -> float:
    """Mean target accuracy of `strategy` minus scratch's, over the runs' seeds."""
    return mean_over_seeds(results, strategy) - mean_over_seeds(results, "scratch")


def by_value(configs: list[rnn.Config], field: str) -> dict:
    """The runs of `configs` (trained together) grouped by the value of `field`."""
    runs = rnn.run_many(configs)
    grouped: dict = {}
    for config, run in zip(configs, runs, strict=True):
        grouped.setdefault(getattr(config, field), []).append(run)
    return grouped


@pytest.fixture(scope="module")
def data_efficiency() -> dict[int, list[RunResult]]:
    """new_classes at the defaults, every strategy, with few and many labels, unseen seeds."""
    return by_value([DEFAULT.replace(n_target=n, seed=s) for n in (FEW, MANY) for s in UNSEEN], "n_target")


@pytest.fixture(scope="module")
def gap_sweep() -> dict[float, list[RunResult]]:
    """shift at the defaults across the stops of the page's gap sweep, unseen seeds."""
    shift = rnn.Config(scenario="shift", strategies=TRANSFERRING)
    return by_value([shift.replace(gap=g, seed=s) for g in GAPS for s in UNSEEN], "gap")


# ------------------------------------------------------------------------- a fair baseline
def test_scratch_learns_from_few_labels_well_above_chance(data_efficiency):
    """Scratch is what a practitioner would train on 25 sequences, not an untrained baseline:
    at the default 5 labels per digit it is at least 10 points above chance."""
    assert mean_over_seeds(data_efficiency[FEW], "scratch") >= CHANCE + 0.10


def test_scratch_learns_the_target_with_many_labels(data_efficiency):
    assert mean_over_seeds(data_efficiency[MANY], "scratch") >= 0.85


@pytest.mark.parametrize("scenario", rnn.SCENARIOS)
def test_scratch_has_levelled_off_at_the_defaults(scenario):
    """Every gain is measured against scratch, so at the default schedule it must have levelled
    off, not been stopped early (a gain shown would then be partly a baseline cut short): twice
    as many passes move its mean target accuracy by less than 2 points."""
    default = rnn.Config(scenario=scenario, strategies=("scratch",))
    doubled = default.replace(scratch_epochs=2 * default.scratch_epochs)
    runs = by_value([c.replace(seed=s) for c in (default, doubled) for s in UNSEEN], "scratch_epochs")
    at_default, longer = (mean_over_seeds(runs[c.scratch_epochs], "scratch") for c in (default, doubled))
    assert abs(longer - at_default) < 0.02, (at_default, longer)


# ------------------------------------------------------------------------------------- lessons
@pytest.mark.parametrize("strategy", ["fine_tune", "feature_extraction"])
@pytest.mark.slow
def test_with_few_labels_transfer_beats_scratch(data_efficiency, strategy):
    assert gain(data_efficiency[FEW], strategy) > 0.05


@pytest.mark.parametrize("strategy", ["fine_tune", "feature_extraction"])
@pytest.mark.slow
def test_the_gain_shrinks_as_labels_grow(data_efficiency, strategy):
    assert gain(data_efficiency[MANY], strategy) < gain(data_efficiency[FEW], strategy) - 0.05
    # ...because scratch catches up, not because transfer got worse
    assert (
        mean_over_seeds(data_efficiency[MANY], "scratch")
        > mean_over_seeds(data_efficiency[FEW], "scratch") + 0.3
    )


@pytest.mark.slow
def test_fine_tuning_forgets_the_source_while_feature_extraction_keeps_it(data_efficiency):
    results = data_efficiency[FEW]
    source_accuracy = rnn.source_accuracy(DEFAULT)
    assert source_accuracy > 0.9
    for r in results:  # the frozen features and the source head are untouched
        kept = r.strategy("feature_extraction").source_metric  # measured beside the target: rounding
        assert kept == pytest.approx(source_accuracy, abs=one_example(r.extras["n_source_test"]))
        # the page's headline measures forgetting against it ("vs the source model")
        assert r.extras["source_model_metric"] == source_accuracy
    assert mean_over_seeds(results, "fine_tune", "source_metric") < source_accuracy - 0.1
    # ...while fine-tuning is the better target model
    assert mean_over_seeds(results, "fine_tune") > mean_over_seeds(results, "scratch")


def test_a_far_enough_target_makes_transfer_hurt(gap_sweep):
    """At the gap slider's top (sequences drawn four times as large) carrying the source model
    over is worse than training from scratch, for some transferring strategy; at gap 0 every
    one of them is far better."""
    assert min(gain(gap_sweep[1.0], s) for s in TRANSFERRING) < -0.03
    assert min(gain(gap_sweep[0.0], s) for s in TRANSFERRING) > 0.3


@pytest.mark.parametrize("strategy", ["source_only", "feature_extraction"])
def test_the_gap_sweep_crosses_zero(gap_sweep, strategy):
    """The gain falls as the gap grows and turns negative on the way: the curve the page's gap
    sweep draws crosses its zero line (ups within a few points of noise allowed)."""
    gains = [gain(gap_sweep[g], strategy) for g in GAPS]
    assert gains[0] > 0 > gains[-1]
    assert all(later < earlier + 0.03 for earlier, later in zip(gains, gains[1:]))


def test_scratch_learns_a_far_target_as_well_as_a_near_one(gap_sweep):
    """The gap makes the target larger, not harder to learn: what transfer loses with it is
    the source model's fit, not the data's."""
    near, far = (mean_over_seeds(gap_sweep[g], "scratch") for g in (0.0, 1.0))
    assert far > near - 0.05 and far > 0.1 + 0.1  # ten digits: chance is 10%


def test_new_classes_ignores_the_gap_which_its_page_greys_out():
    assert rnn.Config(scenario="new_classes").ignored_fields() == ("gap",)
    runs = [
        rnn.run(
            rnn.Config(
                scenario="new_classes",
                gap=gap,
                epochs=1,
                scratch_epochs=1,
                strategies=("scratch", "feature_extraction"),
            )
        )
        for gap in (0.0, 1.0)
    ]
    assert [s.history for s in runs[0].strategies] == [s.history for s in runs[1].strategies]


def test_in_shift_source_only_falls_as_the_gap_grows():
    accuracy = []
    for gap in (0.0, 0.5, 1.0):
        r = rnn.run(rnn.Config(scenario="shift", gap=gap, scratch_epochs=1, strategies=("source_only",)))
        accuracy.append(r.strategy("source_only").target_metric)
    assert accuracy[0] > 0.85, "at gap 0 the target is the source's own distribution"
    assert accuracy[0] > accuracy[1] + 0.05 > accuracy[2] + 0.10


def test_source_only_runs_only_where_the_classes_match():
    shift = rnn.run(rnn.Config(scenario="shift", scratch_epochs=1, strategies=("source_only",)))
    new_classes = rnn.run(rnn.Config(scratch_epochs=1, strategies=("source_only",)))
    assert shift.names() == ["scratch", "source_only"]
    assert new_classes.names() == ["scratch"]


def test_lambda_runs_from_fine_tuning_to_the_source_model():
    """λ = 0 is plain fine-tuning; a large λ keeps the transferred weights where the source left
    them, and with them the source accuracy, as feature extraction does."""

    def regularized(lam):
        strategies = ("feature_extraction", "fine_tune", "regularized")
        r = rnn.run(rnn.Config(lam=lam, scratch_epochs=1, strategies=strategies))
        return r, r.strategy("regularized")

    r, at_zero = regularized(0.0)
    assert at_zero.target_metric == r.strategy("fine_tune").target_metric
    assert at_zero.source_metric == r.strategy("fine_tune").source_metric
    r, strong = regularized(100.0)
    assert strong.source_metric > at_zero.source_metric + 0.1
    assert strong.source_metric == pytest.approx(r.strategy("feature_extraction").source_metric, abs=0.02)


# ------------------------------------------------------------------------- the source model
@pytest.mark.slow
def test_full_quality_gru_passes_the_published_accuracy_on_ten_digits():
    """Greydanus (2020) reports 91% for a GRU on MNIST-1D; the full preset must reach 90%."""
    config = rnn.Config(scenario="shift", quality="full")
    source, _ = rnn.domains(config, "cpu")
    assert source.classes == tuple(range(10))
    assert len(source.y_test) == 1000  # the published test split
    assert rnn.source_accuracy(config) >= 0.90


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
@pytest.mark.slow
def test_every_cell_runs(cell):
    r = rnn.run(rnn.Config(cell=cell, epochs=2, scratch_epochs=2, strategies=("fine_tune",)))
    assert r.names() == ["scratch", "fine_tune"]
    for s in r.strategies:
        assert 0.0 <= s.target_metric <= 1.0 and np.isfinite(s.target_loss)
        assert s.history["step"] == [0, 1, 2]


def test_the_recurrence_written_out_equals_torchs_kernels():
    """The batched path (vmap) runs the step-by-step loop; it must match nn.GRU/LSTM/RNN."""
    from torch.func import functional_call, vmap

    from tl_core.demos.rnn_model import SequenceClassifier

    x = torch.randn(2, 8, 40, generator=torch.Generator().manual_seed(0))
    for cell in ("rnn", "gru", "lstm"):
        models = [SequenceClassifier(5, cell, hidden=16, layers=2) for _ in range(2)]
        fused = torch.stack([m(xi) for m, xi in zip(models, x)])
        params = {
            n: torch.stack([dict(m.named_parameters())[n] for m in models])
            for n, _ in models[0].named_parameters()
        }
        looped = vmap(lambda p, xi: functional_call(models[0], p, (xi,)))(params, x)  # noqa: B023
        assert torch.allclose(fused, looped, atol=1e-5), cell


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_evaluating_gives_what_torchs_kernels_give(cell):
    """Without autograd (every measurement) the layers run their own evaluation loop: scores,
    features and every hidden state must be torch's, to float rounding, and training unchanged."""
    from tl_core.demos.rnn_model import SequenceClassifier

    model = SequenceClassifier(5, cell, hidden=16, layers=2)
    x = torch.randn(300, 40, generator=torch.Generator().manual_seed(0))
    trained = model(x), model.hidden_states(x)  # with autograd: torch's fused kernels
    assert all(t.requires_grad for t in trained)
    for mode in (torch.inference_mode, torch.no_grad):
        with mode():
            evaluated = model(x), model.hidden_states(x)
        for a, b in zip(trained, evaluated, strict=True):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5), (cell, mode)


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_stacked_models_learn_what_each_would_learn_alone(cell):
    """Under vmap the recurrence runs all models' layers at once (its own vmap rule); each
    model's gradient must still be the one torch's kernels give it alone, and torch.func.grad
    of a single model (no vmap) must give it too."""
    from torch.func import functional_call, grad, vmap

    from tl_core.demos.rnn_model import SequenceClassifier

    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(3, 8, 40, generator=gen), torch.randint(0, 5, (3, 8), generator=gen)
    models = [SequenceClassifier(5, cell, hidden=16, layers=2) for _ in range(3)]
    names = [n for n, _ in models[0].named_parameters()]

    def loss(params, xi, yi):
        return F.cross_entropy(functional_call(models[0], params, (xi,)), yi)

    alone = [
        torch.autograd.grad(F.cross_entropy(m(xi), yi), list(m.parameters()))
        for m, xi, yi in zip(models, x, y)
    ]
    stacked = {n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]) for n in names}
    together = vmap(grad(loss))(stacked, x, y)
    single = grad(loss)({n: t[0] for n, t in stacked.items()}, x[0], y[0])
    for i, name in enumerate(names):
        expected = torch.stack([g[i] for g in alone])
        assert torch.allclose(together[name], expected, atol=1e-5), (cell, name)
        assert torch.allclose(single[name], expected[0], atol=1e-5), (cell, name)


@pytest.mark.parametrize("layers", [1, 2])
def test_the_blocks_in_order_are_the_features_the_head_reads(layers):
    """The engine runs the blocks itself (and only the trained ones after frozen ones): each
    must read the output of the one before, ending in the mean state h̄ through the dense layer."""
    from tl_core.demos.rnn_model import SequenceClassifier

    model = SequenceClassifier(5, cell="lstm", hidden=8, layers=layers)
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(0))
    h = x
    for block in model.blocks.values():
        h = block(h)
    assert torch.equal(h, model.features(x)) and h.shape == (3, 8)
    # the dense layer reads the mean of the hidden-state paths the model view draws
    assert torch.allclose(model.blocks["dense"](model.hidden_states(x).mean(1)), h, atol=1e-6)


@pytest.mark.parametrize("scenario", rnn.SCENARIOS)
def test_a_strategys_numbers_do_not_depend_on_joint_training_beside_it(scenario):
    """Ticking joint training (one more model trained beside the others) must not move the
    other strategies' numbers."""

    def histories(strategies):
        r = rnn.run(rnn.Config(scenario=scenario, epochs=3, scratch_epochs=3, strategies=strategies))
        return {s.strategy: s.history for s in r.strategies}

    others = ("fine_tune", "regularized")
    together = histories(others + ("joint",))
    alone = histories(others)
    assert {s: together[s] for s in alone} == alone


# ---------------------------------------------------------------------------------- contracts
def small(**fields) -> rnn.Config:
    fields = {"epochs": 3, "scratch_epochs": 5, "strategies": ("feature_extraction", "fine_tune"), **fields}
    return rnn.Config(**fields)


def test_same_config_and_seed_give_identical_numbers():
    first, second = rnn.run(small(seed=3)), rnn.run(small(seed=3))
    for a, b in zip(first.strategies, second.strategies, strict=True):
        assert (a.source_metric, a.target_metric, a.target_loss, a.history) == (
            b.source_metric,
            b.target_metric,
            b.target_loss,
            b.history,
        )
    other = rnn.run(small(seed=4))
    assert other.strategy("scratch").history != first.strategy("scratch").history


@pytest.mark.slow
def test_a_run_gives_the_same_numbers_on_one_core_or_two(monkeypatch, tmp_path):
    """A shared link must give a student's laptop the numbers the server showed: every figure
    of a run (the source model, histories, source only, confusion matrix, mistakes, hidden
    paths) is the same whether torch may use one thread or two."""

    def numbers(threads: int) -> dict:
        torch.set_num_threads(threads)  # the one_torch_thread fixture puts it back
        # The source model is trained anew, on `threads` too: in memory and on disk, no copy.
        monkeypatch.setenv(diskcache.ENV, str(tmp_path / f"cache-{threads}"))
        rnn._SOURCES.cache_clear()
        rnn._source_accuracy.cache_clear()
        data = rnn.run(rnn.Config(scenario="shift", epochs=2, scratch_epochs=2)).to_dict()
        data.pop("wall_time")
        for s in data["results"]:
            s.pop("wall_time")
        return data

    assert numbers(2) == numbers(1)


@pytest.mark.parametrize(
    "field, value",
    [
        ("gap", 1.7),
        ("n_target", 0),
        ("cell", "transformer"),
        ("scenario", "cats"),
        ("hidden", 1000),
        ("lr", -1.0),
        ("quality", "best"),
        ("strategies", ("coral",)),
    ],
)
def test_bad_values_raise_value_errors_naming_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        rnn.Config(**{field: value})


def test_partial_fine_tune_cannot_freeze_more_layers_than_there_are():
    with pytest.raises(ValueError, match="partial_blocks must be at most layers"):
        rnn.Config(layers=1, partial_blocks=2)


def test_result_round_trips_through_json():
    result = rnn.run(small())
    again = RunResult.from_json(result.to_json())
    assert again.to_dict() == json.loads(result.to_json())
    assert again.strategy("fine_tune").history == result.strategy("fine_tune").history


def test_result_carries_history_confusion_and_hidden_paths():
    result = rnn.run(small(n_target=2))
    fine_tune = result.strategy("fine_tune")
    assert set(fine_tune.history) == {"step", "source_metric", "target_metric", "source_loss", "target_loss"}
    assert len(fine_tune.history["target_metric"]) == 4
    matrix = np.array(fine_tune.extras["confusion_matrix"])
    assert matrix.shape == (5, 5) and matrix.sum() == result.extras["n_target_test"]
    assert np.trace(matrix) / matrix.sum() == pytest.approx(fine_tune.target_metric)
    for example in fine_tune.extras["misclassified"]:
        assert example["true"] != example["predicted"] and len(example["input"]) == 40
    paths = result.extras["hidden_paths"]
    assert [p["digit"] for p in paths["target"]] == [5, 6, 7, 8, 9]
    assert all(np.array(p["path"]).shape == (rnn_data.SEQUENCE_LENGTH, 2) for p in paths["target"])
    assert result.extras["n_target_train"] == 10


def test_the_history_says_what_it_measured_and_its_chart_says_so_too():
    """The curves are measured on 250 test sequences of each domain, the same every epoch, and
    the last epoch on all of them (the numbers every other view shows)."""
    from tl_core import plots

    result = rnn.run(small())
    rows = result.extras["history_test_rows"]
    assert rows == {"source": rnn.HISTORY_ROWS, "target": rnn.HISTORY_ROWS}
    words = result.extras["history_measured"]
    for number in (
        rows["source"],
        result.extras["n_source_test"],
        rows["target"],
        result.extras["n_target_test"],
    ):
        assert str(number) in words
    assert plots.training_curves(result).layout.title.subtitle.text == words


def test_a_sweep_point_is_the_single_run_of_its_config_and_seed():
    """rnn.run_many trains a sweep's models together, and each gives the numbers rnn.run gives
    its config alone: the page's headline and its sweep agree. To rounding (conftest.py): a
    sweep's batched matrix products stack more models, and some processors then sum in another
    order. A sweep's history holds only the start and the end (scratch's end is its own,
    scratch_epochs)."""
    configs = [
        small(
            n_target=n,
            seed=s,
            device="cpu",
            strategies=("feature_extraction", "partial_fine_tune", "fine_tune", "regularized", "joint"),
        )
        for n in (1, 3)
        for s in (0, 1)
    ]
    for config, many in zip(configs, rnn.run_many(configs), strict=True):
        one = rnn.run(config)
        assert many.names() == one.names()
        for a, b in zip(one.strategies, many.strategies, strict=True):
            ends = [0, config.scratch_epochs if a.strategy == "scratch" else config.epochs]
            assert b.history["step"] == ends == a.history["step"][:: len(a.history["step"]) - 1]
        assert_close(one, many, (one.extras["n_source_test"], one.extras["n_target_test"]))


def test_the_demo_is_registered():
    assert get_demo("rnn") is rnn


# ------------------------------------------------------------------------------------ figures
def test_samples_figure_shows_one_sequence_per_digit_on_each_side():
    fig = rnn.samples_figure(rnn.Config())
    assert [t.name for t in fig.data] == [f"digit {d}" for d in range(10)]
    assert {t.xaxis for t in fig.data[:5]} != {t.xaxis for t in fig.data[5:]}
    assert all(len(t.y) == rnn_data.SEQUENCE_LENGTH for t in fig.data)
    shift = rnn.samples_figure(rnn.Config(scenario="shift", gap=1.0))
    assert len(shift.data) == 20  # each digit on both sides, listed once in the legend
    assert [t.name for t in shift.data if t.showlegend is not False] == [f"digit {d}" for d in range(10)]
    assert {t.legendgroup for t in shift.data[:10]} == {t.legendgroup for t in shift.data[10:]}


def test_model_figure_draws_each_hidden_path_and_the_mistakes():
    result = rnn.run(small())
    fig = rnn.model_figure(result)
    paths = result.extras["hidden_paths"]
    drawn = [t for t in fig.data if t.mode == "lines+markers"]
    assert len(drawn) == len(paths["source"]) + len(paths["target"]) == 10
    assert all(len(t.x) == rnn_data.SEQUENCE_LENGTH for t in drawn)
    means = [t for t in fig.data if t.name.startswith("mean state")]  # what the dense layer reads
    for path, mean in zip(drawn, means, strict=True):
        assert (mean.x[0], mean.y[0]) == pytest.approx((np.mean(path.x), np.mean(path.y)))
    best = result.ranked()[0]  # the strategy the page's sentences call best
    mistakes = [t for t in fig.data if "→" in t.name]
    assert len(mistakes) == min(4, len(best.extras["misclassified"])) > 0
    axis = fig.layout.yaxis3  # each row named on the axis, at the level its sequence is drawn around
    assert list(axis.ticktext) == [t.name for t in mistakes]
    shown = best.extras["misclassified"][: len(mistakes)]
    for trace, example, level in zip(mistakes, shown, axis.tickvals, strict=True):
        true, predicted = (int(d) for d in trace.name.split(" → "))
        assert (true - 5, predicted - 5) == (example["true"], example["predicted"])
        assert np.asarray(trace.y) - level == pytest.approx(example["input"])
    assert not [a for a in fig.layout.annotations if "→" in a.text], "no label drawn over a sequence"
    words = rnn.describe_model(result)
    fe = result.strategy("feature_extraction").target_metric
    assert f"feature extraction reaches {fe:.0%}" in words
    assert f"the source model {result.extras['source_model_metric']:.0%}" in words
    best.extras["misclassified"] = []  # a perfect model: the panel says so rather than stay blank
    fig = rnn.model_figure(result)
    [note] = [a for a in fig.layout.annotations if a.text == "no test sequence misclassified"]
    low, high = fig.layout.xaxis3.domain  # in the mistakes panel, whatever plotly.js draws there
    assert note.xref == "paper" and low < note.x < high


def test_confusion_figure_shows_the_chosen_strategy():
    result = rnn.run(small())
    fig = rnn.confusion_figure(result, "fine_tune")
    assert np.array_equal(fig.data[0].z, result.strategy("fine_tune").extras["confusion_matrix"])
    assert list(fig.data[0].x) == ["5", "6", "7", "8", "9"]


# --------------------------------------------------------------------------------------- data
def test_data_is_generated_offline_and_cached():
    first = rnn_data.mnist1d(0.0, 5000)
    assert rnn_data.mnist1d(0.0, 5000) is first
    train, test = first
    assert train.x.shape == (4000, 40) and test.x.shape == (1000, 40)
    assert not train.x.flags.writeable
    state = np.random.get_state()[1].copy()
    rnn_data.mnist1d(0.3, 500)  # the generator seeds numpy's global state: it is put back
    assert (np.random.get_state()[1] == state).all()


def test_the_gap_draws_the_shift_target_larger_and_leaves_the_source_alone():
    """gap g: the same target sequences, 1 + 3g times as large (four times at the far end)."""
    near, far = (rnn_data.load_domains("shift", g, rnn.NUM_SAMPLES, rnn.TARGET_SAMPLES) for g in (0.0, 1.0))
    np.testing.assert_allclose(far.target_pool.x, 4 * near.target_pool.x, rtol=1e-6)
    np.testing.assert_allclose(far.target_test.x, 4 * near.target_test.x, rtol=1e-6)
    assert np.array_equal(far.target_test.y, near.target_test.y)
    # one source set for every gap (equal, not necessarily one object: another test may empty the cache)
    np.testing.assert_array_equal(far.source_train.x, near.source_train.x)
    np.testing.assert_array_equal(far.source_train.y, near.source_train.y)
    assert (
        "4x as large" in rnn.samples_figure(rnn.Config(scenario="shift", gap=1.0)).layout.annotations[1].text
    )


def test_labelled_subset_draws_n_per_class():
    pool = rnn_data.load_domains("new_classes", 0.0, rnn.NUM_SAMPLES, rnn.TARGET_SAMPLES).target_pool
    rows = rnn_data.labelled_subset(pool, 3, np.random.default_rng(0))
    assert np.bincount(pool.y[rows]).tolist() == [3] * 5


def test_a_gated_cells_transferred_models_are_clipped_and_its_scratch_is_not():
    """A gated cell carried over at lr 0.02 now and then leaps off its minimum late in training
    (a fine-tuned GRU fell from 0.95 to 0.36 when torch summed on two threads), so the models
    that start from the source are clipped; scratch, the baseline, keeps its better unclipped
    schedule. The plain RNN clips both: its gradient explodes from fresh weights too."""
    for cell, scratch_clip in (("gru", None), ("lstm", None), ("rnn", 1.0)):
        settings = rnn.transfer_settings(rnn.Config(cell=cell), n_classes=5)
        assert settings.of("scratch").clip_grad_norm == scratch_clip
        for strategy in ("fine_tune", "regularized", "joint"):
            assert settings.of(strategy).clip_grad_norm == 1.0


@pytest.mark.slow
def test_plain_rnn_learns_the_source_with_gradient_clipping():
    """Clipped at norm 1, the tanh RNN trained long (the full preset, 100 epochs) learns digits
    0-4 well; in the lecture's fast preset, at its small steps, far less than the gated GRU does
    in a quarter of the epochs (the cell's help says both)."""
    assert rnn.PRESETS["full", "rnn"].clip_grad_norm is not None
    assert rnn.source_accuracy(rnn.Config(cell="rnn", quality="full")) > 0.9
    assert rnn.source_accuracy(rnn.Config(cell="rnn")) < rnn.source_accuracy(rnn.Config(cell="gru")) - 0.15


def test_progress_is_reported_during_source_training(empty_disk_cache):
    """The app stops stale work only at progress calls: a source model not trained yet (on this
    machine: its disk cache is empty) must report as it trains, not only once the target
    strategies start."""
    calls = []
    rnn.run(
        rnn.Config(hidden=6, epochs=1, scratch_epochs=1, strategies=("fine_tune",)),
        progress=lambda fraction, message: calls.append(message),
    )
    source_calls = [m for m in calls if m.startswith("training the source model: epoch")]
    assert len(source_calls) >= rnn.PRESETS["fast", "gru"].epochs
    target_calls = [i for i, m in enumerate(calls) if m in ("training scratch", "training fine-tune")]
    assert calls.index(source_calls[-1]) < target_calls[0]
