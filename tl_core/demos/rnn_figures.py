"""The RNN demo's pictures and the sentence under its model view.

The samples figure stacks source and target sequences, one per digit (or per class of a user's
data); the model view draws hidden-state paths h_1..h_T of the source model's recurrent layers in
the 2-D plane that best spreads them, beside target sequences the best strategy got wrong; the
confusion matrix counts a strategy's answers on the target test set. Everything is drawn from a
RunResult and the demo's data: nothing here trains. The paths themselves a run computes for its
result, with :func:`digit_paths` or :func:`user_paths` (one forward pass and a PCA).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch import nn

from tl_core import plots
from tl_core.demos import rnn_data
from tl_core.result import RunResult
from tl_core.strategies import label
from tl_core.userdata import SequenceData, for_figures, literal

MAX_CLASSES_SHOWN = 10  # a user's classes drawn in the samples figure and the hidden paths
N_PATHS_PER_CLASS = 1  # hidden-state paths drawn per digit in the model view
N_PCA_SEQUENCES = 200  # test sequences of each domain whose hidden states fit the 2-D projection

DIGIT_COLORS = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)  # one colour per digit
SAMPLE_OFFSET = 3.0  # vertical space between stacked sequences in the samples figure
N_MISCLASSIFIED_SHOWN = 4
# A user's classes get their own colours, so that no class looks like the digit of that colour.
CLASS_COLORS = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
    "#17becf",
    "#8c564b",
)


def _path_label(p: dict) -> tuple[str, str]:
    """(words, colour) of a hidden path: a digit of MNIST-1D or a class of the user's data."""
    if "digit" in p:
        return f"digit {p['digit']}", DIGIT_COLORS[p["digit"]]
    return f"class {literal(p['name'])}", CLASS_COLORS[p["class"] % len(CLASS_COLORS)]


def _target_names(result: RunResult) -> list[str]:
    """What each target class index stands for, as a figure shows it: a digit, or the name of a
    user's class (literal: plotly would render a name such as <b> as markup)."""
    return [literal(name) for name in result.extras.get("target_classes") or result.extras["target_digits"]]


def _target_color(result: RunResult, index: int) -> str:
    if "target_classes" in result.extras:
        return CLASS_COLORS[index % len(CLASS_COLORS)]
    return DIGIT_COLORS[result.extras["target_digits"][index]]


def _panel_titles(config: Any) -> tuple[str, str]:
    if config.scenario == "new_classes":
        return ("Source: digits 0-4", f"Target: new digits 5-9, {config.n_target} labelled each")
    return (
        "Source: MNIST-1D as published",
        f"Target: gap {config.gap:g}, drawn {rnn_data.target_scale(config.gap):g}x as large",
    )


