"""Shared charts and the sentences under them, checked on small hand-made results."""

import pandas as pd
import pytest

from tl_core import narrate, plots
from tl_core.result import RunResult, StrategyResult
from tl_core.tables import summarize, sweep_table


def make_result(n_target=5, gap=0.3, seed=0, scratch=0.60, fine_tune=0.85, fine_tune_source=0.70):
    return RunResult(
        demo="toy",
        config={"n_target": n_target, "gap": gap, "seed": seed},
        metric_name="accuracy",
        loss_name="log-loss",
        strategies=[
            StrategyResult("scratch", source_metric=0.50, target_metric=scratch),
            StrategyResult("source_only", source_metric=0.95, target_metric=0.70),
            StrategyResult(
                "fine_tune",
                source_metric=fine_tune_source,
                target_metric=fine_tune,
                history={
                    "step": [1, 2, 3],
                    "source_metric": [0.95, 0.8, fine_tune_source],
                    "target_metric": [0.7, 0.8, fine_tune],
                    "source_loss": [0.1, 0.3, 0.5],
                    "target_loss": [0.9, 0.5, 0.3],
                },
            ),
        ],
    )


def points_and_labels(fig):
    points = {t.name: (t.x[0], t.y[0], t.marker.symbol) for t in fig.data if t.mode == "markers"}
    labels = [t.text[0] for t in fig.data if t.mode == "markers+text"]
    return points, labels


def test_source_vs_target_has_one_point_per_strategy_at_its_two_metrics():
    points, labels = points_and_labels(plots.source_vs_target(make_result()))
    assert points == {
        "Scratch": (0.50, 0.60, "circle"),
        "Source only": (0.95, 0.70, "circle"),
        "Fine-tune": (0.70, 0.85, "circle"),
    }
    assert len(labels) == 3 and all(name in " ".join(labels) for name in points)


def test_points_close_together_share_one_label_naming_each():
    result = make_result()
    result.strategies.append(StrategyResult("regularized", source_metric=0.71, target_metric=0.86))
    _, labels = points_and_labels(plots.source_vs_target(result))
    assert len(labels) == 3  # fine-tune and regularized transfer are labelled together
    together = next(text for text in labels if "Fine-tune" in text)
    assert "Regularized transfer" in together and together.count("<br>") == 1
    assert together.index("Regularized transfer") < together.index("Fine-tune")  # top first


def test_a_label_that_would_cover_a_neighbours_goes_below_its_point():
    """Regularized transfer and feature extraction side by side at one height: their labels,
    both above, would run into each other."""
    result = make_result()
    result.strategies += [
        StrategyResult("feature_extraction", source_metric=0.95, target_metric=0.944),
        StrategyResult("regularized", source_metric=0.89, target_metric=0.944),
    ]
    fig = plots.source_vs_target(result)
    where = {
        t.text[0].split(">")[1].split("<")[0]: t.textposition for t in fig.data if t.mode == "markers+text"
    }
    assert sorted(where[name].split()[0] for name in ("Feature extraction", "Regularized transfer")) == [
        "bottom",
        "top",
    ]
    assert where["Scratch"].startswith("top")  # nothing near it


def chart_of(scores: dict[str, tuple[float, float]], metric: str = "accuracy") -> RunResult:
    """A result with these (source, target) scores per strategy, as the source-vs-target chart reads it."""
    loss = "cross-entropy" if metric == "accuracy" else "MSE"
    strategies = [StrategyResult(name, *xy) for name, xy in scores.items()]
    return RunResult(demo="toy", config={}, metric_name=metric, loss_name=loss, strategies=strategies)


def label_positions(scores: dict[str, tuple[float, float]], metric: str = "accuracy") -> dict[str, str]:
    """Where the source-vs-target chart puts each label, by the first strategy it names."""
    return {
        t.text[0].split(">")[1].split("<")[0]: t.textposition
        for t in plots.source_vs_target(chart_of(scores, metric)).data
        if t.mode == "markers+text"
    }


def test_a_label_does_not_cover_a_neighbouring_point():
    """Partial fine-tuning's label, above and to the left, would sit on regularized transfer's
    marker (the RNN page's defaults)."""
    scores = {
        "scratch": (0.221, 0.318),
        "feature_extraction": (0.951, 0.576),
        "partial_fine_tune": (0.809, 0.651),
        "fine_tune": (0.353, 0.789),
        "regularized": (0.785, 0.680),
        "joint": (0.882, 0.736),
    }
    where = label_positions(scores)
    assert where["Partial fine-tune"].startswith("bottom") and where["Regularized transfer"].startswith("top")


