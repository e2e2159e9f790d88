"""The shared PyTorch transfer engine, on a tiny synthetic problem (fast, CPU).

Three Gaussian blobs in 4-D are the source; the target moves them, and the `new classes` target
uses its own blobs. The model is a two-block MLP following the engine's convention.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import assert_close, one_example
from torch import nn

from tl_core import diskcache, engine
from tl_core import subsets as tl_subsets
from tl_core.engine import batched, measure, runs
from tl_core.result import RunResult

ALL = (
    "scratch",
    "source_only",
    "feature_extraction",
    "partial_fine_tune",
    "fine_tune",
    "regularized",
    "joint",
)


class TinyNet(nn.Module):
    def __init__(self, n_classes: int):
        super().__init__()
        self.blocks = nn.ModuleDict(
            {
                "a": nn.Sequential(nn.Linear(4, 16), nn.ReLU()),
                "b": nn.Sequential(nn.Linear(16, 16), nn.ReLU()),
            }
        )
        self.head = nn.Linear(16, n_classes)

    def features(self, x):
        for block in self.blocks.values():
            x = block(x)
        return x

    def forward(self, x):
        return self.head(self.features(x))


def blobs(centres: np.ndarray, n_per_class: int, seed: int, classes=(0, 1, 2)) -> engine.Domain:
    rng = np.random.default_rng(seed)

    def draw(n):
        y = np.repeat(np.arange(len(centres)), n)
        return centres[y] + rng.normal(size=(len(y), 4)), y

    x_train, y_train = draw(n_per_class)
    x_test, y_test = draw(50)
    return engine.Domain.from_arrays(x_train, y_train, x_test, y_test, classes)


CENTRES = np.array([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
SETTINGS = engine.TransferSettings(epochs=5, lr=1e-2, batch_size=16, lam=0.5)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py


@pytest.fixture(scope="module")
def source():
    return blobs(CENTRES, 100, seed=0)


@pytest.fixture(scope="module")
def target():
    return blobs(CENTRES + np.array([0, 0, 0, 1.5]), 4, seed=1)


@pytest.fixture(scope="module")
def source_model(source):
    return engine.train_source(TinyNet, source, engine.SourceSettings(epochs=5, lr=1e-2), seed=0)


def run(source_model, source, target, strategies=ALL, settings=SETTINGS, seed=0, inspect=None):
    return engine.run_strategies(
        strategies, source_model, TinyNet, source, target, settings, seed, inspect=inspect
    )


def one_at_a_time(job):
    """The reference: each model trained alone with torch.optim.Adam."""
    return engine.run_many([job], batched=False)[0]


TEST_EXAMPLES = 150  # in each domain's test set: 50 per class
UNBATCHED_LOSS_RTOL = 1e-4  # a hand-written Adam against torch.optim.Adam, besides vmap


def parameters(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_source_model_learns_the_source(source_model, source):
    assert engine.evaluate(source_model, source)["accuracy"] > 0.9


def test_no_strategy_changes_the_source_model(source_model, source, target):
    before = copy.deepcopy(source_model.state_dict())
    run(source_model, source, target)
    engine.run_many([engine.TransferJob(ALL, source_model, TinyNet, source, target, SETTINGS, 0)])
    after = source_model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_feature_extraction_keeps_the_source_accuracy_exactly(source_model, source, target):
    result = run(source_model, source, target, ("feature_extraction",))[0]
    source_accuracy = engine.evaluate(source_model, source)["accuracy"]
    # Measured in one pass with the target test set, so to rounding (conftest.py)...
    assert result.source_metric == pytest.approx(source_accuracy, abs=one_example(TEST_EXAMPLES))
    assert set(result.history["source_metric"]) == {result.source_metric}  # ...and never moves


def test_history_has_one_entry_per_epoch_and_ends_at_the_final_metrics(source_model, source, target):
    for result in run(source_model, source, target):
        if result.strategy == "source_only":
            assert result.history == {}
            continue
        assert result.history["step"] == list(range(SETTINGS.epochs + 1))
        for key in ("source_metric", "target_metric", "source_loss", "target_loss"):
            assert len(result.history[key]) == SETTINGS.epochs + 1
            assert result.history[key][-1] == getattr(result, key)


def test_history_every_measures_fewer_epochs_and_keeps_the_final_metrics(source_model, source, target):
    every_epoch = {r.strategy: r for r in run(source_model, source, target)}
    sparse = run(source_model, source, target, settings=replace(SETTINGS, history_every=2))
    for r in sparse:
        if r.strategy == "source_only":
            continue
        full = every_epoch[r.strategy]
        assert r.history["step"] == [0, 2, 4, 5]  # the true epochs, the last one always
        for key in ("source_metric", "target_metric", "source_loss", "target_loss"):
            assert r.history[key] == [full.history[key][step] for step in r.history["step"]]
            assert getattr(r, key) == getattr(full, key)
        assert r.extras == full.extras


def test_run_many_measuring_only_the_ends_gives_the_final_metrics_of_run(source_model, source, target):
    settings = replace(SETTINGS, history_every=SETTINGS.epochs)
    batched = engine.run_many([engine.TransferJob(ALL, source_model, TinyNet, source, target, settings, 0)])[
        0
    ]
    for a, b in zip(run(source_model, source, target), batched, strict=True):
        assert a.strategy == b.strategy
        if a.strategy != "source_only":
            assert b.history["step"] == [0, SETTINGS.epochs]
        for key in ("source_metric", "target_metric", "source_loss", "target_loss"):
            assert getattr(a, key) == getattr(b, key)


def test_history_every_must_be_a_positive_whole_number():
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="history_every"):
            engine.TransferSettings(history_every=bad)


@pytest.mark.parametrize("field", ["history_rows", "scratch_epochs"])
def test_history_rows_and_scratch_epochs_are_none_or_positive_whole_numbers(field):
    assert getattr(engine.TransferSettings(**{field: None}), field) is None
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match=f"^{field} must be None"):
            engine.TransferSettings(**{field: bad})


def test_scratch_trains_its_own_epochs_and_the_others_theirs(source_model, source, target):
    """Fresh weights may be given more epochs than transferred ones; the history says so, with
    as many measured points as the others' (every second epoch, here), its last one the end."""
    settings = replace(SETTINGS, scratch_epochs=2 * SETTINGS.epochs)
    results = {r.strategy: r for r in run(source_model, source, target, settings=settings)}
    assert results["scratch"].history["step"] == [0, 2, 4, 6, 8, 10]
    assert results["fine_tune"].history["step"] == list(range(SETTINGS.epochs + 1))
    before = {r.strategy: r for r in run(source_model, source, target)}
    assert results["scratch"].target_loss != before["scratch"].target_loss  # it trained longer
    for name in ("feature_extraction", "fine_tune", "regularized", "joint"):
        assert results[name].history == before[name].history


