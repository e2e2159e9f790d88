"""Tables for the linear and logistic demos: a CSV upload, or a table bundled with scikit-learn.

One table becomes two domains by one column: the rows where ``split_column <split_op>
split_value`` holds are the **target**, the other rows the **source**. A text column splits by a
value (``region == "north"``), a numeric one by a value or a threshold (``age > 50``). The split
column is never a feature (it would tell the model which domain a row is from).

This module is the reader's public face and its last step, from a checked table to the arrays:

- :func:`table_data` turns a DataFrame and the user's choices (label, features, split, missing
  values, task) into a :class:`~tl_core.userdata.TableData`; :func:`read_table_data` reads a CSV
  upload first; :func:`bundled_table_data` starts from a bundled table.

The steps before live in modules of their own, and their public names are importable from here:

- :mod:`~tl_core.userdata.table_csv`: :func:`read_csv`, an upload's bytes to a DataFrame;
- :mod:`~tl_core.userdata.table_columns`: what the app offers as choices (:func:`numeric_columns`,
  :func:`text_columns`, :func:`column_kind`, :func:`candidate_split_values`,
  :func:`split_threshold`, :func:`split_counts`, :func:`label_classes`, :func:`split_words`),
  computed the same way the reader computes them;
- :mod:`~tl_core.userdata.table_checks`: checks on the values and on each domain's rows;
- :mod:`~tl_core.userdata.table_bundled`: :data:`BUNDLED_TABLES` and :func:`bundled_table`;
- :mod:`~tl_core.userdata.table_words`: how values and counts are written in messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tl_core.userdata import TableData, UserDataError, fingerprint
from tl_core.userdata.table_bundled import BUNDLED_TABLES, BundledTable, bundled_table
from tl_core.userdata.table_checks import (
    MAX_MAGNITUDE,
    MAX_SPREAD_RATIO,
    MIN_ROWS_PER_CLASS,
    MIN_SOURCE_ROWS,
    MIN_TARGET_ROWS,
    check_domain_sizes,
    check_label_varies,
    check_magnitude,
    check_spread,
    infinite_as_missing,
    not_numeric_message,
)
from tl_core.userdata.table_columns import (
    MAX_SPLIT_VALUES,
    ORDER_OPS,
    SPLIT_OPS,
    candidate_split_values,
    check_choice,
    check_column,
    class_text,
    column_kind,
    label_classes,
    numeric_columns,
    sorted_classes,
    split_counts,
    split_mask,
    split_threshold,
    split_words,
    text_columns,
)
from tl_core.userdata.table_csv import NA_VALUES, read_csv
from tl_core.userdata.table_words import MAX_LISTED, count_rows, listed, plain, value_text

__all__ = [
    "BUNDLED_TABLES",
    "MAX_LISTED",
    "MAX_MAGNITUDE",
    "MAX_SPLIT_VALUES",
    "MAX_SPREAD_RATIO",
    "MIN_ROWS_PER_CLASS",
    "MIN_SOURCE_ROWS",
    "MIN_TARGET_ROWS",
    "MISSING",
    "NA_VALUES",
    "ORDER_OPS",
    "SPLIT_OPS",
    "TASKS",
    "BundledTable",
    "bundled_table",
    "bundled_table_data",
    "candidate_split_values",
    "column_kind",
    "label_classes",
    "numeric_columns",
    "read_csv",
    "read_table_data",
    "split_counts",
    "split_threshold",
    "split_words",
    "table_data",
    "text_columns",
]

TASKS = ("regression", "classification")
MISSING = ("drop", "mean")


def bundled_table_data(table: str, **options: Any) -> TableData:
    """table_data on bundled table `table`; options default to its suggested task and split."""
    return table_data(
        bundled_table(table), f"sklearn {table}", raw=table, **{**BUNDLED_TABLES[table].options(), **options}
    )


def read_table_data(raw: bytes, name: str, **options: Any) -> TableData:
    """read_csv then table_data: the reader the app and an exported notebook call."""
    return table_data(read_csv(raw, name), name, raw=raw, **options)


def table_data(
    df: pd.DataFrame,
    name: str,
    *,
    task: str,
    label: str,
    split_column: str,
    split_value: Any,
    split_op: str = "==",
    features: list[str] | None = None,
    missing: str = "drop",
    positive_class: Any = None,
    raw: bytes | str = b"",
) -> TableData:
    """Two domains from one table, ready for the linear (regression) or logistic demo.

    - Target rows: ``split_column <split_op> split_value``; source rows: all others. Rows with
      no value in the split column (unknown domain) or the label are dropped, with a note.
    - Features: `features`, or every numeric column but the label and the split column.
    - Missing feature values: "drop" drops the row; "mean" fills the value with its column's
      mean over the source rows. A note says how many.
    - Regression: y is the label, which must be numeric. Classification: y is 1 for
      `positive_class` and 0 for the rest; without it the label must have exactly two classes,
      and the later one in sorted order is class 1.
    - `raw`: the file's bytes, or a bundled table's name (then `bundled` is set); with the
      options they make the fingerprint.
    """
    options = {
        "task": task,
        "label": label,
        "features": None if features is None else [str(f) for f in features],
        "split_column": split_column,
        "split_op": split_op,
        "split_value": plain(split_value),
        "missing": missing,
        "positive_class": plain(positive_class),
    }
    feature_names, notes = _checked_columns(df, name, options)
    df, found = _checked_values(df, options, feature_names)
    notes += found
    table, dropped = _known_rows(df, label, split_column)
    notes += dropped
    in_target = split_mask(table[split_column], split_op, split_value, split_column)
    source_words, target_words = split_words(split_column, split_op, split_value)
    X = _feature_matrix(table, feature_names)
    X, table, in_target, note = _handle_missing(X, table, in_target, feature_names, missing)
    notes += note
    y, class_names = _labels(table[label], task, positive_class, label)
    check_domain_sizes(df, y, in_target, class_names, source_words, target_words, split_column, task)
    if task == "regression":
        check_label_varies(y, in_target, label, source_words, target_words)
    raw_bytes = raw.encode() if isinstance(raw, str) else bytes(raw)
    return TableData(
        name=name,
        fingerprint=fingerprint(raw_bytes, options),
        options=options,
        notes=tuple(list(df.attrs.get("notes", ())) + notes),
        bundled=raw if isinstance(raw, str) else None,
        task=task,
        feature_names=tuple(feature_names),
        label_name=label,
        source_X=X[~in_target],
        source_y=y[~in_target],
        target_X=X[in_target],
        target_y=y[in_target],
        class_names=class_names,
        source_words=source_words,
        target_words=target_words,
    )


def _checked_columns(df: pd.DataFrame, name: str, options: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The choices checked against the table; the feature columns, and notes on them."""
    task, label, split_column = options["task"], options["label"], options["split_column"]
    check_choice("task", task, TASKS)
    check_choice("split_op", options["split_op"], SPLIT_OPS)
    check_choice("missing", options["missing"], MISSING)
    check_column(df, label, "label")
    check_column(df, split_column, "split column")
    feature_names, notes = _feature_columns(df, options["features"], label, split_column, name)
    if task == "regression" and column_kind(df, label) != "number":
        raise UserDataError(
            not_numeric_message(
                df[label],
                f"the label {label}",
                "the linear demo predicts a number",
                "so those rows are dropped",
                "choose a numeric label, or use the logistic demo to predict classes",
            )
        )
    return feature_names, notes


