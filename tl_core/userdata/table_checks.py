"""Checks on a table's values and on the two domains split from it.

Numbers too large or too far apart to compute with are refused, naming the column and rows;
infinite numbers become missing values; each domain needs enough rows (of each class) for the
smallest experiment a demo runs, and a regression label that varies.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tl_core.userdata import UserDataError
from tl_core.userdata.table_columns import candidate_split_values, column_kind
from tl_core.userdata.table_words import count_rows, example, listed, row_numbers, value_text

MIN_SOURCE_ROWS = 10  # the source model needs rows to learn from and some held out to score it
MIN_TARGET_ROWS = 4  # regression: 2 labelled (the fewest a line needs) + 2 to test (R² needs 2)
MIN_ROWS_PER_CLASS = 2  # classification, in each domain: 1 to learn from + 1 to test
MAX_MAGNITUDE = 1e100  # larger values overflow once squared: say so rather than compute nonsense
MAX_SPREAD_RATIO = 1e120  # a value this many times a column's spread overflows once standardized


def not_numeric_message(values: pd.Series, what: str, why: str, when_empty: str, otherwise: str) -> str:
    """Why a column that must hold numbers cannot be used, pointing at its text."""
    present = values.dropna()
    if present.empty:
        return f"{what} has no values: {otherwise}"
    as_numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    text = present[as_numbers.isna()]
    if len(text) < len(present):  # mostly numbers with a few stray words
        return (
            f"{what} holds text in {count_rows(len(text))} (e.g. {example(text)!r}): {why}; fix "
            f"those cells, or leave them empty {when_empty}"
        )
    return f"{what} is not numeric (e.g. {example(present)!r}): {why}; {otherwise}"


def infinite_as_missing(df: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The table with infinite numbers (``inf``, ``-inf``, ``1e309``, which no model can learn
    from) made missing values in `columns`, so the missing-value rules apply; a note on how
    many were found in which column."""
    counts = {}
    for column in dict.fromkeys(columns):
        if column_kind(df, column) == "number":
            n = int(np.isinf(df[column].to_numpy(dtype=float)).sum())
            if n:
                counts[column] = n
    if not counts:
        return df, []
    df = df.copy()
    for column in counts:
        df[column] = df[column].replace([np.inf, -np.inf], np.nan)
    listed = ", ".join(f"{column}: {n}" for column, n in counts.items())
    total = sum(counts.values())
    return df, [f"read {total} infinite value{'s' if total > 1 else ''} as missing ({listed})"]


def check_magnitude(df: pd.DataFrame, column: str, role: str) -> None:
    """Refuse numbers so large that squaring them overflows (a fit would give NaN or nonsense),
    naming the column and the rows (counted from 1, the first row below the header)."""
    size = np.abs(df[column].to_numpy(dtype=float))
    rows = np.flatnonzero(size > MAX_MAGNITUDE)  # NaN compares False: missing is not large
    if len(rows):
        raise UserDataError(
            f"the {role} {column} has a value too large to compute with "
            f"({np.nanmax(size):.3g}) in {row_numbers(rows)} (the first row below the "
            f"header is row 1): values must be at most {MAX_MAGNITUDE:.0e} in size; fix "
            "those cells, or leave them empty"
        )


def check_spread(df: pd.DataFrame, column: str, role: str) -> None:
    """Refuse values so far from the others (1e99 among values of about 1e-300) that dividing
    by the column's spread, as the demos standardize, overflows; naming the column and rows.
    The spread is the median absolute deviation (the standard deviation where most values are
    equal), which one far value cannot inflate."""
    values = df[column].to_numpy(dtype=float)
    known = values[~np.isnan(values)]
    if len(known) < 2:
        return
    distance = np.abs(values - np.median(known))
    spread = np.median(distance[~np.isnan(distance)]) or known.std()
    rows = np.flatnonzero(distance > MAX_SPREAD_RATIO * spread) if spread > 0 else []
    if len(rows):
        raise UserDataError(
            f"the {role} {column} has values too far apart to compute with: "
            f"{values[rows[0]]:.3g} in {row_numbers(rows)} (the first row below the header is "
            f"row 1), while its values typically differ by {spread:.3g}, more than "
            f"{MAX_SPREAD_RATIO:.0e} times less; fix those cells, or leave them empty"
        )


def check_domain_sizes(df, y, in_target, class_names, source_words, target_words, split_column, task) -> None:
    """Enough rows (of each class) in each domain for the smallest experiment a demo runs."""
    domains = (
        (f"the source ({source_words})", ~in_target, MIN_SOURCE_ROWS, ""),
        (
            f"the target ({target_words})",
            in_target,
            MIN_TARGET_ROWS if task == "regression" else 2 * MIN_ROWS_PER_CLASS,
            " (2 labelled + 2 to test)" if task == "regression" else "",
        ),
    )
    for words, rows, needed, why in domains:
        n = int(rows.sum())
        if n == 0:
            hint = ""
            if column_kind(df, split_column) == "text":
                values = listed(candidate_split_values(df, split_column))
                hint = f" ({split_column}'s values: {values})"
            raise UserDataError(f"{words} has no rows: choose another split{hint}")
        if task == "classification":
            _check_classes(words, np.bincount(y[rows], minlength=2), class_names)
        if n < needed:
            raise UserDataError(f"{words} has {count_rows(n)}; it needs at least {needed}{why}")


def check_label_varies(y, in_target, label, source_words, target_words) -> None:
    """A regression label that is one number in a domain leaves nothing to predict there (and R²,
    the share of its variation a model explains, means nothing): refused, naming the domain."""
    for words, rows in (
        (f"the source ({source_words})", ~in_target),
        (f"the target ({target_words})", in_target),
    ):
        values = y[rows]
        if values.min() == values.max():
            raise UserDataError(
                f"the label {label} is {value_text(values[0])} in every row of {words}: a "
                "regression needs a label that varies in each domain; choose another label "
                "or another split"
            )


def _check_classes(words: str, counts: np.ndarray, class_names: tuple[str, str]) -> None:
    if (counts == 0).any():
        present = class_names[int(np.argmax(counts))]
        raise UserDataError(
            f"{words} has only one class ({present!r}): each domain needs rows of both classes"
        )
    for c in (0, 1):
        if counts[c] < MIN_ROWS_PER_CLASS:
            raise UserDataError(
                f"{words} has {count_rows(counts[c])} of class {class_names[c]!r}; "
                f"each class needs at least {MIN_ROWS_PER_CLASS} in each domain "
                "(1 to learn from + 1 to test)"
            )