def test_a_history_on_test_subsets_keeps_the_final_metrics(source_model, source, target):
    """With history_rows the epochs before the last are measured on a fixed, stratified subset
    of each test set (cheaper); the last epoch, the final metrics and the extras on every row:
    exactly the numbers of measuring everything, since measuring never changes training."""
    everything = run(source_model, source, target)
    subsets = run(source_model, source, target, settings=replace(SETTINGS, history_rows=30))
    rows = tl_subsets.stratified_rows(target.y_test.numpy(), 30)
    assert len(rows) == 30 and np.bincount(target.y_test.numpy()[rows]).tolist() == [10, 10, 10]
    for a, b in zip(everything, subsets, strict=True):
        assert b.extras == a.extras
        if a.strategy == "source_only":
            continue
        for key in ("source_metric", "target_metric", "source_loss", "target_loss"):
            assert getattr(b, key) == getattr(a, key) == b.history[key][-1]
        assert b.history["step"] == a.history["step"]
    # the earlier epochs read only the subset: every accuracy is a whole number of its 30 rows
    fine_tune, measured_fully = (
        next(r for r in rs if r.strategy == "fine_tune") for rs in (subsets, everything)
    )
    assert all(float(30 * v).is_integer() for v in fine_tune.history["target_metric"][:-1])
    assert fine_tune.history["target_loss"][:-1] != measured_fully.history["target_loss"][:-1]


def test_one_at_a_time_agrees_with_scratch_epochs_and_history_subsets(source_model, source, target):
    settings = replace(SETTINGS, scratch_epochs=7, history_rows=30)
    job = engine.TransferJob(ALL, source_model, TinyNet, source, target, settings, 0)
    assert_close(one_at_a_time(job), engine.run_many([job])[0], TEST_EXAMPLES, UNBATCHED_LOSS_RTOL)


