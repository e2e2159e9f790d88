"""The words a student meets on a page, each with one sentence and a link to its Theory section.

Every strategy name in a control or a chart's legend, and every metric and loss in a headline or a
table, carries its sentence (a tooltip, or a popover beside the legend) and a link to the part
of the Theory page that gives its maths. The Theory page puts its sections at these anchors, so a
link cannot point nowhere (tests check both ends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import streamlit as st

from tl_core import strategies

THEORY_PATH = "theory"  # relative: right under any base URL the server is given


@dataclass(frozen=True)
class Term:
    words: str  # as the page writes it
    sentence: str  # what it is, in one sentence
    anchor: str  # the Theory section that has its maths


STRATEGY_TERMS = {
    "scratch": Term(
        strategies.label("scratch"),
        "a fresh model trained on the target's few labels alone: the baseline every gain is measured against",
        "scratch-and-source-only",
    ),
    "source_only": Term(
        strategies.label("source_only"),
        "the source model applied to the target as it is, with no target training at all",
        "scratch-and-source-only",
    ),
    "feature_extraction": Term(
        strategies.label("feature_extraction"),
        "the source model's features stay frozen; only a new output layer (the head) learns the target",
        "freezing",
    ),
    "partial_fine_tune": Term(
        strategies.label("partial_fine_tune"),
        "the first blocks of the source network stay frozen; the later blocks and the head learn the target",
        "freezing",
    ),
    "fine_tune": Term(
        strategies.label("fine_tune"),
        "training starts from the source weights and moves all of them to fit the target's labels",
        "fine-tuning",
    ),
    "regularized": Term(
        strategies.label("regularized"),
        "target training with a pull λ‖θ − θ_s‖² toward the source weights: λ sets how far it may move",
        "regularized-transfer",
    ),
    "joint": Term(
        strategies.label("joint"),
        "one model trained on the source and the target data together, the target's few samples "
        "weighted by w",
        "joint-training",
    ),
    "coral": Term(
        strategies.label("coral"),
        "no target labels: the target inputs are re-coloured to the source's mean and covariance, then the "
        "source model reads them",
        "coral",
    ),
}

MEASURE_TERMS = {
    "R²": Term(
        "R²",
        "the share of the target values' spread the model explains: 1 is perfect, 0 is no better than "
        "predicting the mean, below 0 is worse than that",
        "measures",
    ),
    "MSE": Term(
        "MSE",
        "mean squared error, the average squared distance from prediction to truth (lower is better)",
        "measures",
    ),
    "accuracy": Term("accuracy", "the share of test samples the model labels correctly", "measures"),
    "log-loss": Term(
        "log-loss",
        "minus the mean log of the probability the model gave the true label (lower is better; "
        "also called cross-entropy)",
        "measures",
    ),
    "cross-entropy": Term(
        "cross-entropy",
        "minus the mean log of the probability the model gave the true class (lower is better)",
        "measures",
    ),
}

TERMS = {**STRATEGY_TERMS, **MEASURE_TERMS}
ANCHORS = frozenset(term.anchor for term in TERMS.values())  # the Theory page's sections


def link(term: Term) -> str:
    return f"{THEORY_PATH}#{term.anchor}"


def line(name: str) -> str:
    """One Markdown line: the name in bold, its sentence, and a link to its Theory section."""
    term = TERMS[name]
    return f"**{term.words}**: {term.sentence} ([Theory]({link(term)}))."


def lines(names: Iterable[str]) -> str:
    """A Markdown list of `names` (strategies, metrics), each once, in the order given."""
    known = [name for name in dict.fromkeys(names) if name in TERMS]
    return "\n".join(f"- {line(name)}" for name in known)


def help_for(name: str) -> str:
    """A tooltip's text for one term (empty when unknown)."""
    return line(name) if name in TERMS else ""


def strategies_popover(strategies: Iterable[str], key: str) -> None:
    """Beside a legend that names strategies: what each one is, a click away."""
    names = [s for s in dict.fromkeys(strategies) if s in STRATEGY_TERMS]
    if not names:
        return
    with st.popover("What the strategies are", icon=":material/help:", key=key):
        st.markdown(lines(names))
