"""The CNN demo's pictures and the sentence under its model view.

The samples figure draws source and target digits as the net sees them (8x8 ink); the model view
draws the first-layer filters before and after a strategy's target training, their change, and
target digits it got wrong; the confusion matrix counts a strategy's answers on the target test
set. Everything is drawn from a RunResult and the demo's data: nothing here trains.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from itertools import zip_longest
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from torch import nn

from tl_core import narrate, plots
from tl_core.demos import cnn_data
from tl_core.result import RunResult, StrategyResult
from tl_core.strategies import label
from tl_core.userdata import ImageData, literal


def _digit_trace(
    image: Any, zmin: float = 0.0, zmax: float = 16.0, colorscale: str = "gray_r", name: str = ""
) -> go.Heatmap:
    return go.Heatmap(
        z=np.asarray(image, dtype=float).reshape(-1, np.asarray(image).shape[-1]),
        zmin=zmin,
        zmax=zmax,
        colorscale=colorscale,
        showscale=False,
        name=name,
        hovertemplate="%{z:.1f}<extra>" + name + "</extra>",
    )


def _pixel_grid(
    rows: list[list[go.Heatmap | go.Image]],
    titles: list[list[str]],
    spacing: tuple[float, float],
    **layout: Any,
) -> go.Figure:
    """Rows of images as a grid of bare square pixels: no ticks, an image's row 0 at the top,
    each y axis scaled to its own x axis. `titles` names each cell (the same shape, "" for none);
    `spacing` is plotly's (horizontal, vertical) between cells; then `layout` (the title, the
    size...).

    The figure is made in one go from the traces and a grid laid out once per shape by plotly's
    make_subplots: adding 40 images one by one (each addition validated and the grid looked up
    again), then restyling their axes, took six times as long, at every page of the CNN."""
    cols = max(map(len, rows))
    axes, cells = _grid(len(rows), cols, *spacing)
    data, annotations = [], []
    for r, (traces, names) in enumerate(zip(rows, titles, strict=True)):
        for c, (trace, title) in enumerate(zip_longest(traces, names)):
            cell = r * cols + c + 1
            if trace is not None:
                data.append(trace.update(xaxis=f"x{cell}", yaxis=f"y{cell}"))
            if title:
                annotations.append({**cells[cell - 1], "text": title})
    return go.Figure(data=data, layout={**axes, "annotations": annotations, **layout})


@lru_cache(maxsize=8)
def _grid(rows: int, cols: int, horizontal: float, vertical: float) -> tuple[dict, tuple[dict, ...]]:
    """make_subplots' grid of `rows` x `cols` cells as plain layout: the bare axes (see
    _pixel_grid) and each cell's title annotation, text to be filled in, row by row. Read-only:
    plotly copies what a figure is given."""
    layout = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=["-"] * (rows * cols),
        horizontal_spacing=horizontal,
        vertical_spacing=vertical,
    ).layout.to_plotly_json()
    bare = dict(showticklabels=False, showgrid=False, zeroline=False, constrain="domain")
    axes = {}
    for name, axis in layout.items():
        if re.fullmatch(r"xaxis\d*", name):
            axes[name] = {**axis, **bare}
        elif re.fullmatch(r"yaxis\d*", name):
            axes[name] = {**axis, **bare, "autorange": "reversed", "scaleanchor": axis.get("anchor")}
    return axes, tuple(layout["annotations"])


DOMAIN_WORDS = {
    "sim2real": ("printed digits rendered from fonts", "handwritten digits"),
    "new_classes": ("handwritten digits 0-4", "handwritten digits 5-9"),
    "shift": ("handwritten digits", "transformed handwritten digits"),
}


def _examples(digits: cnn_data.Digits, count: int) -> tuple[np.ndarray, list[str]]:
    """`count` test digits, the classes in turn (0, 1, ..., 0, 1, ...), and their names."""
    k = len(digits.classes)
    per_class = [np.flatnonzero(digits.y_test == c)[: -(-count // k)] for c in range(k)]
    picks = [per_class[c][r] for r in range(-(-count // k)) for c in range(k)][:count]
    return digits.x_test[picks], [str(digits.classes[digits.y_test[i]]) for i in picks]


def _user_examples(data: ImageData, count: int) -> list[int]:
    """Indices of up to `count` of the user's images, the classes in turn (a, b, c, a, ...)."""
    per_class = [np.flatnonzero(data.labels == c) for c in range(len(data.class_names))]
    picks = [members[r] for r in range(max(map(len, per_class))) for members in per_class if r < len(members)]
    return picks[:count]


