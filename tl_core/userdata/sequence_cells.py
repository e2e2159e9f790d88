"""Reading a sequence table's cells: columns found by name, numbers checked, counts worded.

Shared by the wide and long layouts (:mod:`tl_core.userdata.sequence_layouts`) and the reader
(:mod:`tl_core.userdata.sequences`): a cell that should be a number and is text, or a number too
large or too far from the others to compute with in float32, is refused naming its column and
its row of the file; infinite numbers become missing values, counted in a note.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tl_core.userdata import UserDataError

MAX_MAGNITUDE = 1e30  # larger values are refused: the models compute in float32 (at most 3.4e38)
MAX_SPREAD_RATIO = 1e20  # a value this many times the values' spread overflows float32 once scaled
N_NAMES_LISTED = 8  # columns a message lists before "and 12 more"


def column_key(column: str) -> str:
    """A column's name as matched against the known names: lower case, "_" for spaces and dashes."""
    return column.strip().lower().replace(" ", "_").replace("-", "_")


def named_columns(table: pd.DataFrame, names: tuple[str, ...], exclude=()) -> list[str]:
    """Columns whose name is one of `names` (any case), in the order of `names`."""
    by_key = {}
    for c in table.columns:
        if c not in exclude:
            by_key.setdefault(column_key(c), c)
    return [by_key[n] for n in names if n in by_key]


def counted(n, thing: str) -> str:
    """'1 row', '3 rows'."""
    return f"{int(n)} {thing}{'s' if int(n) != 1 else ''}"


def listing(columns) -> str:
    """The first N_NAMES_LISTED names, then "and 12 more"."""
    columns = list(columns)
    shown = ", ".join(columns[:N_NAMES_LISTED])
    more = len(columns) - N_NAMES_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def given_column(table: pd.DataFrame, name: str, option: str, column: str | None) -> str | None:
    """The column a user chose for `option`, stripped; None when none was chosen."""
    if column is not None and column.strip() not in table.columns:
        raise UserDataError(
            f"{name} has no column {column!r} (the {option} chosen); its columns are {listing(table.columns)}"
        )
    return None if column is None else column.strip()


def parse_numbers(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 with NaN where empty, rows holding text that is not a number)."""
    cells = table[column]
    numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
    text = np.flatnonzero(cells.notna().to_numpy() & np.isnan(numbers))
    return numbers, text


def checked_numbers(
    name: str, table: pd.DataFrame, column: str, parsed, what: str, infinite: dict[str, int]
) -> np.ndarray:
    """A column's numbers, infinities (inf, -inf, 1e309) made missing values and counted in
    `infinite`; text, or a number too large to compute with, is an error naming the cells."""
    values, text = parsed
    if len(text):
        row = int(text[0])
        raise UserDataError(
            f"{name}: column {column!r} holds text ({table[column].iloc[row]!r} "
            f"in row {row + 2} of the file): {what} must be numbers"
        )
    endless = np.isinf(values)
    if endless.any():
        infinite[column] = int(endless.sum())
        values = np.where(endless, np.nan, values)
    large = np.flatnonzero(np.abs(values) > MAX_MAGNITUDE)  # NaN compares False
    if len(large):
        raise UserDataError(
            f"{name}: column {column!r} holds a number too large to compute with "
            f"({values[large[0]]:.3g}, in {file_rows(large)} of the file): {what} must be at "
            f"most {MAX_MAGNITUDE:.0e} in size; fix those cells, or leave them empty"
        )
    return values


def file_rows(rows: np.ndarray) -> str:
    """ "row 5" or "rows 5, 9 and 12": lines of the file (the header is row 1)."""
    numbers = [str(int(r) + 2) for r in rows[:N_NAMES_LISTED]]
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    if len(rows) > N_NAMES_LISTED:
        return f"rows {', '.join(numbers)} and {len(rows) - N_NAMES_LISTED} more"
    return f"rows {', '.join(numbers[:-1])} and {numbers[-1]}"


def check_spread(name: str, values: np.ndarray, columns: list[str]) -> None:
    """Refuse a value so far from the others (1e25 among values of about 1e-300) that scaling
    the sequences to the source's range overflows; `values` [file rows, columns]. The spread is
    the values' median absolute deviation (their standard deviation where most are equal)."""
    known = values[~np.isnan(values)]
    if len(known) < 2:
        return
    distance = np.abs(values - np.median(known))
    spread = np.median(np.abs(known - np.median(known))) or known.std()
    far = np.argwhere(distance > MAX_SPREAD_RATIO * spread) if spread > 0 else []
    if len(far):
        row, column = far[0]
        rows = np.unique(far[:, 0])
        raise UserDataError(
            f"{name}: column {columns[column]!r} holds a value too far from the others to compute "
            f"with ({values[row, column]:.3g}, in {file_rows(rows)} of the file), while the values "
            f"typically differ by {spread:.3g}, more than {MAX_SPREAD_RATIO:.0e} times less; fix "
            "those cells, or leave them empty"
        )


def infinite_note(infinite: dict[str, int]) -> list[str]:
    """What became of infinite values: how many, in which columns."""
    if not infinite:
        return []
    total = sum(infinite.values())
    listed = listing(f"{column}: {n}" for column, n in infinite.items())
    return [f"read {counted(total, 'infinite value')} as missing ({listed})"]


def text_cells(table: pd.DataFrame, column: str) -> np.ndarray:
    """A column's cells as stripped text, None where empty (labels and ids)."""
    cells = table[column]
    return np.array(
        [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in cells], dtype=object
    )


def row_lengths(values: np.ndarray) -> np.ndarray:
    """Each row's length: one past its last value that is not NaN."""
    present = ~np.isnan(values)
    last = values.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    return np.where(present.any(axis=1), last + 1, 0)
