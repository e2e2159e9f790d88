"""Every cell of the README's lesson table (tl_core/lessons.py) is true, as a mean over seeds 1000
to 1009, none of which any default was tuned on.

Each demo's runs are made once (`measured`, kept for the session) and shared by its five lessons:
its defaults, the largest stop of the page's data-efficiency sweep, gap 0 and gap 1 of the
scenario with a gap, and λ at 0 and at its top. The CNN and RNN train them all in one batch
(run_many); these are the costly part of the file (a few minutes on a 2-core machine).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

import tl_core
from tl_core import lessons
from tl_core.lecture import sweep_values
from tl_core.lessons import CELLS, NETWORKS, SEEDS
from tl_core.result import RunResult

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see conftest.py
TRANSFERRING = ("source_only", "feature_extraction", "fine_tune")  # carry the source model over
FORGETS_BY = 0.02  # forgetting: the source score ends at least this far below the source model's
KEPT_WITHIN = 0.02  # keeping: the source accuracy ends within this of the source model's


@functools.cache
def measured(demo: str) -> dict[str, list[RunResult]]:
    """The runs every lesson of `demo` reads, by group, one per seed of SEEDS."""
    module = tl_core.get_demo(demo)
    default = module.Config()
    gap_cell = next(c for c in CELLS if c.demo == demo and c.lesson == 3)
    gap_strategies = tuple(dict.fromkeys(gap_cell.gain + gap_cell.below))
    lam_strategies = ("fine_tune", "regularized") if demo in NETWORKS else ("source_only", "regularized")
    gap = dict(scenario=gap_cell.scenario, strategies=gap_strategies)
    groups = {
        "default": {},
        "many": {"n_target": sweep_values(module, default, "n_target")[-1]},
        "gap 0": {**gap, "gap": 0.0},
        "gap 1": {**gap, "gap": 1.0},
        "λ 0": {"lam": 0.0, "strategies": lam_strategies},
        "λ top": {"lam": module.Config.field("lam").high, "strategies": lam_strategies},
    }
    configs = [default.replace(**fields, seed=seed) for fields in groups.values() for seed in SEEDS]
    if module.OFFERS.run_many is not None:
        results = module.OFFERS.run_many(configs)
    else:
        results = [module.run(config) for config in configs]
    return {name: results[i * len(SEEDS) : (i + 1) * len(SEEDS)] for i, name in enumerate(groups)}


def mean(results: list[RunResult], strategy: str, key: str = "target_metric") -> float:
    return float(np.mean([getattr(r.strategy(strategy), key) for r in results]))


def gain(results: list[RunResult], strategy: str) -> float:
    """Mean target gain over scratch."""
    return float(np.mean([r.gain(strategy) for r in results]))


def source_model(results: list[RunResult]) -> float:
    """Mean source score of the source model itself, before any target training."""
    return float(np.mean([r.extras["source_model_metric"] for r in results]))


def cells(lesson: int) -> list:
    """The cells of `lesson`, one test each; the networks' are slow (10 seeds of every group trained)."""
    return [
        pytest.param(c, id=c.demo, marks=pytest.mark.slow if c.demo in NETWORKS else ())
        for c in CELLS
        if c.lesson == lesson
    ]


# ----------------------------------------------------------------------------- the declaration
def test_the_table_has_one_cell_per_lesson_and_demo_on_the_scenario_it_is_measured_on():
    assert sorted((c.lesson, c.demo) for c in CELLS) == sorted(
        (lesson, demo) for lesson in lessons.LESSONS for demo in lessons.DEMO_TITLES
    )
    for cell in CELLS:
        default = tl_core.get_demo(cell.demo).Config().scenario
        if cell.lesson != 3:  # the defaults show it: the table must not name another scenario
            assert cell.scenario == default, cell
        else:  # at gap 1 at least one strategy that carries the source model over loses to scratch
            assert set(cell.below) & set(TRANSFERRING), cell


def test_the_readme_shows_the_tested_table():
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert lessons.markdown() in readme


# ------------------------------------------------------------------------------------- lessons
@pytest.mark.parametrize("cell", cells(1))
def test_lesson_1_with_few_labels_transfer_beats_scratch(cell):
    runs = measured(cell.demo)["default"]
    gains = {strategy: gain(runs, strategy) for strategy in cell.gain}
    assert all(g > 0 for g in gains.values()), f"mean gains over scratch: {gains}"


@pytest.mark.parametrize("cell", cells(2))
def test_lesson_2_the_gain_is_smaller_at_the_sweeps_largest_number_of_labels(cell):
    runs = measured(cell.demo)
    gains = {s: (gain(runs["default"], s), gain(runs["many"], s)) for s in cell.gain}
    assert all(many < few for few, many in gains.values()), f"mean gains (default, most labels): {gains}"


@pytest.mark.parametrize("cell", cells(3))
def test_lesson_3_a_wide_gap_shrinks_the_gain_and_turns_transfer_negative(cell):
    runs = measured(cell.demo)
    gains = {s: (gain(runs["gap 0"], s), gain(runs["gap 1"], s)) for s in set(cell.gain + cell.below)}
    assert all(gains[s][1] < gains[s][0] for s in cell.gain), f"mean gains (gap 0, gap 1): {gains}"
    assert all(gains[s][1] < 0 for s in cell.below), f"mean gains (gap 0, gap 1): {gains}"


@pytest.mark.parametrize("cell", cells(4))
def test_lesson_4_fine_tuning_forgets_the_source_and_feature_extraction_keeps_it(cell):
    runs = measured(cell.demo)["default"]
    before = source_model(runs)
    after = {s: mean(runs, s, "source_metric") for s in cell.forgets + cell.keeps}
    numbers = f"source model {before:.3f}, after: {after}"
    assert all(after[s] < before - FORGETS_BY for s in cell.forgets), numbers
    assert all(abs(after[s] - before) <= KEPT_WITHIN for s in cell.keeps), numbers


@pytest.mark.parametrize("cell", cells(5))
def test_lesson_5_lambdas_two_ends(cell):
    """Linear models: λ = 0 is scratch, λ at its top source only (seed by seed). Networks (L2-SP):
    λ = 0 is fine-tune (seed by seed), λ at its top keeps the source model's source accuracy."""
    runs = measured(cell.demo)
    zero_end = "fine_tune" if cell.demo in NETWORKS else "scratch"
    for result in runs["λ 0"]:
        regularized, other = result.strategy("regularized"), result.strategy(zero_end)
        assert regularized.target_metric == pytest.approx(other.target_metric, abs=1e-9)
        assert regularized.source_metric == pytest.approx(other.source_metric, abs=1e-9)
    if cell.demo in NETWORKS:
        top = runs["λ top"]
        kept, before = mean(top, "regularized", "source_metric"), source_model(top)
        fine_tuned = mean(top, "fine_tune", "source_metric")
        numbers = f"source model {before:.3f}, regularized {kept:.3f}, fine-tune {fine_tuned:.3f}"
        assert abs(kept - before) <= KEPT_WITHIN, numbers
        assert kept > fine_tuned + FORGETS_BY, numbers  # the pull made the difference
    else:
        for result in runs["λ top"]:
            regularized, source_only = result.strategy("regularized"), result.strategy("source_only")
            assert regularized.target_metric == pytest.approx(source_only.target_metric, abs=1e-3)
            assert regularized.source_metric == pytest.approx(source_only.source_metric, abs=1e-3)