def r2_result(scratch_source=-15.6, scratch_target=-7.86):
    return RunResult(
        demo="linear",
        config={"n_target": 2},
        metric_name="R²",
        loss_name="MSE",
        strategies=[
            StrategyResult("scratch", scratch_source, scratch_target),
            StrategyResult(
                "fine_tune",
                0.98,
                0.72,
                history={"step": [0, 1], "source_metric": [0.99, 0.98], "target_metric": [0.7, 0.72]},
            ),
            StrategyResult("joint", 0.96, 0.76),
        ],
    )


def test_an_r2_far_below_minus_one_is_drawn_at_the_axis_floor_with_its_value_said():
    """Scratch fitting 2 points scores R² −7.86: drawn to scale, it would squeeze the others."""
    fig = plots.source_vs_target(r2_result())
    points, labels = points_and_labels(fig)
    low_x, low_y = fig.layout.xaxis.range[0], fig.layout.yaxis.range[0]
    assert -1.2 < low_x < -1 and -1.2 < low_y < -1
    assert points["Scratch"] == (low_x, low_y, "triangle-down")
    assert any("source R² -15.60, target R² -7.86: off the chart" in text for text in labels)
    assert points["Fine-tune"] == (0.98, 0.72, "circle")
    mild = plots.source_vs_target(r2_result(-0.5, 0.1))  # within the floor: drawn as it is
    assert mild.layout.yaxis.range is None and points_and_labels(mild)[0]["Scratch"][2] == "circle"


def test_training_curves_stop_an_r2_axis_at_the_floor_and_say_so():
    result = r2_result()
    result.strategies[0].history = {
        "step": [0, 1],
        "source_metric": [-3.0, -15.6],
        "target_metric": [-2.0, -7.86],
    }
    fig = plots.training_curves(result)
    assert -1.2 < fig.layout.yaxis.range[0] < -1
    assert "not shown (lowest -15.60)" in fig.layout.annotations[-1].text
    assert plots.training_curves(make_result()).layout.yaxis.range is None  # accuracy: as it is


def test_training_curves_draw_only_strategies_with_a_history():
    fig = plots.training_curves(make_result())
    assert {t.name for t in fig.data} == {"Fine-tune"}
    assert [list(t.y) for t in fig.data] == [[0.7, 0.8, 0.85], [0.95, 0.8, 0.70]]


def sweep_of(over, values, seeds=(0, 1)):
    results = []
    for v in values:
        for s in seeds:
            kwargs = {over: v, "seed": s}
            if over == "n_target":  # the gain shrinks as labels grow
                kwargs.update(scratch=0.5 + 0.04 * v, fine_tune=0.8 + 0.01 * v + 0.02 * s)
            else:  # the gain turns negative as the gap grows
                kwargs.update(scratch=0.7, fine_tune=0.9 - 0.4 * v)
            results.append(make_result(**kwargs))
    return sweep_table(results, over)


def test_sweep_table_is_tidy_with_gain_over_scratch():
    table = sweep_of("n_target", [1, 5])
    assert len(table) == 2 * 2 * 3
    row = table[(table.n_target == 5) & (table.seed == 1) & (table.strategy == "fine_tune")].iloc[0]
    assert row.gain == pytest.approx((0.8 + 0.05 + 0.02) - (0.5 + 0.2))
    assert (table[table.strategy == "scratch"].gain == 0).all()


def test_summary_gives_mean_and_spread_over_seeds():
    summary = summarize(sweep_of("n_target", [1, 5]))
    row = summary[(summary.n_target == 1) & (summary.strategy == "fine_tune")].iloc[0]
    assert row.target_metric_mean == pytest.approx(0.82)
    assert row.target_metric_std == pytest.approx(pd.Series([0.81, 0.83]).std())
    assert row.target_metric_count == 2


def test_data_efficiency_curve_has_a_band_and_a_mean_line_per_strategy():
    fig = plots.data_efficiency(sweep_of("n_target", [1, 5, 10]))
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["Scratch", "Source only", "Fine-tune"]
    assert list(lines[0].x) == [1, 5, 10]
    assert len([t for t in fig.data if t.fill == "toself"]) == 3
    assert fig.layout.xaxis.type == "log"