def test_l2sp_with_zero_lambda_is_exactly_fine_tuning(source_model, source, target):
    settings = engine.TransferSettings(epochs=5, lr=1e-2, batch_size=16, lam=0.0)
    fine_tune, regularized = run(source_model, source, target, ("fine_tune", "regularized"), settings)
    assert fine_tune.history == regularized.history


def test_l2sp_with_huge_lambda_keeps_the_weights_at_the_source(source_model, source, target):
    def inspect(model):
        moved = parameters(model.blocks) - parameters(source_model.blocks)
        return {"largest_move": float(moved.abs().max())}

    largest_move = {}
    for lam in (0.0, 1e4):
        settings = engine.TransferSettings(epochs=40, lr=1e-2, batch_size=16, lam=lam)
        largest_move[lam] = run(source_model, source, target, ("regularized",), settings, inspect=inspect)[
            0
        ].extras["largest_move"]
    # Adam's steps are about lr in size, so a huge pull keeps every weight within a few lr of
    # its source value, while plain fine-tuning (λ = 0) walks much further.
    assert largest_move[1e4] < 3 * settings.lr
    assert largest_move[0.0] > 10 * largest_move[1e4]


def test_partial_fine_tune_freezes_the_first_k_blocks(source_model, source, target):
    def inspect(model):
        return {
            name: bool(torch.equal(parameters(model.blocks[name]), parameters(source_model.blocks[name])))
            for name in ("a", "b")
        }

    for k, frozen in ((1, {"a": True, "b": False}), (2, {"a": True, "b": True})):
        settings = engine.TransferSettings(epochs=3, lr=1e-2, batch_size=16, partial_blocks=k)
        result = run(source_model, source, target, ("partial_fine_tune",), settings, inspect=inspect)[0]
        assert {name: result.extras[name] for name in ("a", "b")} == frozen


def test_backbone_lr_scale_zero_fine_tunes_the_head_only(source_model, source, target):
    def inspect(model):
        def same(part):
            now, before = getattr(model, part), getattr(source_model, part)
            return bool(torch.equal(parameters(now), parameters(before)))

        return {"blocks_unchanged": same("blocks"), "head_unchanged": same("head")}

    settings = engine.TransferSettings(epochs=3, lr=1e-2, batch_size=16, backbone_lr_scale=0.0)
    extras = run(source_model, source, target, ("fine_tune",), settings, inspect=inspect)[0].extras
    assert extras["blocks_unchanged"] and not extras["head_unchanged"]


def test_new_classes_leave_out_source_only_and_train_a_new_head(source_model, source):
    other = blobs(np.array([[-2.0, 0, 0, 0], [0, -2.0, 0, 0]]), 5, seed=2, classes=(3, 4))
    results = run(source_model, source, other)
    assert [r.strategy for r in results] == [s for s in ALL if s != "source_only"]
    for r in results:
        assert np.asarray(r.extras["confusion_matrix"]).shape == (2, 2)
    # Feature extraction measures the source with the source head on unchanged blocks.
    fe = next(r for r in results if r.strategy == "feature_extraction")
    source_accuracy = engine.evaluate(source_model, source)["accuracy"]
    assert fe.source_metric == pytest.approx(source_accuracy, abs=one_example(TEST_EXAMPLES))


def test_extras_agree_with_the_target_accuracy(source_model, source, target):
    n_test = len(target.y_test)
    for r in run(source_model, source, target):
        matrix = np.asarray(r.extras["confusion_matrix"])
        assert matrix.sum() == n_test
        assert np.trace(matrix) / n_test == pytest.approx(r.target_metric)
        for wrong in r.extras["misclassified"]:
            assert wrong["true"] != wrong["predicted"]
            assert wrong["true"] == int(target.y_test[wrong["index"]])
            assert np.allclose(wrong["input"], target.x_test[wrong["index"]].numpy())


def test_same_seed_same_numbers_and_nothing_global_changes(source_model, source, target):
    rng_state, threads = torch.get_rng_state(), torch.get_num_threads()
    first = [r.history for r in run(source_model, source, target, seed=3)]
    second = [r.history for r in run(source_model, source, target, seed=3)]
    assert first == second
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert torch.get_num_threads() == threads
    other_seed = [r.history for r in run(source_model, source, target, seed=4)]
    assert other_seed != first