def _checked_values(
    df: pd.DataFrame, options: dict[str, Any], feature_names: list[str]
) -> tuple[pd.DataFrame, list[str]]:
    """The table with infinite numbers made missing (and a note), its features (and a
    regression's label) checked to be numbers one can compute with."""
    label, split_column = options["label"], options["split_column"]
    df, notes = infinite_as_missing(df, [split_column, label, *feature_names])
    regression = options["task"] == "regression"
    checked = [(c, "feature") for c in feature_names] + ([(label, "label")] if regression else [])
    for column, role in checked:
        check_magnitude(df, column, role)
        check_spread(df, column, role)
    return df, notes


def _feature_columns(
    df: pd.DataFrame, features: list[str] | None, label: str, split_column: str, name: str
) -> tuple[list[str], list[str]]:
    """The feature columns, and a note when a default leaves one out."""
    if features is None:
        return _default_features(df, label, split_column, name)
    return _chosen_features(df, features, label, split_column), []


def _default_features(
    df: pd.DataFrame, label: str, split_column: str, name: str
) -> tuple[list[str], list[str]]:
    """Every numeric column but the label and the split column, and a note on those left out."""
    chosen = [c for c in numeric_columns(df) if c not in (label, split_column)]
    # A column that only numbers the rows (pandas writes one unless told not to) would
    # teach the model the row order: leave it out unless asked for.
    numbering = [c for c in chosen if _numbers_the_rows(df[c])]
    chosen = [c for c in chosen if c not in numbering] or chosen
    if not chosen:
        raise UserDataError(
            f"{name} has no numeric column to use as a feature besides the "
            f"label {label} and the split column {split_column}: the features "
            "must be numbers"
        )
    notes = [f"left {c} out of the features: it only numbers the rows" for c in numbering if c not in chosen]
    return chosen, notes