def test_gap_curve_plots_gains_with_the_zero_line():
    fig = plots.gap_curve(sweep_of("gap", [0.0, 0.5, 1.0]))
    fine_tune = next(t for t in fig.data if t.name == "Fine-tune")
    # in percentage points, as the sentence under it says them ("−20 points", not −0.2)
    assert list(fine_tune.y) == pytest.approx([20, 0.0, -20])
    assert fig.layout.yaxis.title.text == "target accuracy gain over scratch (points)"
    assert "Scratch" not in {t.name for t in fig.data}
    assert any(shape.y0 == 0 and shape.y1 == 0 for shape in fig.layout.shapes)


def test_sentences_are_computed_from_the_numbers():
    assert narrate.describe_result(make_result()) == (
        "With 5 labels per class, fine-tune beats scratch on the target by 25 points (85% against 60%)."
    )
    assert narrate.describe_result(make_result(fine_tune=0.55, scratch=0.8)).startswith(
        "With 5 labels per class, source only loses to scratch on the target by 10 points"
    )
    kept = make_result()
    kept.strategies.append(StrategyResult("feature_extraction", source_metric=0.95, target_metric=0.75))
    assert narrate.describe_source_vs_target(kept) == (
        "Of the strategies trained on the target, feature extraction keeps the most of the source "
        "task (source accuracy 95%; the source model's own: 95%); fine-tune keeps the least (70%): "
        "what it learned for the target overwrote some of the source."
    )
    assert "Fine-tune: target 70% → 85%, source 95% → 70%" in narrate.describe_history(make_result())


def efficiency_sweep(gains: dict, scratch: float = 0.5):
    """A sweep over n_target where fine-tune's mean gain over scratch is gains[n]."""
    results = [
        make_result(n_target=n, seed=s, scratch=scratch, fine_tune=scratch + gain + 0.01 * (2 * s - 1))
        for n, gain in gains.items()
        for s in (0, 1)
    ]
    return sweep_table(results, "n_target")


def test_data_efficiency_sentence_says_when_scratch_catches_up_and_only_then():
    text = narrate.describe_data_efficiency(efficiency_sweep({1: 0.28, 8: 0.002}))
    assert text == (
        "With 1 label per class, fine-tune beats scratch by 28 points on average; the gain shrinks "
        "as labels grow, to 0 points with 8 labels per class: scratch has caught up."
    )
    shrunk = narrate.describe_data_efficiency(efficiency_sweep({1: 0.28, 8: 0.05}))
    assert shrunk.endswith("the gain shrinks as labels grow, to +5 points with 8 labels per class.")
    assert "caught up" not in shrunk  # 5 points is still a gain


def test_data_efficiency_sentence_says_where_a_rising_gain_starts_to_shrink():
    """The RNN's curve: the gain grows from 1 to 10 labels and shrinks only after."""
    text = narrate.describe_data_efficiency(efficiency_sweep({1: 0.25, 2: 0.4, 10: 0.6, 50: 0.2}))
    assert text == (
        "With 1 label per class, fine-tune beats scratch by 25 points on average; its gain first "
        "grows, to +60 points with 10 labels per class, and only then shrinks, to +20 points with "
        "50 labels per class."
    )
    growing = narrate.describe_data_efficiency(efficiency_sweep({1: 0.25, 5: 0.35}))
    assert growing.endswith(
        "its gain grows to +35 points with 5 labels per class: within this sweep scratch does not catch up."
    )


def test_gap_sentence_says_where_transfer_turns_negative():
    text = narrate.describe_gap_curve(sweep_of("gap", [0.0, 0.25, 0.75, 1.0]))
    assert "fine-tune falls below scratch from gap 0.75 (−10 points at gap 0.75, −20 points at gap 1)" in text


def gap_sweep(gains: dict):
    results = [
        make_result(gap=g, seed=s, scratch=0.5, fine_tune=0.5 + gain)
        for g, gain in gains.items()
        for s in (0, 1)
    ]
    return sweep_table(results, "gap")


