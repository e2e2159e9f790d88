"""Fixed, stratified subsets of a test set: where a training history is measured cheaply.

A per-epoch history (the training-curve chart) measures every model on both test sets after
every epoch: for a recurrent model, more work than the training itself. A few hundred test
examples, the same every epoch and in each class's share, draw the same curves to within a few
points; the last epoch, whose numbers the headlines, tables and sweeps read, is measured on the
whole test sets (see tl_core.engine.measure).
"""

from __future__ import annotations

import numpy as np


def stratified_rows(labels: np.ndarray, size: int | None) -> np.ndarray:
    """Sorted indices of `size` rows of a test set with these labels, each class in its share
    (scikit-learn's stratified split, with a fixed random state: the same rows every time).
    All rows when `size` is None or not smaller than the set."""
    from sklearn.model_selection import train_test_split

    labels = np.asarray(labels)
    everything = np.arange(len(labels))
    if size is None or size >= len(labels):
        return everything
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 and size >= np.count_nonzero(counts) else None
    rows, _ = train_test_split(everything, train_size=size, stratify=stratify, random_state=0)
    return np.sort(rows)


def history_note(rows: int | None, n_source_test: int, n_target_test: int, what: str) -> dict:
    """What a history measured, for a result's extras: the rows of each test set measured before
    the last epoch ("history_test_rows") and a sentence that a training-curve chart shows
    ("history_measured"; `what` names the examples, e.g. "test sequences")."""
    source, target = (n if rows is None else min(rows, n) for n in (n_source_test, n_target_test))
    if (source, target) == (n_source_test, n_target_test):
        sentence = f"per epoch: all {what}"
    else:
        sentence = (
            f"per epoch: the same {source} of {n_source_test} source and {target} of "
            f"{n_target_test} target {what}; last epoch: all"
        )
    return {"history_test_rows": {"source": source, "target": target}, "history_measured": sentence}