def _short(name: str, width: int = 12) -> str:
    """A class name short enough for a thumbnail's title, as plotly text (cut, then literal)."""
    return literal(name if len(name) <= width else name[: width - 1] + "…")


def _photo_trace(image: np.ndarray, name: str) -> go.Image:
    return go.Image(z=np.asarray(image), name=name, hovertemplate=f"<extra>{name}</extra>")


def samples_figure(
    config: Any, source: cnn_data.Digits, data: ImageData | None = None, ink: np.ndarray | None = None
) -> go.Figure:
    """Ten source digits (top row) above ten target digits (bottom row), as the net sees them
    (8x8, ink 0..16), so the gap between the domains is visible. `config`: the demo's Config;
    `source`: its source digits.

    With `data`: the source digits (top), ten of your images, the classes in turn (middle, as
    uploaded, resized), and the same images as the net sees them (bottom: `ink`, the images as
    8x8 grey ink)."""
    source_images, source_labels = _examples(source, 10)
    source_words, target_words = DOMAIN_WORDS[config.scenario]
    if data is not None:
        return _user_samples_figure(source_images, source_labels, source_words, data, ink)
    target = cnn_data.target_digits(config.scenario, config.gap, config.seed)
    target_images, target_labels = _examples(target, 10)
    digits = [
        [_digit_trace(image, name=words) for image in images]
        for images, words in ((source_images, "source"), (target_images, "target"))
    ]
    gap_words = f" (gap {config.gap:g})" if config.scenario == "shift" else ""
    return _pixel_grid(
        digits,
        [source_labels, target_labels],
        (0.01, 0.12),
        template="plotly_white",
        height=320,
        margin=dict(l=20, r=20, t=80, b=10),
        title=f"Top: source, {source_words}. Bottom: target, {target_words}{gap_words}",
    )


def _user_samples_figure(
    source_images: np.ndarray, source_labels: list[str], source_words: str, data: ImageData, ink: np.ndarray
) -> go.Figure:
    picks = _user_examples(data, 10)
    names = [_short(data.class_names[data.labels[i]]) for i in picks]
    rows = [
        [_digit_trace(image, name="source") for image in source_images],
        [_photo_trace(data.images[i], "your image") for i in picks],
        [_digit_trace(ink[i], name="target") for i in picks],
    ]
    k = len(data.class_names)
    # A two-line title: room for it above the digits' column labels
    return _pixel_grid(
        rows,
        [source_labels, names, []],
        (0.01, 0.1),
        template="plotly_white",
        height=470,
        margin=dict(l=20, r=20, t=110, b=10),
        title=f"Top: source, {source_words}. Middle: target, your images "
        f"({literal(data.name)}, {k} classes).<br>Bottom: the same images as the net "
        f"sees them (8x8 grey ink)",
    )


def _pick(result: RunResult, strategy: str | None) -> StrategyResult:
    """The strategy asked for, by default the one best on the target (as the page's sentences
    name it: RunResult.ranked)."""
    return result.strategy(strategy) if strategy is not None else result.ranked()[0]


def _matches(result: RunResult, data: ImageData | None) -> bool:
    """Whether `data` is the data `result` was run on."""
    used = result.extras.get("user_data") or {}
    return data is not None and used.get("fingerprint") == data.fingerprint


def model_figure(result: RunResult, strategy: str | None = None, data: ImageData | None = None) -> go.Figure:
    """The model view: the source model's first-layer filters (row 1), the same filters after
    the strategy's target training (row 2; by default the strategy best on the target), the
    change, after − before, on a scale of its own (row 3: a 12% change is invisible on the
    filters' scale), and target digits the strategy got wrong, titled "true→predicted" (row 4),
    with the user's class names when the result was run on their images. Given those images
    (`data`), row 4 shows them as uploaded rather than as the net's 8x8 input."""
    chosen = _pick(result, strategy)
    source_filters = result.extras["source_filters"]
    filters = chosen.extras.get("filters", source_filters)
    wrong = chosen.extras.get("misclassified", [])
    classes = result.extras["target_classes"]
    scale = max(abs(v) for f in source_filters + filters for row in f for v in row)
    change = np.asarray(filters) - np.asarray(source_filters)
    largest = max(float(np.abs(change).max()), 1e-12)  # a frozen layer: all zero, drawn blank
    originals = None
    if _matches(result, data):  # the test images' places in the upload: the run's own split
        _, tested = cnn_data.user_split(
            data.labels, data.class_names, result.config["n_target"], result.config["seed"]
        )
        originals = data.images[tested]
    rows = [
        [_digit_trace(weights, -scale, scale, "RdBu", "source filter") for weights in source_filters],
        [_digit_trace(weights, -scale, scale, "RdBu", "after transfer") for weights in filters],
        [_digit_trace(weights, -largest, largest, "PiYG", "change") for weights in change],
        [
            _photo_trace(originals[w["index"]], "misclassified")
            if originals is not None
            else _digit_trace(np.asarray(w["input"])[0] * 16.0, name="misclassified")
            for w in wrong
        ],
    ]
    # Two lines, true over predicted: class names side by side would overlap in a column this narrow
    wrong_titles = [
        f"{_short(str(classes[w['true']]), 8)}<br>→{_short(str(classes[w['predicted']]), 8)}" for w in wrong
    ]
    what = "your test images" if "user_data" in result.extras else "target digits"
    return _pixel_grid(
        rows,
        [[], [], [], wrong_titles],
        (0.005, 0.06),
        template="plotly_white",
        height=540,
        margin=dict(l=20, r=20, t=80, b=10),
        title=f"First-layer filters: source model (row 1), after {label(chosen.strategy).lower()} "
        f"(row 2), the change, after − before, magnified to its largest ±{largest:.2f} (row 3);<br>"
        f"{what} it got wrong, true→predicted (row 4)",
    )