def jobs_of_a_sweep(source_model, source, target, settings=SETTINGS):
    small = blobs(CENTRES + np.array([0, 0, 0, 1.5]), 2, seed=5)
    return [
        engine.TransferJob(ALL, source_model, TinyNet, source, target, settings, 0),
        engine.TransferJob(ALL, source_model, TinyNet, source, small, settings, 1),
        engine.TransferJob(
            ALL,
            source_model,
            TinyNet,
            source,
            target,
            replace(settings, lr=3e-3, lam=2.0, target_weight=0.5),
            2,
        ),
    ]


@pytest.mark.parametrize("classes", ["shared", "new"])
def test_joint_training_beside_other_strategies_changes_none_of_their_numbers(
    source_model, source, target, classes
):
    """Ticking joint training moves none of the other strategies' numbers, nor does training
    beside them move joint's: each model's numbers are its own, whatever trains with it. With
    new classes joint trains the source head that the others keep and measure the source with."""
    if classes == "new":
        target = blobs(np.array([[-2.0, 0, 0, 0], [0, -2.0, 0, 0]]), 5, seed=2, classes=(3, 4))
    others = ("scratch", "fine_tune", "regularized")

    def histories(strategies):
        return {r.strategy: r.history for r in run(source_model, source, target, strategies)}

    together = histories(others + ("joint",))
    assert {s: together[s] for s in others} == histories(others)
    assert together["joint"] == histories(("joint",))["joint"]


def test_run_many_equals_training_one_model_at_a_time(source_model, source, target):
    """Batched training (vmap, a hand-written Adam, frozen blocks run once) rounds differently
    from one model at a time with torch.optim.Adam, so metrics agree to float tolerance."""
    jobs = jobs_of_a_sweep(source_model, source, target)
    for job, results in zip(jobs, engine.run_many(jobs), strict=True):
        assert_close(one_at_a_time(job), results, TEST_EXAMPLES, UNBATCHED_LOSS_RTOL)


def test_a_runs_numbers_do_not_depend_on_what_trains_beside_it(source_model, source, target):
    """A sweep's point is the single run of the same config and seed: to rounding, since its
    groups stack nine models where the run's stack three (see conftest.py)."""
    jobs = jobs_of_a_sweep(source_model, source, target)
    for job, together in zip(jobs, engine.run_many(jobs), strict=True):
        alone = run(job.source_model, job.source, job.target, job.strategies, job.settings, job.seed)
        assert_close(alone, together, TEST_EXAMPLES)


def test_groups_trained_side_by_side_give_the_numbers_of_one_at_a_time(source_model, source, target):
    """With several cores, like-model groups train in threads side by side, and a group's
    members are measured side by side: every number is the one of training them in turn."""
    jobs = jobs_of_a_sweep(source_model, source, target)
    in_turn = engine.run_many(jobs, side_by_side=1)
    for groups_at_once in (2, 3):
        side_by_side = engine.run_many(jobs, side_by_side=groups_at_once)
        assert [[r.history for r in job] for job in side_by_side] == [
            [r.history for r in job] for job in in_turn
        ]
        assert [[r.extras for r in job] for job in side_by_side] == [
            [r.extras for r in job] for job in in_turn
        ]
    # One group (scratch, fine-tuning and regularized transfer of three jobs): its nine members
    # are measured two at a time.
    one_group = [replace(job, strategies=("fine_tune", "regularized")) for job in jobs]
    assert [[r.history for r in job] for job in engine.run_many(one_group, side_by_side=2)] == [
        [r.history for r in job] for job in engine.run_many(one_group, side_by_side=1)
    ]


def test_side_by_side_numbers_do_not_depend_on_the_cores_torch_may_use(source_model, source, target):
    """Groups in threads compute on one core each, whatever torch.set_num_threads says, so a
    machine with more cores gets the same numbers."""
    jobs = jobs_of_a_sweep(source_model, source, target)
    one_core = engine.run_many(jobs, side_by_side=2)
    torch.set_num_threads(2)  # the one_torch_thread fixture puts it back
    two_cores = engine.run_many(jobs)  # parallel_groups: 2
    assert torch.get_num_threads() == 2  # the caller's setting is left alone
    assert [[r.history for r in job] for job in two_cores] == [[r.history for r in job] for job in one_core]