def samples_figure(config: Any, data: rnn_data.Domains) -> go.Figure:
    """One test sequence of each digit from the source (left) and the target (right), of the
    scenario's MNIST-1D `data` (`config`: the demo's Config).

    Sequences are stacked, one digit per row, so their shapes can be compared; in ``shift`` the
    same digit sits on the same row on both sides, so the gap is visible.
    """
    # Rows far enough apart for the largest sequences: in shift the target's are drawn larger.
    offset = SAMPLE_OFFSET * (rnn_data.target_scale(config.gap) if config.scenario == "shift" else 1.0)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=_panel_titles(config))
    listed = set()  # digits already in the legend: in shift both panels draw all ten
    for col, split, digits in (
        (1, data.source_test, data.source_digits),
        (2, data.target_test, data.target_digits),
    ):
        for c, digit in enumerate(digits):
            x = split.x[np.flatnonzero(split.y == c)[0]]
            row = digit % 5 if config.scenario == "new_classes" else digit
            fig.add_trace(
                go.Scatter(
                    x=np.arange(len(x)),
                    y=x - offset * row,
                    mode="lines",
                    name=f"digit {digit}",
                    legendgroup=f"digit {digit}",  # one entry shows or hides the digit on both sides
                    showlegend=digit not in listed,
                    line=dict(color=DIGIT_COLORS[digit], width=2),
                    hovertemplate=f"digit {digit}<br>step %{{x}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            listed.add(digit)
    rows = 5 if config.scenario == "new_classes" else 10
    fig.update_yaxes(
        tickvals=[-offset * r for r in range(rows)],
        ticktext=[f"row {r}" for r in range(rows)],
        showticklabels=False,
    )
    fig.update_xaxes(title_text="time step t")
    fig.update_layout(
        template="plotly_white",
        title="Source and target sequences (one per digit)",
        legend=plots.LEGEND_BELOW,
    )
    return fig


def user_samples_figure(
    config: Any, builtin: rnn_data.Domains, split: rnn_data.UserTarget, data: SequenceData
) -> go.Figure:
    """MNIST-1D source sequences (of `builtin`, the scenario's data), one per digit (left),
    beside the user's: the first labelled sequence of each class (at most MAX_CLASSES_SHOWN),
    over its own steps and scaled to the source's range as the models read it (right; `split`:
    the user's target for `config`)."""
    data = for_figures(data)
    classes = data.class_names
    source_words = (
        "Source: MNIST-1D digits 0-4" if config.scenario == "new_classes" else "Source: MNIST-1D, ten digits"
    )
    target_words = f"Target: your sequences, {len(classes)} classes, {config.n_target} labelled each"
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=(source_words, target_words))
    for c, digit in enumerate(builtin.source_digits):
        x = builtin.source_test.x[np.flatnonzero(builtin.source_test.y == c)[0]]
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(x)),
                y=x - SAMPLE_OFFSET * c,
                mode="lines",
                name=f"digit {digit}",
                line=dict(color=DIGIT_COLORS[digit], width=2),
                hovertemplate=f"digit {digit}<br>step %{{x}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    for c, name in enumerate(classes[:MAX_CLASSES_SHOWN]):
        row = int(np.flatnonzero(split.train.y == c)[0])
        x = split.train.x[row][: data.lengths[split.labelled[row]]]
        color = CLASS_COLORS[c % len(CLASS_COLORS)]
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(x)),
                y=x - SAMPLE_OFFSET * c,
                mode="lines",
                name=f"class {name}",
                line=dict(color=color, width=2),
                hovertemplate=f"class {name}<br>step %{{x}}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    rows = max(len(builtin.source_digits), min(len(classes), MAX_CLASSES_SHOWN))
    fig.update_yaxes(
        tickvals=[-SAMPLE_OFFSET * r for r in range(rows)],
        ticktext=[f"row {r}" for r in range(rows)],
        showticklabels=False,
    )
    fig.update_xaxes(title_text="time step t")
    shown = "" if len(classes) <= MAX_CLASSES_SHOWN else f", the first {MAX_CLASSES_SHOWN} classes"
    fig.update_layout(
        template="plotly_white",
        title=f"Source sequences (one per digit) and yours ({data.name}, one per "
        f"class{shown}; scaled to the source's range)",
        legend=plots.LEGEND_BELOW,
    )
    return fig


