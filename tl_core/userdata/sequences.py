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

This module reads the bytes into a table of text cells, then makes the classes and the padding;
the two layouts are read by :mod:`tl_core.userdata.sequence_layouts`, the cells checked by
:mod:`tl_core.userdata.sequence_cells`. The host's caps are read here and passed down.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from tl_core.limits import LIMITS
from tl_core.userdata import SequenceData, UserDataError, fingerprint, per_class_counts
from tl_core.userdata.sequence_cells import MAX_MAGNITUDE, MAX_SPREAD_RATIO, counted, listing, row_lengths
from tl_core.userdata.sequence_layouts import is_long, long_layout, wide_layout

__all__ = [
    "LAYOUTS",
    "MAX_CLASSES",
    "MAX_MAGNITUDE",
    "MAX_SPREAD_RATIO",
    "MIN_PER_CLASS",
    "MISSING",
    "read_sequence_csv",
]

LAYOUTS = ("auto", "wide", "long")
MISSING = ("drop", "mean")
MIN_PER_CLASS = 2  # one sequence to learn from and one to test on
MAX_CLASSES = 100  # a class per sequence is not a classification task, and the confusion matrix is n²
DELIMITERS = (",", ";", "\t")


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
    if is_long(table, options):
        values, labels, notes = long_layout(table, name, options, LIMITS.max_upload_columns)
    else:
        values, labels, notes = wide_layout(table, name, options, LIMITS.max_upload_columns)
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
    table = _parse(text, name)
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


def _parse(text: str, name: str) -> pd.DataFrame:
    """The text as a table of text cells, split by the separator its header uses most. The
    column cap is checked from the header alone; parsing stops one row past the row cap."""
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
        listed = listing(f"{c!r} ({n})" for c, n in few.items())
        raise UserDataError(
            f"{name}: every class needs at least {MIN_PER_CLASS} sequences (one to "
            f"learn from, one to test on); too few in {listed}"
        )
    return class_names


def _pad(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row repeated from its last value to the common length; (padded, lengths)."""
    lengths = row_lengths(values)
    last = values[np.arange(len(values)), lengths - 1]
    after = np.arange(values.shape[1])[None, :] >= lengths[:, None]
    return np.where(after, last[:, None], values), lengths


def _sequence_data(
    raw: bytes, name: str, options: dict[str, Any], values: np.ndarray, labels: np.ndarray, notes: list[str]
) -> SequenceData:
    class_names = _check_classes(name, labels)
    values = values[:, : int(row_lengths(values).max())]  # no step that every sequence lacks
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
        f"{counted(len(labels), 'sequence')} of {counted(sequences.shape[1], 'step')} in "
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