def test_side_by_side_progress_is_reported_from_the_calling_thread(source_model, source, target):
    """Streamlit draws only from its script's thread: progress must come from there, rise, and
    end at 1 with "done"."""
    import threading

    calls = []
    engine.run_many(
        jobs_of_a_sweep(source_model, source, target),
        side_by_side=2,
        progress=lambda f, words: calls.append((threading.get_ident(), f, words)),
    )
    assert {ident for ident, _, _ in calls} == {threading.get_ident()}
    fractions = [f for _, f, _ in calls]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and calls[-1][2] == "done"
    assert any(0 < f < 1 and words.startswith("training") for _, f, words in calls)  # en route


def test_a_failure_beside_other_groups_stops_them_and_surfaces(source_model, source, target, monkeypatch):
    """An error in one group reaches the caller, and the other groups stop at their next epoch
    instead of training to their end for nobody."""
    epochs_run = []
    real = runs.fit_group

    def failing(members, progress, **options):
        def track(fraction):
            epochs_run.append(fraction)
            if members[0].plan.strategy == "joint":
                raise RuntimeError("joint training broke")
            progress(fraction)

        return real(members, track, **options)

    monkeypatch.setattr(runs, "fit_group", failing)
    settings = replace(SETTINGS, epochs=200)
    with pytest.raises(RuntimeError, match="joint training broke"):
        engine.run_many(jobs_of_a_sweep(source_model, source, target, settings), side_by_side=2)
    assert 1.0 not in epochs_run  # no group trained to its end


def test_frozen_blocks_are_run_once_and_change_nothing(source_model, source, target, monkeypatch):
    """Feature extraction and partial fine-tuning train on the frozen blocks' outputs, computed
    once: the same numbers as running every block at every step (the reference)."""
    computed = []
    monkeypatch.setattr(
        batched, "after_prefix", lambda *a, f=batched.after_prefix: computed.append(a[2]) or f(*a)
    )
    for k in (1, 2):
        settings = replace(SETTINGS, partial_blocks=k)
        job = engine.TransferJob(
            ("feature_extraction", "partial_fine_tune"), source_model, TinyNet, source, target, settings, 0
        )
        together = run(source_model, source, target, job.strategies, settings)
        assert_close(one_at_a_time(job), together, TEST_EXAMPLES, UNBATCHED_LOSS_RTOL)
    assert sorted(computed) == [1, 2, 2, 2]  # partial: its k blocks; feature extraction: both, twice


def test_results_are_plain_json(source_model, source, target):
    results = run(source_model, source, target)
    result = RunResult(
        demo="test", config={}, metric_name="accuracy", loss_name="cross-entropy", strategies=results
    )
    assert RunResult.from_json(result.to_json()) == result
    json.loads(result.to_json())  # strict JSON: no NaN, no tensors


def test_unknown_strategy_is_a_value_error(source_model, source, target):
    with pytest.raises(ValueError, match="strategy must be one of"):
        run(source_model, source, target, ("coral",))


# ------------------------------------------------------------------------- gradient clipping
CLIPPED = replace(SETTINGS, lr=5e-2, clip_grad_norm=0.05)


def test_clipping_changes_training_and_none_is_the_default(source_model, source, target):
    plain = run(source_model, source, target, ("fine_tune",))
    explicit_none = run(source_model, source, target, ("fine_tune",), replace(SETTINGS, clip_grad_norm=None))
    clipped = run(source_model, source, target, ("fine_tune",), replace(SETTINGS, clip_grad_norm=0.05))
    assert plain[0].history == explicit_none[0].history
    assert clipped[0].history["target_loss"] != plain[0].history["target_loss"]


def test_clipped_run_many_equals_training_one_model_at_a_time(source_model, source, target):
    """The batched path clips each model's gradient by its own norm, as one model at a time does."""
    jobs = jobs_of_a_sweep(source_model, source, target, CLIPPED)[:2]
    for job, results in zip(jobs, engine.run_many(jobs), strict=True):
        assert_close(one_at_a_time(job), results, TEST_EXAMPLES, loss_rtol=1e-3)


def test_clip_scratch_false_clips_only_the_models_carried_over(source_model, source, target):
    """A gated RNN's scratch trains best unclipped while its fine-tuned models need the clip:
    with clip_scratch=False scratch trains as if unclipped and fine-tuning stays clipped, on
    the batched path and one model at a time alike."""
    spared = replace(CLIPPED, clip_scratch=False)
    unclipped = replace(CLIPPED, clip_grad_norm=None)
    strategies = ("scratch", "fine_tune")
    for stacked in (True, False):
        got, plain, clipped = (
            engine.run_many(
                [engine.TransferJob(strategies, source_model, TinyNet, source, target, settings, seed=0)],
                batched=stacked,
            )[0]
            for settings in (spared, unclipped, CLIPPED)
        )
        assert got[0].history == plain[0].history != clipped[0].history  # scratch
        assert got[1].history == clipped[1].history != plain[1].history  # fine_tune


