"""The five lessons, and where each demo shows them: the README's lesson table is written from
this declaration, and tests/test_lessons.py checks every cell, as a mean over seeds that no
default was tuned on.

A cell names the scenario and the control that show its lesson, says what the page then shows,
and lists the strategies the claim is about, so that the test checks exactly what the table
says. What the criteria are, lesson by lesson (the test's docstrings give the numbers):

1. at the default number of target labels, each of `gain` beats scratch on the target;
2. each of `gain` gains less at the largest stop of the page's data-efficiency sweep than at the
   default number of labels;
3. in the cell's scenario, each of `gain` gains less at gap 1 than at gap 0, and each of `below`
   is below scratch at gap 1;
4. each of `forgets` ends below the source model's own source score, each of `keeps` keeps it;
5. linear models: λ = 0 gives scratch's numbers and λ at its top source only's; networks: λ = 0
   gives fine-tune's numbers and λ at its top keeps the source model's source accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass

LESSONS = {
    1: "With few target labels, transfer beats scratch on the target.",
    2: "As target labels grow, scratch catches up and the gain shrinks.",
    3: "As the gap grows, the gain shrinks and turns negative (negative transfer).",
    4: "Fine-tuning gains on the target while losing accuracy on the source (forgetting); feature "
    "extraction keeps the source accuracy.",
    5: "λ trades the two. Linear models: λ = 0 is scratch, λ large is the source model. Networks "
    "(L2-SP): λ = 0 is plain fine-tuning, λ large keeps the transferred weights where the source "
    "left them (like feature extraction).",
}
DEMO_TITLES = {"linear": "Linear regression", "logistic": "Logistic regression", "cnn": "CNN", "rnn": "RNN"}
SCENARIO_WORDS = {"sim2real": "sim-to-real", "new_classes": "new classes"}
NETWORKS = ("cnn", "rnn")  # λ = 0 is fine-tuning there (L2-SP); elsewhere it is scratch


@dataclass(frozen=True)
class Cell:
    """Where one demo shows one lesson, and what the claim is about (see the module docstring)."""

    lesson: int
    demo: str
    scenario: str
    control: str  # what to set or run on the page
    shows: str  # what the page then shows, in the README's words
    gain: tuple[str, ...] = ()  # lessons 1-3: the strategies whose gain over scratch is claimed
    below: tuple[str, ...] = ()  # lesson 3: the strategies below scratch at gap 1
    forgets: tuple[str, ...] = ()  # lesson 4: strategies that lose source accuracy
    keeps: tuple[str, ...] = ()  # lesson 4: strategies that keep the source model's


CELLS = (
    # 1 · few labels
    Cell(
        1,
        "linear",
        "synthetic",
        "the defaults: 5 labelled target samples",
        "fine-tune and regularized transfer beat scratch on the target",
        gain=("fine_tune", "regularized"),
    ),
    Cell(
        1,
        "logistic",
        "synthetic",
        "the defaults: 3 labels per class",
        "fine-tune, regularized transfer and joint training beat scratch",
        gain=("fine_tune", "regularized", "joint"),
    ),
    Cell(
        1,
        "cnn",
        "sim2real",
        "the defaults: 2 labels per class",
        "feature extraction and fine-tune beat scratch",
        gain=("feature_extraction", "fine_tune"),
    ),
    Cell(
        1,
        "rnn",
        "new_classes",
        "the defaults: 5 labels per class",
        "feature extraction and fine-tune beat scratch",
        gain=("feature_extraction", "fine_tune"),
    ),
    # 2 · more labels
    Cell(
        2,
        "linear",
        "synthetic",
        "Run the data-efficiency sweep (2 to 100 samples)",
        "the gain of fine-tune and regularized transfer is smaller at 100 samples than at 5",
        gain=("fine_tune", "regularized"),
    ),
    Cell(
        2,
        "logistic",
        "synthetic",
        "Run the data-efficiency sweep (1 to 50 per class)",
        "the gain of fine-tune and regularized transfer is smaller at 50 per class than at 3",
        gain=("fine_tune", "regularized"),
    ),
    Cell(
        2,
        "cnn",
        "sim2real",
        "Run the data-efficiency sweep (1 to 20 per class)",
        "the gain of feature extraction and fine-tune is smaller at 20 per class than at 2",
        gain=("feature_extraction", "fine_tune"),
    ),
    Cell(
        2,
        "rnn",
        "new_classes",
        "Run the data-efficiency sweep (1 to 50 per class)",
        "the gain of feature extraction and fine-tune is smaller at 50 per class than at 5",
        gain=("feature_extraction", "fine_tune"),
    ),
    # 3 · a wider gap
    Cell(
        3,
        "linear",
        "synthetic",
        "gap from 0 to 1, or Run the gap sweep",
        "fine-tune's gain is smaller at gap 1 than at 0; at gap 1 source only and fine-tune are "
        "below scratch",
        gain=("fine_tune",),
        below=("source_only", "fine_tune"),
    ),
    Cell(
        3,
        "logistic",
        "synthetic",
        "gap from 0 (the same boundary) to 1 (turned 90°), or Run the gap sweep",
        "fine-tune's gain is smaller at gap 1 than at 0; at gap 1 source only and fine-tune are "
        "below scratch",
        gain=("fine_tune",),
        below=("source_only", "fine_tune"),
    ),
    Cell(
        3,
        "cnn",
        "shift",
        "scenario shift, gap from 0 to 1 (rotated, blurred, inverted, noisy digits)",
        "the gain of feature extraction and fine-tune is smaller at gap 1 than at 0; at gap 1 source "
        "only, feature extraction and fine-tune are below scratch",
        gain=("feature_extraction", "fine_tune"),
        below=("source_only", "feature_extraction", "fine_tune"),
    ),
    Cell(
        3,
        "rnn",
        "shift",
        "scenario shift, gap from 0 to 1 (stronger noise, shear, scale)",
        "the gain of fine-tune is smaller at gap 1 than at 0; at gap 1 source only is below scratch",
        gain=("fine_tune",),
        below=("source_only",),
    ),
    # 4 · forgetting
    Cell(
        4,
        "linear",
        "synthetic",
        "the defaults: source R² of each strategy (section 3)",
        "fine-tune's source R² falls below the source model's; feature extraction does not apply "
        "(a line has no hidden features to freeze, only its slope and intercept)",
        forgets=("fine_tune",),
    ),
    Cell(
        4,
        "logistic",
        "synthetic",
        "the defaults: source accuracy of each strategy (section 3)",
        "fine-tune's source accuracy falls below the source model's; feature extraction does not "
        "apply (a boundary w·x + b has no hidden features to freeze)",
        forgets=("fine_tune",),
    ),
    Cell(
        4,
        "cnn",
        "sim2real",
        "the defaults: source accuracy of each strategy (section 3)",
        "fine-tune's source accuracy falls below the source model's; feature extraction keeps it",
        forgets=("fine_tune",),
        keeps=("feature_extraction",),
    ),
    Cell(
        4,
        "rnn",
        "new_classes",
        "the defaults: source accuracy of each strategy (section 3)",
        "fine-tune's source accuracy falls below the source model's; feature extraction keeps it",
        forgets=("fine_tune",),
        keeps=("feature_extraction",),
    ),
    # 5 · λ
    Cell(
        5,
        "linear",
        "synthetic",
        "λ from 0 to 10000",
        "regularized transfer at λ = 0 is scratch's line, at 10000 source only's",
    ),
    Cell(
        5,
        "logistic",
        "synthetic",
        "λ from 0 to 10000",
        "regularized transfer at λ = 0 is scratch's boundary, at 10000 source only's",
    ),
    Cell(
        5,
        "cnn",
        "sim2real",
        "λ from 0 to 1000",
        "regularized transfer at λ = 0 is fine-tune; at 1000 its source accuracy stays at the source model's",
    ),
    Cell(
        5,
        "rnn",
        "new_classes",
        "λ from 0 to 100",
        "regularized transfer at λ = 0 is fine-tune; at 100 its source accuracy stays at the source model's",
    ),
)


def gap_scenario(demo: str) -> str:
    """The scenario in which `demo` shows lesson 3 (its gap sweep's)."""
    return next(c.scenario for c in CELLS if c.demo == demo and c.lesson == 3)


SEEDS = tuple(range(1000, 1010))  # the seeds the tests measure on: far from every default's


def markdown() -> str:
    """The README's lessons: the five, then the table of where each demo shows them."""
    lessons = "\n".join(f"{n}. {text}" for n, text in LESSONS.items())
    rows = ["| lesson | demo | scenario | control | what it shows |", "|---|---|---|---|---|"]
    for cell in sorted(CELLS, key=lambda c: (c.lesson, list(DEMO_TITLES).index(c.demo))):
        lesson = f"{cell.lesson}" if cell is _first_of(cell.lesson) else ""
        scenario = SCENARIO_WORDS.get(cell.scenario, cell.scenario)
        rows.append(f"| {lesson} | {DEMO_TITLES[cell.demo]} | {scenario} | {cell.control} | {cell.shows} |")
    return (
        f"{lessons}\n\nWhere each demo shows them (every cell is checked by `tests/test_lessons.py` as "
        f"a mean over seeds {SEEDS[0]} to {SEEDS[-1]}, none of which any default was tuned on):\n\n"
        + "\n".join(rows)
    )


def _first_of(lesson: int) -> Cell:
    return min((c for c in CELLS if c.lesson == lesson), key=lambda c: list(DEMO_TITLES).index(c.demo))