def describe_model(result: RunResult, make_model: Callable[[int], nn.Module]) -> str:
    """One sentence under the model view, computed from the filters it shows: how far the best
    strategy moved the source model's first-layer filters, and the best and worst strategies.
    `make_model(n_classes)`: a fresh net of the demo's, whose blocks the sentence counts."""
    chosen = result.ranked()[0]
    source = np.asarray(result.extras["source_filters"])
    after = np.asarray(chosen.extras.get("filters", source))
    name = label(chosen.strategy)
    if chosen.strategy == "scratch":
        first = f"{name} learnt its own first-layer filters, from the target alone"
    elif np.array_equal(after, source):
        first = f"{name} kept the source model's first-layer filters exactly (that layer stays frozen)"
    else:
        change = np.abs(after - source).mean() / max(np.abs(source).mean(), 1e-12)
        first = (
            f"{name} moved the source model's first-layer filters by {change:.0%} on "
            f"average (mean absolute change, relative to their mean size; row 3 shows it magnified)"
        )
    return " ".join(
        filter(None, [f"{first}.", narrate.describe_best_and_worst(result), _alike(result, make_model)])
    )


def _alike(result: RunResult, make_model: Callable[[int], nn.Module]) -> str:
    """Why partial fine-tune and fine-tune can score the same, when they do on the page's
    precision: the frozen first block is a small part of the net, and fine-tuning itself barely
    moves it, so both adapt the rest of the net the same way ("" when they differ)."""
    if not {"partial_fine_tune", "fine_tune"} <= set(result.names()):
        return ""
    partial, full = result.strategy("partial_fine_tune"), result.strategy("fine_tune")
    partial_score, full_score = (narrate.fmt(s.target_metric, "accuracy") for s in (partial, full))
    if partial_score != full_score:
        return ""
    k = result.config["partial_blocks"]
    net = make_model(len(result.extras["target_classes"]))
    frozen = sum(p.numel() for block in list(net.blocks.values())[:k] for p in block.parameters())
    total = sum(p.numel() for p in net.parameters())
    *others, last = list(net.blocks)[:k]
    blocks = f"{', '.join(others)} and {last}" if others else last
    scores = f"target {partial_score} and {full_score}"
    why = f"partial fine-tune freezes only {blocks}, {frozen} of the net's {total} weights"
    if k == 1:  # the frozen block is the first layer the figure draws: say how far fine-tuning moved it
        source = np.asarray(result.extras["source_filters"])
        moved = np.abs(np.asarray(full.extras["filters"]) - source).mean() / max(np.abs(source).mean(), 1e-12)
        why += f", and fine-tuning moves those first-layer filters by just {moved:.0%}"
    return (
        f"Partial fine-tune and fine-tune score alike here ({scores}): {why}, so both train the rest "
        "of the net alike; freeze more blocks (More settings) to set them apart."
    )


def confusion_figure(
    result: RunResult, strategy: str | None = None, data: ImageData | None = None
) -> go.Figure:
    """The strategy's confusion matrix on the target test set: rows true class, columns
    predicted, named by the result's target classes (the user's folder names when it was run
    on their images; `data` is taken for a uniform interface and not needed)."""
    chosen = _pick(result, strategy)
    matrix = np.asarray(chosen.extras["confusion_matrix"])
    names = [literal(c) for c in result.extras["target_classes"]]
    what = "your test images" if "user_data" in result.extras else "target test digits"
    title = f"{label(chosen.strategy)}: {what} (accuracy {chosen.target_metric:.0%})"
    return plots.confusion_heatmap(matrix, names, title)