@pytest.mark.parametrize("value", [0, -1.0, "1", True])
def test_clip_grad_norm_must_be_none_or_positive(value):
    for settings in (engine.TransferSettings, engine.SourceSettings):
        with pytest.raises(ValueError, match="clip_grad_norm"):
            settings(clip_grad_norm=value)


def test_source_training_reports_progress_every_epoch(source):
    calls = []
    engine.train_source(
        TinyNet,
        source,
        engine.SourceSettings(epochs=4, lr=1e-2),
        seed=0,
        progress=lambda fraction, message: calls.append(fraction),
    )
    assert len(calls) >= 4 and calls[-1] == 1.0 and calls == sorted(calls)


def test_trained_model_is_the_model_run_strategies_trained(source_model, source, target):
    results = run(source_model, source, target, ("scratch", "fine_tune", "joint"))
    job = engine.TransferJob(ALL, source_model, TinyNet, source, target, SETTINGS, 0)
    for r in results:  # trained alone, where the run trains scratch and fine-tuning together
        model = engine.trained_model(r.strategy, job)
        accuracy = engine.evaluate(model, target)["accuracy"]
        assert accuracy == pytest.approx(r.target_metric, abs=one_example(TEST_EXAMPLES))
    assert parameters(source_model).equal(parameters(engine.trained_model("source_only", job)))


def test_a_source_model_is_the_same_whatever_cores_torch_may_use():
    """Source training computes on one core (as target training does): a shared link gives the
    same source model, and so the same numbers, on a laptop and on a server. (Trained with two
    threads, the RNN demo's GRU comes out different in the last bits.) Its progress still comes
    from the calling thread."""
    import threading

    from tl_core.demos.rnn_model import SequenceClassifier

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(960, 40)).astype(np.float32), rng.integers(0, 5, 960)
    sequences = engine.Domain.from_arrays(x, y, x[:10], y[:10], tuple(range(5)))
    settings = engine.SourceSettings(epochs=1, lr=1e-2, batch_size=96)

    def train(progress=None):
        return engine.train_source(
            lambda n: SequenceClassifier(n, "gru", 32), sequences, settings, seed=0, progress=progress
        )

    one = train()
    torch.set_num_threads(2)  # the one_torch_thread fixture puts it back
    calls = []
    two = train(lambda f, message: calls.append((threading.get_ident(), f)))
    assert torch.equal(parameters(one), parameters(two))
    assert {ident for ident, _ in calls} == {threading.get_ident()} and calls[-1][1] == 1.0


# ------------------------------------------------------------------- source models on the disk
QUICK_SOURCE = engine.SourceSettings(epochs=3, lr=1e-2)


def stored(source, settings=QUICK_SOURCE, seed=0):
    """stored_source's model, and how many epochs it reported training (0: read from the disk)."""
    calls = []
    model = engine.stored_source(
        TinyNet, source, settings, seed, progress=lambda fraction, message: calls.append(fraction)
    )
    return model, len(calls)


def test_a_source_model_is_trained_once_per_machine_then_read_back_exactly(source, empty_disk_cache):
    """A restarted server, the command line or a notebook reads the source model a first
    process trained, instead of training for seconds again, and gets the very same weights."""
    trained, epochs = stored(source)
    assert epochs >= 3 and len(list(empty_disk_cache.glob("*.npz"))) == 1
    read, epochs_again = stored(source)
    assert epochs_again == 0
    assert torch.equal(parameters(read), parameters(trained))
    reference = engine.train_source(TinyNet, source, engine.SourceSettings(epochs=3, lr=1e-2), 0)
    assert torch.equal(parameters(read), parameters(reference))
    assert not read.training and not any(p.requires_grad for p in read.parameters())


@pytest.mark.parametrize("change", ["seed", "settings", "data"])
def test_a_source_model_is_trained_anew_when_what_it_depends_on_changes(source, change, empty_disk_cache):
    stored(source)
    other = {
        "seed": lambda: stored(source, seed=1),
        "settings": lambda: stored(source, engine.SourceSettings(epochs=3, lr=2e-2)),
        "data": lambda: stored(blobs(CENTRES, 100, seed=5)),
    }[change]
    _, epochs = other()
    assert epochs >= 3 and len(list(empty_disk_cache.glob("*.npz"))) == 2


