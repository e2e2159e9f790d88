"""What a table's columns hold and the splits they offer: what the app shows as choices.

The reader (:func:`tl_core.userdata.tables.table_data`) computes kinds, classes and splits with
these same functions, so that what the app offers is what the reader accepts.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pandas as pd

from tl_core.userdata import UserDataError
from tl_core.userdata.table_words import as_number, listed, quoted, value_text

SPLIT_OPS = ("==", "!=", "<", "<=", ">", ">=")
ORDER_OPS = ("<", "<=", ">", ">=")  # these compare numbers: a numeric threshold
MAX_SPLIT_VALUES = 50  # distinct values offered for a split: more are not a choice but a list

# Each split operator, the symbol shown for the target rows, and its opposite for the source rows.
_OP_FUNCTIONS = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_OP_WORDS = {
    "==": ("=", "≠"),
    "!=": ("≠", "="),
    "<": ("<", "≥"),
    "<=": ("≤", ">"),
    ">": (">", "≤"),
    ">=": ("≥", "<"),
}


def numeric_columns(df: pd.DataFrame) -> list[str]:
    """Columns of numbers with at least one value: the ones that can be features.

    True/False columns are not numbers here: they split or label, like text.
    """
    return [
        c
        for c in df.columns
        if pd.api.types.is_numeric_dtype(df[c])
        and not pd.api.types.is_bool_dtype(df[c])
        and df[c].notna().any()
    ]


def text_columns(df: pd.DataFrame) -> list[str]:
    """Columns that are not numbers (text, True/False): they can split or label, not be features."""
    return [c for c in df.columns if column_kind(df, c) == "text"]


def column_kind(df: pd.DataFrame, column: str) -> str:
    """ "number" when `column` holds numbers (it splits by a value or a threshold), else "text"."""
    values = df[column]
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return "number" if numeric else "text"


def candidate_split_values(df: pd.DataFrame, column: str, limit: int = MAX_SPLIT_VALUES) -> list:
    """The distinct values of `column` one can split by, at most `limit`.

    Text: the most common first (ties alphabetical), as strings. Numbers: ascending, as floats
    (for a numeric column with many values, offer a threshold: :func:`split_threshold`).
    """
    check_column(df, column, "split column")
    values = df[column].dropna()
    if column_kind(df, column) == "number":
        return [float(v) for v in np.unique(values.to_numpy(dtype=float))[:limit]]
    counts = as_text(values).value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [value for value, _ in ordered[:limit]]


def split_threshold(df: pd.DataFrame, column: str) -> float:
    """A threshold that halves a numeric column: its median."""
    check_column(df, column, "split column")
    if column_kind(df, column) != "number":
        raise UserDataError(f"the split column {column} holds text: a threshold needs numbers")
    return float(df[column].median())


def split_counts(df: pd.DataFrame, column: str, op: str, value: Any) -> tuple[int, int]:
    """(source rows, target rows) of a split, before any row is dropped for a missing value."""
    check_choice("split_op", op, SPLIT_OPS)
    check_column(df, column, "split column")
    known = df[column].notna()
    in_target = split_mask(df.loc[known, column], op, value, column)
    return int((~in_target).sum()), int(in_target.sum())


def label_classes(df: pd.DataFrame, label: str) -> list[str]:
    """The classes of a label column, as the names the logistic demo shows (sorted)."""
    check_column(df, label, "label")
    return sorted_classes(df[label].dropna())


def split_words(column: str, op: str, value: Any) -> tuple[str, str]:
    """How the source and target rows are described: ("region ≠ north", "region = north")."""
    target_symbol, source_symbol = _OP_WORDS[op]
    shown = value_text(value)
    return f"{column} {source_symbol} {shown}", f"{column} {target_symbol} {shown}"


def split_mask(values: pd.Series, op: str, value: Any, column: str) -> np.ndarray:
    """True for the target rows: `values <op> value`, compared as numbers or as text."""
    if column_kind(values.to_frame(), values.name) == "number":
        number = as_number(value)
        if number is None:
            raise UserDataError(
                f"the split column {column} holds numbers, so split_value must be "
                f"a number, got {quoted(value)}"
            )
        return _OP_FUNCTIONS[op](values.to_numpy(dtype=float), number)
    if op in ORDER_OPS:
        raise UserDataError(
            f"split_op {quoted(op)} compares numbers, but the split column {column} "
            f"holds text: use == or != with one of its values "
            f"({listed(as_text(values).unique())})"
        )
    return _OP_FUNCTIONS[op](as_text(values).to_numpy(dtype=object), value_text(value))


def check_choice(what: str, value: Any, allowed: tuple[str, ...]) -> None:
    """Refuse an option that is not one of `allowed`."""
    if value not in allowed:
        raise UserDataError(f"{what} must be one of {', '.join(allowed)}, got {quoted(value)}")


def check_column(df: pd.DataFrame, column: Any, what: str) -> None:
    """Refuse a column name that is not one of the table's."""
    if not isinstance(column, str) or column not in df.columns:
        raise UserDataError(
            f"the {what} {quoted(column)} is not a column of the table: its columns are {listed(df.columns)}"
        )


def as_text(values: pd.Series) -> pd.Series:
    """Values as the text a user sees: numbers without a needless ".0", stripped strings."""
    return values.map(value_text)


def class_text(values: pd.Series) -> np.ndarray:
    """Each row's class as the text its name is written in."""
    return as_text(values).to_numpy(dtype=object)


def sorted_classes(values: pd.Series) -> list[str]:
    """The distinct classes, numbers in numeric order, text alphabetically."""
    present = values.dropna()
    if column_kind(present.to_frame(), present.name) == "number":
        return [value_text(v) for v in np.unique(present.to_numpy(dtype=float))]
    return sorted(set(as_text(present)))