def test_gap_sentence_follows_a_curve_that_comes_back_above_zero():
    """Breast cancer at λ 10000: below scratch at the small gaps, above it at 0.8 and 1; a gain
    that rounds to 0 is level, never "−0 points"."""
    text = narrate.describe_gap_curve(gap_sweep({0.0: -0.05, 0.4: -0.02, 0.8: 0.03, 1.0: 0.04}))
    assert (
        "fine-tune is below scratch at gap 0 to 0.4, then above scratch at gap 0.8 to 1 (+4 points at gap 1)"
        in text
    )
    level = narrate.describe_gap_curve(gap_sweep({0.0: 0.1, 0.5: -0.004, 1.0: 0.02}))
    assert "fine-tune stays level with or above scratch up to gap 1" in level
    assert "−0" not in level


def test_sentences_keep_acronyms_say_one_point_and_call_a_rounded_zero_a_tie():
    result = make_result(scratch=0.70, fine_tune=0.71)
    result.strategies.append(StrategyResult("coral", source_metric=0.9, target_metric=0.20))
    assert "fine-tune beats scratch on the target by 1 point (71% against 70%)" in narrate.describe_result(
        result
    )
    result.strategies[-1].source_metric = 0.99
    assert narrate.describe_source_vs_target(result).startswith(
        "Of the strategies trained on the target, CORAL keeps the most"
    )
    tie = make_result(scratch=0.851, fine_tune=0.853)
    assert "fine-tune ties with scratch on the target (85% against 85%)" in narrate.describe_result(tie)


def test_sweep_axes_are_named_in_words_with_ticks_at_the_swept_values():
    fig = plots.data_efficiency(sweep_of("n_target", [1, 5, 10]))
    assert fig.layout.xaxis.title.text == "labelled target samples"
    assert list(fig.layout.xaxis.tickvals) == [1, 5, 10]
    assert "target accuracy" in fig.layout.title.text


def test_source_only_is_not_credited_with_keeping_the_source_and_ties_are_named_together():
    """Source only trains nothing, so it keeps the source by definition: the sentence is about
    the strategies that trained; strategies that keep the same (rounded) accuracy share it."""
    result = make_result()
    result.strategies += [
        StrategyResult("feature_extraction", source_metric=0.9501, target_metric=0.75),
        StrategyResult("partial_fine_tune", source_metric=0.9498, target_metric=0.8),
    ]
    text = narrate.describe_source_vs_target(result)
    assert text.startswith(
        "Of the strategies trained on the target, feature extraction and partial fine-tune keep the "
        "most of the source task (source accuracy 95%; the source model's own: 95%)"
    )
    assert "source only" not in text.lower()


def test_the_source_sentence_names_the_source_models_own_score_beside_the_best_kept():
    """Linear defaults: regularized transfer keeps the most of the trained strategies (0.45), the
    source model itself (source only) keeps 0.56; the sentence says both."""
    result = make_result(fine_tune_source=0.30)
    result.metric_name = "R²"
    result.strategies.append(StrategyResult("regularized", source_metric=0.45, target_metric=0.8))
    result.extras["source_model_metric"] = 0.564
    text = narrate.describe_source_vs_target(result)
    assert text.startswith(
        "Of the strategies trained on the target, regularized transfer keeps the most of the source "
        "task (source R² 0.45; the source model's own: 0.56)"
    )


def test_every_sentence_names_the_same_best_strategy_when_two_tie():
    """The headline and the model view's sentence break a tie the same way (the run's order),
    and a tie is no win for scratch."""
    result = make_result(scratch=0.85, fine_tune=0.85)
    result.strategies.append(StrategyResult("joint", source_metric=0.9, target_metric=0.85))
    assert narrate.best_transfer(result) == "fine_tune" == result.ranked()[0].strategy
    assert narrate.describe_best_and_worst(result).startswith("Best on the target: fine-tune (accuracy 85%)")
    assert "worst: source only (70%)" in narrate.describe_best_and_worst(result)


def test_data_efficiency_sentence_says_plainly_when_transfer_loses():
    """Negative transfer (the CNN's digits 0-4 to 5-9): no "beats scratch", no "caught up"."""
    results = [
        make_result(n_target=n, seed=s, scratch=0.80, fine_tune={1: 0.75, 8: 0.78}[n])
        for n in (1, 8)
        for s in (0, 1)
    ]
    assert narrate.describe_data_efficiency(sweep_table(results, "n_target")) == (
        "Even the best transfer, fine-tune, loses to scratch at every number of labels, on average: "
        "−5 points with 1 label per class, −2 points with 8 labels per class."
    )