def test_a_damaged_stored_source_model_is_trained_again(source, empty_disk_cache, caplog):
    trained, _ = stored(source)
    [path] = empty_disk_cache.glob("*.npz")
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a full disk
    again, epochs = stored(source)
    assert epochs >= 3 and torch.equal(parameters(again), parameters(trained))
    assert "cannot read" in caplog.text
    assert stored(source)[1] == 0  # and written whole again


@pytest.mark.parametrize("other", ["other names", "other shapes"])
def test_a_stored_source_model_holding_other_arrays_is_trained_again(source, other, empty_disk_cache):
    """A valid npz that is not this model's weights (another model's, a file edited by hand)."""
    trained, _ = stored(source)
    [path] = empty_disk_cache.glob("*.npz")
    weights = {name: t.numpy() for name, t in trained.state_dict().items()}
    if other == "other names":
        weights = {"w": np.zeros(3), "b": np.ones(2)}
    else:
        weights = {name: np.zeros(a.size + 1, a.dtype) for name, a in weights.items()}
    np.savez(path, **weights)
    again, epochs = stored(source)
    assert epochs >= 3 and torch.equal(parameters(again), parameters(trained))
    assert stored(source)[1] == 0  # and written whole again


def test_without_a_disk_cache_a_source_model_is_trained_every_time(source, monkeypatch):
    monkeypatch.setenv(diskcache.ENV, diskcache.OFF)
    assert stored(source)[1] >= 3 and stored(source)[1] >= 3


def test_a_source_model_whose_code_is_in_no_file_is_trained_and_not_kept(source, empty_disk_cache):
    """A class typed at an interpreter's prompt: an edit to it could not be told apart."""
    typed = type("Typed", (TinyNet,), {"__module__": "typed at a prompt"})  # no file for inspect
    calls = []
    model = engine.stored_source(
        typed,
        source,
        engine.SourceSettings(epochs=3, lr=1e-2),
        0,
        progress=lambda fraction, message: calls.append(fraction),
    )
    assert len(calls) >= 3 and not empty_disk_cache.exists()
    assert engine.evaluate(model, source)["accuracy"] > 0.9


