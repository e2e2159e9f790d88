"""One vocabulary of strategies for every demo: their names in display order, labels and colours
for charts, one-line meanings, and the rules about which strategies apply where.

A demo's ``STRATEGIES`` is a subset of these names, in this order. The rules:

- scratch is the baseline: it always runs, first, since every gain is measured against it
  (:func:`with_baseline`).
- source only applies the source model as it is, head included, so it needs the same classes on
  both sides (:func:`applicable`); where the target's classes differ it is left out
  (:data:`SOURCE_ONLY_LEFT_OUT` says why). Charts draw its line dotted: it never trained on the
  target (:func:`dash`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Strategy:
    name: str
    label: str
    meaning: str
    color: str  # one colour per strategy on every chart


STRATEGIES = {
    s.name: s
    for s in (
        Strategy("scratch", "Scratch", "target data only, fresh weights: the baseline", "#7f7f7f"),
        Strategy("source_only", "Source only", "the source model applied to the target as it is", "#1f77b4"),
        Strategy(
            "feature_extraction",
            "Feature extraction",
            "freeze the source features, train a new head",
            "#2ca02c",
        ),
        Strategy(
            "partial_fine_tune", "Partial fine-tune", "freeze the first k blocks, train the rest", "#bcbd22"
        ),
        Strategy(
            "fine_tune",
            "Fine-tune",
            "start from the source weights, train everything on the target",
            "#d62728",
        ),
        Strategy("regularized", "Regularized transfer", "target loss + λ‖θ − θ_source‖²", "#9467bd"),
        Strategy("joint", "Joint training", "minimise L_source + w·L_target over both data sets", "#ff7f0e"),
        Strategy(
            "coral", "CORAL", "align target feature covariance to the source; no target labels", "#17becf"
        ),
    )
}

BASELINE = "scratch"
SOURCE_ONLY = "source_only"
SOURCE_ONLY_LEFT_OUT = (
    "Source only is left out: the source model's head names the source's classes, "
    "not the target's, so it cannot be applied to the target as it is."
)


def label(name: str) -> str:
    """The label a chart shows for a strategy name (the name itself if unknown)."""
    return STRATEGIES[name].label if name in STRATEGIES else name


def color(name: str) -> str:
    return STRATEGIES[name].color if name in STRATEGIES else "#333333"


def with_baseline(names: tuple[str, ...] | list[str]) -> list[str]:
    """The strategies to run: those asked for, with scratch first, since every gain is against it."""
    return [BASELINE] + [n for n in names if n != BASELINE]


def applicable(names: tuple[str, ...] | list[str], same_classes: bool) -> list[str]:
    """The strategies of `names`, in their order, that apply to a pair of domains: source only
    only where source and target have the same classes (the source head names them)."""
    return [n for n in names if n != SOURCE_ONLY or same_classes]


def dash(name: str) -> str:
    """The line style of a strategy's model on a chart: source only's dotted (never trained on
    the target), every other solid."""
    return "dot" if name == SOURCE_ONLY else "solid"