def model_figure(result: RunResult, data: SequenceData | None = None) -> go.Figure:
    """Hidden-state paths h_1..h_T of source and target test sequences, and what went wrong.

    Left and middle: each line is one sequence read by the source model's recurrent layers,
    projected to the 2-D plane (PCA) that best spreads both domains' states; the big marker is
    the mean state h̄, what the dense layer and head read (PCA is linear: the mean of the
    projected steps is the projection of h̄). Where the target digits' means lie apart, frozen
    features (feature extraction) already separate them; where they lie on top of each other,
    the layers must be fine-tuned. Right: target test sequences the best strategy
    got wrong, labelled true → predicted. A run on a user's data carries the user's sequences
    in its extras; `data` is accepted for the demo interface and not needed.
    """
    paths = result.extras["hidden_paths"]
    explained = paths["explained_variance"]
    best = result.ranked()[0]
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.35, 0.35, 0.3],
        subplot_titles=(
            "Source sequences' hidden states",
            "Your sequences' hidden states"
            if "target_classes" in result.extras
            else "Target sequences' hidden states",
            f"Misclassified by {label(best.strategy).lower()}",
        ),
    )
    for col, domain in ((1, "source"), (2, "target")):
        for p in paths[domain]:
            xy = np.asarray(p["path"])
            words, color = _path_label(p)
            fig.add_trace(
                go.Scatter(
                    x=xy[:, 0],
                    y=xy[:, 1],
                    mode="lines+markers",
                    name=f"{domain} {words}",
                    legendgroup=f"{domain} {words}",
                    line=dict(color=color, width=2),
                    marker=dict(size=3, color=color),
                    hovertemplate=f"{domain} {words}<br>step %{{pointNumber}}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            mean = xy.mean(axis=0)
            fig.add_trace(
                go.Scatter(
                    x=[mean[0]],
                    y=[mean[1]],
                    mode="markers",
                    name=f"mean state of {domain} {words}",
                    legendgroup=f"{domain} {words}",
                    showlegend=False,
                    marker=dict(size=13, color=color, symbol="circle" if domain == "source" else "diamond"),
                    hovertemplate=f"{domain} {words}: mean state<extra></extra>",
                ),
                row=1,
                col=col,
            )
    digits = _target_names(result)
    mistakes = best.extras.get("misclassified", [])[:N_MISCLASSIFIED_SHOWN]
    if not mistakes:  # an empty panel would look broken. In paper coordinates: plotly.js drops
        # the axes of a panel with no trace, and an "x3 domain" reference with them.
        fig.add_annotation(
            text="no test sequence misclassified",
            showarrow=False,
            xref="paper",
            yref="paper",
            x=sum(fig.layout.xaxis3.domain) / 2,
            y=sum(fig.layout.yaxis3.domain) / 2,
        )
    for row, example in enumerate(mistakes):
        x = np.asarray(example["input"])
        true, predicted = digits[example["true"]], digits[example["predicted"]]
        fig.add_trace(
            go.Scatter(
                x=np.arange(len(x)),
                y=x - SAMPLE_OFFSET * row,
                mode="lines",
                showlegend=False,
                name=f"{true} → {predicted}",
                line=dict(color=_target_color(result, example["true"]), width=2),
                hovertemplate=f"true {true}, predicted {predicted}<extra></extra>",
            ),
            row=1,
            col=3,
        )
    for col in (1, 2):
        fig.update_xaxes(title_text=f"PC 1 ({explained[0]:.0%} of variance)", row=1, col=col)
        fig.update_yaxes(title_text=f"PC 2 ({explained[1]:.0%})", row=1, col=col)
    fig.update_xaxes(matches="x", row=1, col=2)  # one plane: the same scale on both panels
    fig.update_yaxes(matches="y", row=1, col=2)
    fig.update_xaxes(title_text="time step t", row=1, col=3)
    # Each row named on the axis, true → predicted (as the samples figure names its rows): the
    # offsets that stack the sequences are no values to read, and a label inside the panel hid
    # the end of a sequence.
    fig.update_yaxes(
        tickvals=[-SAMPLE_OFFSET * row for row in range(len(mistakes))],
        ticktext=[f"{digits[m['true']]} → {digits[m['predicted']]}" for m in mistakes],
        row=1,
        col=3,
    )
    fig.update_layout(
        template="plotly_white",
        title="Inside the source model: hidden-state paths (big marker: their mean, what the head reads)",
        legend=plots.LEGEND_BELOW,
    )
    return fig


def describe_model(result: RunResult) -> str:
    """One sentence under the model view, computed from the paths and the scores shown."""
    ends = {  # the mean states, what the dense layer reads
        d: np.array([np.mean(p["path"], axis=0) for p in result.extras["hidden_paths"][d]])
        for d in ("source", "target")
    }

    def spread(points):  # mean distance between the mean states of different digits
        gaps = np.linalg.norm(points[:, None] - points[None], axis=-1)
        return float(gaps[np.triu_indices(len(points), 1)].mean())

    ratio = spread(ends["target"]) / max(spread(ends["source"]), 1e-9)
    best = result.ranked()[0]
    target = "your classes" if "target_classes" in result.extras else "the target digits"
    sentence = (
        f"In the source model's plane (by PCA: the two directions in which its hidden "
        f"states vary most), the mean states of {target} lie {ratio:.1f} times as far "
        f"apart as those of the source digits"
    )
    if "feature_extraction" in result.names():  # what the features really tell apart: a head on them
        read, source = (
            result.strategy("feature_extraction").target_metric,
            result.extras["source_model_metric"],
        )
        how = (
            "about as well as"
            if read >= source - 0.1
            else "less well than"
            if read >= source / 2
            else "far less well than"
        )
        sentence += (
            f"; read as they are, they tell {target} apart {how} the source digits: feature "
            f"extraction reaches {read:.0%} on the target, the source model {source:.0%} on its own task"
        )
    else:  # only the spread to go by
        sentence += (
            ": by that measure the source features tell them apart less well"
            if ratio < 0.9
            else ": by that measure the source features separate them about as well"
            if ratio <= 1.1
            else ": by that measure the source features separate them even better"
        )
    return sentence + (f". Best on the target: {label(best.strategy).lower()} ({best.target_metric:.0%}).")


def confusion_figure(
    result: RunResult, strategy: str | None = None, data: SequenceData | None = None
) -> go.Figure:
    """A strategy's confusion matrix on the target test set (rows true digit, columns predicted);
    by default the strategy best on the target. On a user's data the rows and columns are the
    user's classes (`data` is accepted for the demo interface; the result carries their names)."""
    chosen = result.strategy(strategy) if strategy else result.ranked()[0]
    matrix = np.asarray(chosen.extras["confusion_matrix"])
    names = [str(d) for d in _target_names(result)]
    what = "class" if "target_classes" in result.extras else "digit"
    title = f"{label(chosen.strategy)}: target test sequences (accuracy {chosen.target_metric:.0%})"
    return plots.confusion_heatmap(matrix, names, title, noun=what)


# ----------------------------------------------------------------------------------------------
# Hidden-state paths, computed by a run for its result's extras


def digit_paths(model: nn.Module, source: tuple, target: tuple) -> dict:
    """The model view's hidden-state paths on MNIST-1D: the source `model`'s states h_1..h_T of
    the first N_PATHS_PER_CLASS test sequences of each digit, source and target, in one 2-D
    plane (see _project). `source`, `target`: a domain's (test inputs on the model's device,
    their labels, the digits the labels index)."""
    (source_x, source_y, source_digits), (target_x, target_y, target_digits) = source, target
    states = {"source": _states(model, source_x), "target": _states(model, target_x)}
    shown = {"source": _per_digit(source_y, source_digits), "target": _per_digit(target_y, target_digits)}
    return _project(states, shown)


def user_paths(model: nn.Module, source: tuple, target: tuple) -> dict:
    """As :func:`digit_paths`, `target` being a user's test sequences (numpy inputs scaled as the
    models read them, their labels, the class names): the first of each class, for at most
    MAX_CLASSES_SHOWN classes, each path naming its "class" index and "name", not a "digit"."""
    (source_x, source_y, source_digits), (target_x, target_y, class_names) = source, target
    shown = [int(np.flatnonzero(target_y == c)[0]) for c in range(len(class_names)) if (target_y == c).any()]
    shown = shown[:MAX_CLASSES_SHOWN]
    fitted = sorted(set(range(min(N_PCA_SEQUENCES, len(target_y)))) | set(shown))  # the rows projected
    inputs = torch.tensor(target_x[fitted], device=source_x.device)
    states = {"source": _states(model, source_x), "target": _states(model, inputs, len(fitted))}
    paths = [
        (fitted.index(i), {"index": i, "class": int(target_y[i]), "name": class_names[target_y[i]]})
        for i in shown
    ]
    return _project(states, {"source": _per_digit(source_y, source_digits), "target": paths})


def _states(model: nn.Module, x: torch.Tensor, rows: int = N_PCA_SEQUENCES) -> np.ndarray:
    """Hidden states [N, T, hidden] of the first `rows` sequences of `x`."""
    with torch.inference_mode():
        return model.hidden_states(x[:rows]).cpu().numpy()


def _per_digit(labels: np.ndarray, digits: tuple) -> list[tuple[int, dict]]:
    """The paths drawn of a domain: its first N_PATHS_PER_CLASS projected test sequences of each
    digit, as (row of the states, what the path is)."""
    labels = labels[:N_PCA_SEQUENCES]
    return [
        (int(i), {"index": int(i), "digit": int(digits[labels[i]])})
        for c in range(len(digits))
        for i in np.flatnonzero(labels == c)[:N_PATHS_PER_CLASS]
    ]


def _project(states: dict[str, np.ndarray], shown: dict[str, list[tuple[int, dict]]]) -> dict:
    """The paths `shown[domain]` (row of `states[domain]`, what it is), projected to the 2-D plane
    (PCA) fitted on every step of both domains' `states`: plain lists, for a result's extras."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0)
    pca.fit(np.concatenate([s.reshape(-1, s.shape[-1]) for s in states.values()]))
    out = {"explained_variance": pca.explained_variance_ratio_.tolist()}
    for domain, paths in shown.items():
        out[domain] = [
            {**about, "path": pca.transform(states[domain][row]).round(4).tolist()} for row, about in paths
        ]
    return out