# SourceCache: what a server's visitors share. Events, not sleeps, order the threads.
def in_thread(call) -> tuple[threading.Thread, dict]:
    """call() in a thread of its own; its result, or its error, lands in the dict returned."""
    outcome: dict = {}

    def run():
        try:
            outcome["value"] = call()
        except Exception as error:  # noqa: BLE001 - the test reads it
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def until(condition, seconds: float = 60.0) -> None:
    """Wait for condition() to hold; fail the test if it does not within `seconds` (a guard
    against a hang, far above what it takes: a cold start generates data first)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "what the test waits for never happened"
        time.sleep(0.01)


def held_build(built: list, release: threading.Event, fail: bool = False):
    """A build that waits for `release` (so another caller can find it in flight), then
    returns a new object, or raises with `fail`; `built` counts its calls."""

    def build():
        built.append(1)
        assert release.wait(10)
        if fail:
            raise RuntimeError("the builder's run was stopped")
        return object()

    return build


def test_callers_of_a_source_model_in_training_wait_for_it_instead_of_training_it_again():
    cache, built, release, waited = engine.SourceCache(), [], threading.Event(), threading.Event()
    first, first_outcome = in_thread(lambda: cache.get("key", held_build(built, release)))
    until(lambda: built)  # the first caller is building
    second, second_outcome = in_thread(
        lambda: cache.get("key", held_build(built, release), waiting=waited.set)
    )
    assert waited.wait(10)  # the second caller says it waits...
    release.set()
    first.join(), second.join()
    assert len(built) == 1  # ...and does not train the same model beside the first
    assert second_outcome["value"] is first_outcome["value"] is cache.get("key", lambda: None)


def test_when_the_build_a_caller_waits_for_fails_it_builds_the_model_itself():
    cache, built, release, waited = engine.SourceCache(), [], threading.Event(), threading.Event()
    first, first_outcome = in_thread(lambda: cache.get("key", held_build(built, release, fail=True)))
    until(lambda: built)
    second, second_outcome = in_thread(
        lambda: cache.get("key", held_build(built, release), waiting=waited.set)
    )
    assert waited.wait(10)
    release.set()
    first.join(), second.join()
    assert isinstance(first_outcome["error"], RuntimeError)
    assert len(built) == 2 and cache.get("key", lambda: None) is second_outcome["value"]


def test_a_stopped_waiter_leaves_and_the_build_goes_on():
    cache, built, release = engine.SourceCache(), [], threading.Event()
    first, first_outcome = in_thread(lambda: cache.get("key", held_build(built, release)))
    until(lambda: built)

    def stopped():  # what a stale run's progress does
        raise RuntimeError("stopped")

    second, second_outcome = in_thread(lambda: cache.get("key", lambda: None, waiting=stopped))
    second.join(10)
    assert not second.is_alive() and isinstance(second_outcome["error"], RuntimeError)
    release.set()
    first.join()
    assert cache.get("key", lambda: None) is first_outcome["value"] is not None


def test_a_stored_source_model_another_caller_is_training_is_waited_for_and_read(source, empty_disk_cache):
    """The disk cache's lock: a second process (here a thread: the lock works between both)
    asking for a source model another is training says it waits, trains nothing, and gets the
    very weights the first one trained and stored."""
    settings, release, trained = engine.SourceSettings(epochs=3, lr=1e-2), threading.Event(), []

    def training(fraction, message):  # the first caller trains slowly: until the second waits
        trained.append(fraction)
        assert release.wait(10)

    first, first_outcome = in_thread(
        lambda: engine.stored_source(TinyNet, source, settings, 0, progress=training)
    )
    until(lambda: trained)
    heard = []

    def second_progress(fraction, message):
        heard.append(message)
        release.set()

    second = engine.stored_source(TinyNet, source, settings, 0, progress=second_progress)
    first.join(10)
    assert heard and set(heard) == {engine.WAITING_FOR_SOURCE}
    assert torch.equal(parameters(second), parameters(first_outcome["value"]))


def test_source_models_of_different_keys_are_built_side_by_side():
    cache, both = engine.SourceCache(), threading.Barrier(2, timeout=10)

    def build():  # passes only when the other key's build runs at the same time
        both.wait()
        return object()

    threads = [in_thread(lambda key=key: cache.get(key, build)) for key in ("a", "b")]
    for thread, _ in threads:
        thread.join()
    assert all("value" in outcome for _, outcome in threads)


@pytest.mark.parametrize("demo", ["rnn", "cnn"])
def test_a_run_whose_source_model_another_run_trains_says_it_waits_and_trains_nothing(demo, monkeypatch):
    from tl_core.demos import get_demo

    module = get_demo(demo)
    built, release = [], threading.Event()
    monkeypatch.setattr(engine, "stored_source", lambda *args, **kwargs: held_build(built, release)())
    heard = []

    def source_model(progress=None):
        if demo == "rnn":
            return module.source_model(module.Config(), "cpu", progress=progress)
        return module.source_model(module.Config(), progress=progress)[0]

    module._SOURCES.cache_clear()
    try:
        first, first_outcome = in_thread(source_model)
        until(lambda: built)
        second, second_outcome = in_thread(
            lambda: source_model(lambda fraction, message: heard.append(message))
        )
        until(lambda: heard)
        release.set()
        first.join(), second.join()
    finally:
        module._SOURCES.cache_clear()  # the stand-in model must not reach other tests
    assert len(built) == 1 and second_outcome["value"] is first_outcome["value"]
    assert set(heard) == {"waiting for the source model, which another run is training"}


def test_the_misclassified_examples_shown_are_the_commonest_confusions_first():
    """A model view shows a few mistakes: one of each confusion the matrix counts most, not the
    first mistakes of a test set sorted by class."""
    from sklearn.metrics import confusion_matrix

    truth = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    predicted = np.array([1, 0, 1, 1, 2, 1, 0, 0, 0, 2])  # 2→0 three times, 0→1 twice, 1→2 once
    matrix = confusion_matrix(truth, predicted, labels=[0, 1, 2])
    shown = measure.telling_mistakes(truth, predicted, matrix)
    pairs = [(int(truth[i]), int(predicted[i])) for i in shown]
    assert pairs == [(2, 0), (0, 1), (1, 2), (2, 0), (0, 1), (2, 0)]
    assert list(shown[:3]) == [6, 0, 4]  # the first of each, in test-set order