def _chosen_features(df: pd.DataFrame, features: list[str], label: str, split_column: str) -> list[str]:
    """The features a user chose, each checked to be a numeric column that is neither the label
    nor the split column."""
    if not features:
        raise UserDataError("choose at least one feature column")
    chosen = list(dict.fromkeys(features))
    for column in chosen:
        check_column(df, column, "feature")
        if column == label:
            raise UserDataError(
                f"the label {label} cannot also be a feature: the model would read the answer"
            )
        if column == split_column:
            raise UserDataError(
                f"the split column {split_column} cannot be a feature: it tells which domain a row is from"
            )
        if column not in numeric_columns(df):
            raise UserDataError(
                not_numeric_message(
                    df[column],
                    f"the feature {column}",
                    "features must be numbers",
                    "so they count as missing values",
                    "use it to split the rows instead, or leave it out",
                )
            )
    return chosen


def _numbers_the_rows(values: pd.Series) -> bool:
    """True for 0, 1, 2, ... or 1, 2, 3, ...: a row number, not a measurement."""
    numbers = values.to_numpy(dtype=float)
    steps = np.diff(numbers)
    return len(numbers) > 2 and numbers[0] in (0.0, 1.0) and bool((steps == 1).all())


def _known_rows(df: pd.DataFrame, label: str, split_column: str) -> tuple[pd.DataFrame, list[str]]:
    """The rows whose label and domain are known; notes on those dropped."""
    notes = []
    keep = np.ones(len(df), dtype=bool)
    for column, why in (
        (split_column, f"no value in the split column {split_column} (their domain is unknown)"),
        (label, f"no label ({label})"),
    ):
        missing = df[column].isna().to_numpy() & keep
        if missing.any():
            notes.append(f"dropped {count_rows(missing.sum())} with {why}")
            keep &= ~missing
    return df.loc[keep].reset_index(drop=True), notes


def _feature_matrix(table: pd.DataFrame, features: list[str]) -> np.ndarray:
    """The features as floats, NaN where missing."""
    return table[features].to_numpy(dtype=float, copy=True)


def _handle_missing(
    X: np.ndarray, table: pd.DataFrame, in_target: np.ndarray, features: list[str], missing: str
):
    """Drop the rows with a missing feature value, or fill it with the source rows' mean."""
    gaps = np.isnan(X)
    if not gaps.any():
        return X, table, in_target, []
    per_column = ", ".join(f"{features[j]}: {n}" for j, n in enumerate(gaps.sum(axis=0)) if n)
    if missing == "drop":
        keep = ~gaps.any(axis=1)
        note = (
            f"dropped {count_rows((~keep).sum())} of {len(keep)} with a missing feature value ({per_column})"
        )
        return X[keep], table.loc[keep].reset_index(drop=True), in_target[keep], [note]
    source_values = X[~in_target]
    empty = [features[j] for j in range(X.shape[1]) if np.isnan(source_values[:, j]).all()]
    if empty:
        raise UserDataError(
            f"the feature {empty[0]} has no values in the source rows, so its "
            "mean cannot fill the missing ones: leave it out of the features, or "
            "drop the rows with missing values"
        )
    means = np.nanmean(source_values, axis=0)
    X = np.where(gaps, means, X)
    note = f"filled {int(gaps.sum())} missing feature values with the source rows' column mean ({per_column})"
    return X, table, in_target, [note]


def _labels(values: pd.Series, task: str, positive_class: Any, label: str):
    """y (floats for regression; 1 for the positive class, else 0) and the class names."""
    if task == "regression":
        return values.to_numpy(dtype=float), ()
    names = sorted_classes(values)
    row_names = class_text(values)
    if len(names) < 2:
        raise UserDataError(
            f"the label {label} has only one class ({names[0]!r}): logistic "
            "regression needs two classes to tell apart"
        )
    if positive_class is None:
        if len(names) > 2:
            raise UserDataError(
                f"the label {label} has {len(names)} classes ({listed(names)}): "
                "logistic regression tells two apart, so pick one as the positive "
                "class (positive_class) to tell it from the rest"
            )
        positive = names[1]
    else:
        positive = value_text(positive_class)
        if positive not in names:
            raise UserDataError(
                f"positive_class {positive!r} is not a class of the label {label}: "
                f"its classes are {listed(names)}"
            )
    negative = next(n for n in names if n != positive) if len(names) == 2 else f"not {positive}"
    return (row_names == positive).astype(np.int64), (negative, positive)