def test_accuracy_axes_tick_in_percent_as_the_sentences_say_it_and_r2_stays_a_number():
    result = make_result()
    for fig in (
        plots.source_vs_target(result),
        plots.training_curves(result),
        plots.accuracy_bars(result),
        plots.data_efficiency(sweep_of("n_target", [1, 5])),
    ):
        assert fig.layout.yaxis.tickformat == ".0%"
    assert plots.source_vs_target(result).layout.xaxis.tickformat == ".0%"
    assert "source accuracy 70.0%" in plots.source_vs_target(result).data[2].hovertemplate
    regression = make_result()
    regression.metric_name = "R²"
    assert plots.source_vs_target(regression).layout.yaxis.tickformat is None


def test_a_headline_never_subtracts_an_r2_below_zero():
    """Diabetes with least squares: 0.47 against −8.41 is no "beats by 8.88"."""
    result = make_result(scratch=-8.41, fine_tune=0.87)
    result.metric_name = "R²"
    assert narrate.describe_result(result) == (
        "With 5 labelled target samples, fine-tune predicts the target with R² 0.87; scratch "
        "predicts it worse than its mean would (R² -8.41)."
    )
    both = make_result(scratch=-0.3, fine_tune=-0.1)
    both.metric_name, both.strategies[1].target_metric = "R²", -0.2  # source only below 0 too
    text = narrate.describe_result(both)
    assert "beats" not in text and "loses" not in text and text.count("worse than its mean would") == 2


def test_signed_differences_have_no_sign_when_they_round_to_zero():
    assert narrate.signed(-0.001, "R²") == "0.00" and narrate.signed(-0.004, "accuracy") == "0 points"
    assert narrate.signed(-0.3, "accuracy") == "−30 points" and narrate.signed(0.25, "R²") == "+0.25"


def test_a_negative_r2_is_explained_where_one_appears():
    result = make_result(scratch=-7.86, fine_tune=0.76)
    result.metric_name = "R²"
    assert narrate.describe_negative_r2(result) == (
        "An R² below 0 predicts the target worse than its mean would: scratch has too few "
        "labelled samples for the parameters it fits."
    )
    assert narrate.describe_negative_r2(make_result()) == ""  # accuracy: nothing to explain


def test_a_label_with_no_room_above_or_below_goes_beside_its_point():
    """The linear page's defaults: fine-tune's label takes the room above, joint training's
    marker the room below regularized transfer; their label goes to the right, into space."""
    scores = {
        "scratch": (0.002, 0.439),
        "source_only": (0.564, 0.447),
        "fine_tune": (0.415, 0.570),
        "regularized": (0.451, 0.570),
        "joint": (0.441, 0.563),
    }
    where = {
        t.text[0]: t.textposition
        for t in plots.source_vs_target(chart_of(scores, "R²")).data
        if t.mode == "markers+text"
    }
    [regularized] = [position for text, position in where.items() if "Regularized transfer" in text]
    assert regularized == "middle right"


def test_two_labels_side_by_side_at_one_height_do_not_share_the_room_above():
    """The linear page at 30 labels: fine-tune and regularized transfer at one target R², a
    seventh of the x axis apart. Both labels above their points ran into each other on the
    page's chart ("Fine-tRegularized transfer")."""
    scores = {
        "scratch": (0.370, 0.533),
        "source_only": (0.565, 0.446),
        "fine_tune": (0.400, 0.561),
        "regularized": (0.440, 0.561),
        "joint": (0.515, 0.531),
    }
    where = label_positions(scores, "R²")
    assert not (where["Fine-tune"].startswith("top") and where["Regularized transfer"].startswith("top"))


def test_the_compare_pages_sentence_says_labels_in_words():
    text = narrate.describe_compare_gains(
        {"toy": sweep_of("n_target", [1, 8])}, {"toy": "Toy"}, "fine_tune", "n_target"
    )
    assert text.startswith("Fine-tune's gain over scratch — Toy: +28 points with 1 label per class →")
    assert text.endswith("with 8 labels per class.")


def test_a_small_drop_on_the_source_is_not_called_forgetting():
    result = make_result(fine_tune_source=0.93)
    result.strategies.append(StrategyResult("feature_extraction", source_metric=0.95, target_metric=0.75))
    assert narrate.describe_source_vs_target(result) == (
        "Of the strategies trained on the target, feature extraction keeps the most of the source "
        "task (source accuracy 95%; the source model's own: 95%); fine-tune keeps the least (93%)."
    )
