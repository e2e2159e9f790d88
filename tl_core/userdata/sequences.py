"""Read a CSV file of labelled sequences: the RNN demo's own target task.

Two layouts (``layout="auto"`` tells them apart by the column names):

- **wide**: one row per sequence. Every numeric column is one time step, in the order of the
  columns; one column is the label (the sequence's class). The label column is the one given,
  else the column named label, class, target or y, else the one text column. A column named
  id, sequence or name (or the one given as ``id_column``) names the sequences and is not a
  time step. Empty cells at the END of a row mean that sequence is shorter; empty cells before
  its last value are missing values (see `missing`).
- **long**: one row per value, with columns sequence id, time, value and label (found by names
  such as id/sequence, time/t/step, value/x, label/class, or given). Each sequence's values are
  put in the order of its times; one label per sequence (two different labels are an error);
  two values at one time are an error. Rows with a missing id, time or value are dropped.

Auto: long when `time_column` or `value_column` is given, or when columns named like an id, a
time and a value all exist; wide otherwise.

Rules, stated in the data's `notes` whenever they change something:

- Unequal lengths: shorter sequences are padded at the end by repeating their last value, up to
  the longest sequence's length T; `lengths` keeps each one's own length.
- Missing values inside a wide row: ``missing="drop"`` drops that sequence; ``missing="mean"``
  fills each missing value with the mean of its time step over the sequences that have a value
  there (the mean of all values if none has). The long format always drops the rows.
- Infinite values (``inf``, ``-inf``, ``1e309``) are missing values, as empty cells are, and
  counted in a note; a finite value beyond MAX_MAGNITUDE, or more than MAX_SPREAD_RATIO times the
  values' spread from them, is refused, naming its column and rows.
- Rows without a label are dropped; rows with no value at all are dropped.
- Classes are sorted (as numbers when every label is a number); the sequences keep the file's
  order (long format: the order in which their ids first appear).

Checks, each a :class:`UserDataError` naming what was wrong and what is allowed: empty file, not
a text CSV, not UTF-8 (UTF-8 with or without a byte-order mark is read), no numeric column,
label column missing or unclear, text in a time step, fewer than 2 classes, fewer than
2 sequences in a class, more than MAX_CLASSES classes, and the host's caps
(:data:`tl_core.limits.LIMITS`): bytes (checked first), rows (sequences, or long-format rows),
time steps (columns).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from tl_core.limits import LIMITS
from tl_core.userdata import SequenceData, UserDataError, fingerprint, per_class_counts

LAYOUTS = ("auto", "wide", "long")
MISSING = ("drop", "mean")
MIN_PER_CLASS = 2  # one sequence to learn from and one to test on
MAX_CLASSES = 100  # a class per sequence is not a classification task, and the confusion matrix is n²
MAX_MAGNITUDE = 1e30  # larger values are refused: the models compute in float32 (at most 3.4e38)
MAX_SPREAD_RATIO = 1e20  # a value this many times the values' spread overflows float32 once scaled

# Column names (lower case, spaces and dashes read as underscores) that say what a column holds.
LABEL_NAMES = ("label", "class", "target", "y", "category")
ID_NAMES = ("id", "sequence", "sequence_id", "seq", "seq_id", "series", "series_id", "name")
TIME_NAMES = ("time", "t", "step", "time_step", "timestep", "timestamp")
VALUE_NAMES = ("value", "x", "val", "signal", "measurement")
DELIMITERS = (",", ";", "\t")
N_NAMES_LISTED = 8  # columns a message lists before "and 12 more"


# ---------------------------------------------------------------------------------- the reader
def read_sequence_csv(
    raw: bytes,
    name: str,
    *,
    layout: str = "auto",
    label: str | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    value_column: str | None = None,
    missing: str = "drop",
) -> SequenceData:
    """Labelled sequences from a CSV file's bytes (see the module docstring for the rules).

    `name` is the file's name, used in messages and shown with the data. The keyword arguments
    are stored in `data.options`, so ``read_sequence_csv(raw, name, **data.options)`` reads the
    same data again.
    """
    options = {
        "layout": layout,
        "label": label,
        "id_column": id_column,
        "time_column": time_column,
        "value_column": value_column,
        "missing": missing,
    }
    _check_options(options)
    table = _read_csv(raw, name)
    notes: list[str] = []
    if _is_long(table, options):
        values, labels, notes = _long(table, name, options)
    else:
        values, labels, notes = _wide(table, name, options)
    return _sequence_data(raw, name, options, values, labels, notes)


def _check_options(options: dict[str, Any]) -> None:
    if options["layout"] not in LAYOUTS:
        raise UserDataError(f"layout must be one of {', '.join(LAYOUTS)}, got {options['layout']!r}")
    if options["missing"] not in MISSING:
        raise UserDataError(
            f"missing must be drop (drop the sequence) or mean (fill with the "
            f"mean of its time step), got {options['missing']!r}"
        )
    for key in ("label", "id_column", "time_column", "value_column"):
        if options[key] is not None and not isinstance(options[key], str):
            raise UserDataError(f"{key} must be a column name or None, got {options[key]!r}")


# -------------------------------------------------------------------------- bytes to a table
def _read_csv(raw: bytes, name: str) -> pd.DataFrame:
    """The file as a table of text cells (NaN where empty), after every check on bytes and caps."""
    if not isinstance(raw, (bytes, bytearray)):
        raise UserDataError(f"{name}: expected the file's bytes, got {type(raw).__name__}")
    max_bytes = LIMITS.max_upload_mb * 1024 * 1024
    if len(raw) > max_bytes:
        raise UserDataError(
            f"{name} is {len(raw) / 1024 / 1024:.1f} MB: files of at most "
            f"{LIMITS.max_upload_mb} MB are allowed here"
        )
    text = _decode(bytes(raw), name)
    if not text.strip():
        raise UserDataError(
            f"{name} is empty: a CSV file with a header line and one row per "
            f"sequence (or per value) is needed"
        )
    header = text.lstrip("\r\n").split("\n", 1)[0]
    sep = max(DELIMITERS, key=header.count)  # ties (none found) go to the comma
    read = dict(sep=sep, dtype=str, keep_default_na=True, skipinitialspace=True, engine="c")
    try:
        columns = pd.read_csv(io.StringIO(text), nrows=0, **read).columns
        if len(columns) > LIMITS.max_upload_columns + 2:  # + a label and an id column
            raise UserDataError(
                f"{name} has {len(columns)} columns: at most "
                f"{LIMITS.max_upload_columns} time steps are allowed here"
            )
        table = pd.read_csv(io.StringIO(text), nrows=LIMITS.max_upload_rows + 1, **read)
    except UserDataError:
        raise
    except Exception as error:  # pandas' parser errors come in many types: all mean "not CSV"
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise UserDataError(
            f"{name} could not be read as a CSV table ({reason}): a text file "
            f"with a header line and values separated by commas is needed"
        ) from None
    if len(table) > LIMITS.max_upload_rows:
        raise UserDataError(
            f"{name} has more than {LIMITS.max_upload_rows} rows: at most "
            f"{LIMITS.max_upload_rows} are allowed here"
        )
    if len(table) == 0:
        raise UserDataError(
            f"{name} has a header line but no rows: one row per sequence "
            f"(or per value, in the long layout) is needed"
        )
    columns = [str(c).strip() for c in table.columns]
    if len(set(columns)) < len(columns):
        twice = sorted({c for c in columns if columns.count(c) > 1})
        raise UserDataError(f"{name} has two columns named {twice[0]!r}: every column needs its own name")
    table.columns = columns
    return table


def _decode(raw: bytes, name: str) -> str:
    """UTF-8 text, with or without a byte-order mark; anything else is a clear error."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserDataError(
            f"{name} is saved as UTF-16 text: save it as CSV UTF-8 (in Excel: "
            f"Save As, 'CSV UTF-8 (comma delimited)')"
        )
    if b"\x00" in raw[:65536]:
        kind = " (it looks like an Excel workbook or a zip)" if raw.startswith(b"PK") else ""
        raise UserDataError(
            f"{name} is not a CSV file{kind}: it holds binary data, and a text "
            f"file with values separated by commas is needed"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UserDataError(
            f"{name} is not UTF-8 text (byte {raw[error.start]:#04x} at position "
            f"{error.start} is not UTF-8): save it as CSV UTF-8 (in Excel: Save "
            f"As, 'CSV UTF-8 (comma delimited)')"
        ) from None


# ------------------------------------------------------------------------------ column helpers
def _key(column: str) -> str:
    return column.strip().lower().replace(" ", "_").replace("-", "_")


def _named(table: pd.DataFrame, names: tuple[str, ...], exclude=()) -> list[str]:
    """Columns whose name is one of `names` (any case), in the order of `names`."""
    by_key = {}
    for c in table.columns:
        if c not in exclude:
            by_key.setdefault(_key(c), c)
    return [by_key[n] for n in names if n in by_key]


def _count(n, thing: str) -> str:
    """'1 row', '3 rows'."""
    return f"{int(n)} {thing}{'s' if int(n) != 1 else ''}"


def _listed(columns) -> str:
    columns = list(columns)
    shown = ", ".join(columns[:N_NAMES_LISTED])
    more = len(columns) - N_NAMES_LISTED
    return shown + (f" and {more} more" if more > 0 else "")


def _given(table: pd.DataFrame, name: str, option: str, column: str | None) -> str | None:
    if column is not None and column.strip() not in table.columns:
        raise UserDataError(
            f"{name} has no column {column!r} (the {option} chosen); its columns are {_listed(table.columns)}"
        )
    return None if column is None else column.strip()


def _numbers(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 with NaN where empty, rows holding text that is not a number)."""
    cells = table[column]
    numbers = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=np.float64)
    text = np.flatnonzero(cells.notna().to_numpy() & np.isnan(numbers))
    return numbers, text


def _checked(
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
            f"({values[large[0]]:.3g}, in {_file_rows(large)} of the file): {what} must be at "
            f"most {MAX_MAGNITUDE:.0e} in size; fix those cells, or leave them empty"
        )
    return values


def _file_rows(rows: np.ndarray) -> str:
    """ "row 5" or "rows 5, 9 and 12": lines of the file (the header is row 1)."""
    numbers = [str(int(r) + 2) for r in rows[:N_NAMES_LISTED]]
    if len(numbers) == 1:
        return f"row {numbers[0]}"
    if len(rows) > N_NAMES_LISTED:
        return f"rows {', '.join(numbers)} and {len(rows) - N_NAMES_LISTED} more"
    return f"rows {', '.join(numbers[:-1])} and {numbers[-1]}"


def _check_spread(name: str, values: np.ndarray, columns: list[str]) -> None:
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
            f"with ({values[row, column]:.3g}, in {_file_rows(rows)} of the file), while the values "
            f"typically differ by {spread:.3g}, more than {MAX_SPREAD_RATIO:.0e} times less; fix "
            "those cells, or leave them empty"
        )


def _infinite_note(infinite: dict[str, int]) -> list[str]:
    """What became of infinite values: how many, in which columns."""
    if not infinite:
        return []
    total = sum(infinite.values())
    listed = _listed(f"{column}: {n}" for column, n in infinite.items())
    return [f"read {_count(total, 'infinite value')} as missing ({listed})"]


def _labels(table: pd.DataFrame, column: str) -> np.ndarray:
    """A column's cells as stripped text, None where empty (labels and ids)."""
    cells = table[column]
    return np.array(
        [None if pd.isna(v) or not str(v).strip() else str(v).strip() for v in cells], dtype=object
    )


# ------------------------------------------------------------------------------------- layouts
def _is_long(table: pd.DataFrame, options: dict[str, Any]) -> bool:
    if options["layout"] != "auto":
        return options["layout"] == "long"
    if options["time_column"] is not None or options["value_column"] is not None:
        return True
    return all(_named(table, names) for names in (ID_NAMES, TIME_NAMES, VALUE_NAMES))


def _wide_label(table: pd.DataFrame, name: str, parsed: dict, id_column: str | None) -> str:
    """The label column of a wide table: named like a label, else the one text column."""
    named = _named(table, LABEL_NAMES, exclude=(id_column,))
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise UserDataError(
            f"{name}: cannot tell which column is the label (the class of each "
            f"sequence): {_listed(named)} could all be; choose one"
        )
    text = [c for c in table.columns if c != id_column and len(parsed[c][1])]
    if len(text) == 1:
        return text[0]
    if text:
        raise UserDataError(
            f"{name}: cannot tell which column is the label (the class of each "
            f"sequence): the text columns {_listed(text)} could all be; choose one"
        )
    raise UserDataError(
        f"{name}: cannot tell which column is the label (the class of each "
        f"sequence): no column is named label, class, target or y, and every "
        f"column holds numbers ({_listed(table.columns)}); choose the label column"
    )


def _wide(table: pd.DataFrame, name: str, options: dict[str, Any]):
    """(values [N, columns] with NaN, labels, notes) of a table with one row per sequence."""
    id_column = _given(table, name, "id column", options["id_column"])
    label = _given(table, name, "label", options["label"])
    if id_column is None:
        ids = _named(table, ID_NAMES, exclude=(label,))
        id_column = ids[0] if ids else None
    parsed = {c: _numbers(table, c) for c in table.columns}
    numeric = [
        c
        for c, (v, text) in parsed.items()
        if c not in (label, id_column) and not len(text) and not np.isnan(v).all()
    ]
    if not numeric:
        text = [c for c, (_, t) in parsed.items() if len(t)]
        raise UserDataError(
            f"{name} has no numeric columns: the time steps must be numbers "
            f"(found text columns {_listed(text or table.columns)})"
        )
    label = label if label is not None else _wide_label(table, name, parsed, id_column)
    steps = [c for c in table.columns if c not in (id_column, label)]
    notes = []
    empty = [c for c in steps if np.isnan(parsed[c][0]).all() and not len(parsed[c][1])]
    if empty:
        notes.append(f"ignored {_count(len(empty), 'empty column')}: {_listed(empty)}")
        steps = [c for c in steps if c not in empty]
    if not steps:
        raise UserDataError(
            f"{name} has no numeric columns besides the label {label!r}: the time steps must be numbers"
        )
    if len(steps) > LIMITS.max_upload_columns:
        raise UserDataError(
            f"{name} has {len(steps)} time steps (columns): at most "
            f"{LIMITS.max_upload_columns} are allowed here"
        )
    what = "the time steps (if this column is not one, choose it as the label or id column)"
    infinite: dict[str, int] = {}
    values = np.stack([_checked(name, table, c, parsed[c], what, infinite) for c in steps], axis=1)
    notes.insert(
        0,
        f"wide layout: one sequence per row, {_count(len(steps), 'time step')} "
        f"({_listed(steps)}), label column {label!r}",
    )
    notes += _infinite_note(infinite)
    _check_spread(name, values, steps)
    labels = _labels(table, label)
    values, labels, notes = _drop_unlabelled(values, labels, notes, "row")
    values, labels = _fill_gaps(values, labels, options["missing"], notes)
    return values, labels, notes


def _drop_unlabelled(values, labels, notes, what: str):
    keep = np.array([v is not None for v in labels], dtype=bool)
    if not keep.all():
        notes.append(f"dropped {_count((~keep).sum(), what)} without a label")
    values, labels = values[keep], labels[keep]
    no_values = np.isnan(values).all(axis=1) if values.size else np.ones(len(values), bool)
    if no_values.any():
        notes.append(f"dropped {_count(no_values.sum(), what)} with no values")
    return values[~no_values], labels[~no_values], notes


def _fill_gaps(values: np.ndarray, labels: np.ndarray, missing: str, notes: list[str]):
    """Missing values before a row's last value: drop the row, or fill with the step's mean."""
    lengths = _lengths(values)
    inside = np.isnan(values) & (np.arange(values.shape[1]) < lengths[:, None])
    rows = inside.any(axis=1)
    if not rows.any():
        return values, labels
    if missing == "drop":
        notes.append(
            f"dropped {_count(rows.sum(), 'sequence')} with a "
            f"missing value before its end (missing = mean fills them instead)"
        )
        return values[~rows], labels[~rows]
    counts = np.sum(~np.isnan(values), axis=0)
    sums = np.nansum(values, axis=0)
    overall = float(np.nanmean(values))
    step_mean = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
    values = np.where(inside, step_mean[None, :], values)
    notes.append(
        f"filled {_count(inside.sum(), 'missing value')} in "
        f"{_count(rows.sum(), 'sequence')} with the mean of "
        f"their time step"
    )
    return values, labels


def _lengths(values: np.ndarray) -> np.ndarray:
    """Each row's length: one past its last value that is not NaN."""
    present = ~np.isnan(values)
    last = values.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    return np.where(present.any(axis=1), last + 1, 0)


def _long_columns(table: pd.DataFrame, name: str, options: dict[str, Any]) -> dict[str, str]:
    """The id, time, value and label columns of a long table, given or found by name."""
    wanted = {
        "id": (options["id_column"], ID_NAMES, "id_column"),
        "time": (options["time_column"], TIME_NAMES, "time_column"),
        "value": (options["value_column"], VALUE_NAMES, "value_column"),
        "label": (options["label"], LABEL_NAMES, "label"),
    }
    found: dict[str, str] = {}
    for role, (given, names, option) in wanted.items():
        column = _given(table, name, option.replace("_", " "), given)
        if column is None:
            candidates = _named(table, names, exclude=tuple(found.values()))
            if not candidates:
                raise UserDataError(
                    f"{name}: cannot find the {role} column of the long layout (one row per "
                    f"value: sequence id, time, value, label); its columns are "
                    f"{_listed(table.columns)}; name it {', '.join(names[:3])}, or choose it "
                    f"as {option}"
                )
            column = candidates[0]
        found[role] = column
    if len(set(found.values())) < len(found):
        raise UserDataError(
            f"{name}: the long layout needs four different columns for id, time, value and label, got {found}"
        )
    return found


def _long(table: pd.DataFrame, name: str, options: dict[str, Any]):
    """(values [N, T] with NaN after each end, labels, notes) of a table with one row per value."""
    columns = _long_columns(table, name, options)
    notes = [
        f"long layout: one value per row; sequence id {columns['id']!r}, time "
        f"{columns['time']!r}, value {columns['value']!r}, label {columns['label']!r}"
    ]
    infinite: dict[str, int] = {}
    time = _checked(name, table, columns["time"], _numbers(table, columns["time"]), "the times", infinite)
    value = _checked(name, table, columns["value"], _numbers(table, columns["value"]), "the values", infinite)
    notes += _infinite_note(infinite)
    _check_spread(name, value[:, None], [columns["value"]])
    ids = _labels(table, columns["id"])  # stripped text, None where empty
    labels = _labels(table, columns["label"])
    keep = np.array([i is not None for i in ids], dtype=bool) & ~np.isnan(time) & ~np.isnan(value)
    if not keep.all():
        notes.append(f"dropped {_count((~keep).sum(), 'row')} with a missing id, time or value")
    ids, time, value, labels = ids[keep], time[keep], value[keep], labels[keep]
    if len(ids) == 0:
        raise UserDataError(
            f"{name} has no row with an id, a time and a value: every sequence needs at least one value"
        )
    codes, names = pd.factorize(pd.Series(ids, dtype=object))  # sequences in order of appearance
    order = np.lexsort((time, codes))
    codes, time, value, labels = codes[order], time[order], value[order], labels[order]
    twice = np.flatnonzero((codes[1:] == codes[:-1]) & (time[1:] == time[:-1]))
    if len(twice):
        i = twice[0]
        raise UserDataError(
            f"{name}: sequence {names[codes[i]]!r} has two values at time "
            f"{time[i]:g}: each sequence needs one value per time"
        )
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    lengths = np.diff(np.r_[starts, len(codes)])
    if lengths.max() > LIMITS.max_upload_columns:
        longest = names[codes[starts[np.argmax(lengths)]]]
        raise UserDataError(
            f"{name}: sequence {longest!r} has {lengths.max()} time steps: at "
            f"most {LIMITS.max_upload_columns} are allowed here"
        )
    values = np.full((len(starts), lengths.max()), np.nan)
    values[codes, np.arange(len(codes)) - starts[codes]] = value
    per_sequence = []
    for s, (start, length) in enumerate(zip(starts, lengths)):
        found = sorted({v for v in labels[start : start + length] if v is not None})
        if len(found) > 1:
            raise UserDataError(
                f"{name}: sequence {names[s]!r} has {len(found)} labels "
                f"({_listed(repr(v) for v in found)}): each sequence needs one label"
            )
        per_sequence.append(found[0] if found else None)
    values, labels, notes = _drop_unlabelled(values, np.array(per_sequence, dtype=object), notes, "sequence")
    return values, labels, notes


# -------------------------------------------------------------------------- classes and padding
def _class_names(labels: np.ndarray) -> tuple[str, ...]:
    """The distinct labels, sorted as numbers when every one is a number, else as text."""
    distinct = sorted(set(labels))
    try:
        return tuple(sorted(distinct, key=lambda v: (float(v), v)))
    except ValueError:
        return tuple(distinct)


def _check_classes(name: str, labels: np.ndarray) -> tuple[str, ...]:
    if len(labels) == 0:
        raise UserDataError(
            f"{name} has no sequence left to use (see what was dropped): at least "
            f"2 classes with {MIN_PER_CLASS} sequences each are needed"
        )
    class_names = _class_names(labels)
    if len(class_names) < 2:
        raise UserDataError(
            f"{name} has a single class ({class_names[0]!r}): a classifier needs "
            f"at least 2 classes of sequences"
        )
    if len(class_names) > MAX_CLASSES:
        raise UserDataError(
            f"{name} has {len(class_names)} classes: at most {MAX_CLASSES} are "
            f"allowed (is the label column the right one?)"
        )
    index = {c: i for i, c in enumerate(class_names)}
    counts = per_class_counts(np.array([index[v] for v in labels]), class_names)
    few = {c: n for c, n in counts.items() if n < MIN_PER_CLASS}
    if few:
        listed = _listed(f"{c!r} ({n})" for c, n in few.items())
        raise UserDataError(
            f"{name}: every class needs at least {MIN_PER_CLASS} sequences (one to "
            f"learn from, one to test on); too few in {listed}"
        )
    return class_names


def _pad(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row repeated from its last value to the common length; (padded, lengths)."""
    lengths = _lengths(values)
    last = values[np.arange(len(values)), lengths - 1]
    after = np.arange(values.shape[1])[None, :] >= lengths[:, None]
    return np.where(after, last[:, None], values), lengths


def _sequence_data(
    raw: bytes, name: str, options: dict[str, Any], values: np.ndarray, labels: np.ndarray, notes: list[str]
) -> SequenceData:
    class_names = _check_classes(name, labels)
    values = values[:, : int(_lengths(values).max())]  # no step that every sequence lacks
    sequences, lengths = _pad(values)
    padded = int((lengths < sequences.shape[1]).sum())
    if padded:
        notes.append(
            f"padded {padded} of {len(lengths)} sequences to {sequences.shape[1]} steps "
            f"by repeating their last value"
        )
    sequences = sequences.astype(np.float32)
    index = {c: i for i, c in enumerate(class_names)}
    counts = ", ".join(
        f"{c}: {n}" for c, n in per_class_counts(np.array([index[v] for v in labels]), class_names).items()
    )
    notes.append(
        f"{_count(len(labels), 'sequence')} of {_count(sequences.shape[1], 'step')} in "
        f"{len(class_names)} classes ({counts})"
    )
    lengths = lengths.astype(np.int64)
    label_index = np.array([index[v] for v in labels], dtype=np.int64)
    for array in (sequences, lengths, label_index):  # shared through caches: nobody may change them
        array.flags.writeable = False
    return SequenceData(
        name=name,
        fingerprint=fingerprint(bytes(raw), options),
        options=options,
        notes=tuple(notes),
        sequences=sequences,
        lengths=lengths,
        labels=label_index,
        class_names=class_names,
    )
