"""The two layouts of a sequence table, each turned into values [sequences, steps] and labels.

- **wide**: one row per sequence, one column per time step, a label column (and maybe an id).
- **long**: one row per value, with columns sequence id, time, value and label.

The rules (which columns are found by name, what is dropped or filled) are in the docstring of
:mod:`tl_core.userdata.sequences`, the reader that calls these. Each returns (values with NaN
where missing or after a sequence's end, labels as text or None, notes).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from tl_core.userdata import UserDataError
from tl_core.userdata.sequence_cells import (
    check_spread,
    checked_numbers,
    counted,
    given_column,
    infinite_note,
    listing,
    named_columns,
    parse_numbers,
    row_lengths,
    text_cells,
)

# Column names (lower case, spaces and dashes read as underscores) that say what a column holds.
LABEL_NAMES = ("label", "class", "target", "y", "category")
ID_NAMES = ("id", "sequence", "sequence_id", "seq", "seq_id", "series", "series_id", "name")
TIME_NAMES = ("time", "t", "step", "time_step", "timestep", "timestamp")
VALUE_NAMES = ("value", "x", "val", "signal", "measurement")


def is_long(table: pd.DataFrame, options: dict[str, Any]) -> bool:
    """Whether the table is in the long layout: as chosen, or told apart by its column names."""
    if options["layout"] != "auto":
        return options["layout"] == "long"
    if options["time_column"] is not None or options["value_column"] is not None:
        return True
    return all(named_columns(table, names) for names in (ID_NAMES, TIME_NAMES, VALUE_NAMES))


def _wide_label(table: pd.DataFrame, name: str, parsed: dict, id_column: str | None) -> str:
    """The label column of a wide table: named like a label, else the one text column."""
    named = named_columns(table, LABEL_NAMES, exclude=(id_column,))
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise UserDataError(
            f"{name}: cannot tell which column is the label (the class of each "
            f"sequence): {listing(named)} could all be; choose one"
        )
    text = [c for c in table.columns if c != id_column and len(parsed[c][1])]
    if len(text) == 1:
        return text[0]
    if text:
        raise UserDataError(
            f"{name}: cannot tell which column is the label (the class of each "
            f"sequence): the text columns {listing(text)} could all be; choose one"
        )
    raise UserDataError(
        f"{name}: cannot tell which column is the label (the class of each "
        f"sequence): no column is named label, class, target or y, and every "
        f"column holds numbers ({listing(table.columns)}); choose the label column"
    )


def wide_layout(table: pd.DataFrame, name: str, options: dict[str, Any], max_steps: int):
    """(values [N, columns] with NaN, labels, notes) of a table with one row per sequence."""
    parsed = {c: parse_numbers(table, c) for c in table.columns}
    id_column, label = _wide_columns(table, name, options, parsed)
    notes = []
    steps = _time_steps(table, name, parsed, id_column, label, max_steps, notes)
    what = "the time steps (if this column is not one, choose it as the label or id column)"
    infinite: dict[str, int] = {}
    values = np.stack([checked_numbers(name, table, c, parsed[c], what, infinite) for c in steps], axis=1)
    notes.insert(
        0,
        f"wide layout: one sequence per row, {counted(len(steps), 'time step')} "
        f"({listing(steps)}), label column {label!r}",
    )
    notes += infinite_note(infinite)
    check_spread(name, values, steps)
    labels = text_cells(table, label)
    values, labels, notes = _drop_unlabelled(values, labels, notes, "row")
    values, labels = _fill_gaps(values, labels, options["missing"], notes)
    return values, labels, notes


def _wide_columns(
    table: pd.DataFrame, name: str, options: dict[str, Any], parsed: dict
) -> tuple[str | None, str]:
    """The id column (given, or named like one; None without) and the label column of a wide
    table, which needs a numeric column besides them."""
    id_column = given_column(table, name, "id column", options["id_column"])
    label = given_column(table, name, "label", options["label"])
    if id_column is None:
        ids = named_columns(table, ID_NAMES, exclude=(label,))
        id_column = ids[0] if ids else None
    numeric = [
        c
        for c, (v, text) in parsed.items()
        if c not in (label, id_column) and not len(text) and not np.isnan(v).all()
    ]
    if not numeric:
        text = [c for c, (_, t) in parsed.items() if len(t)]
        raise UserDataError(
            f"{name} has no numeric columns: the time steps must be numbers "
            f"(found text columns {listing(text or table.columns)})"
        )
    if label is None:
        label = _wide_label(table, name, parsed, id_column)
    return id_column, label


def _time_steps(
    table: pd.DataFrame,
    name: str,
    parsed: dict,
    id_column: str | None,
    label: str,
    max_steps: int,
    notes: list[str],
) -> list[str]:
    """The columns that are time steps: all but the id and the label, empty ones ignored (with
    a note in `notes`), at most `max_steps` of them."""
    steps = [c for c in table.columns if c not in (id_column, label)]
    empty = [c for c in steps if np.isnan(parsed[c][0]).all() and not len(parsed[c][1])]
    if empty:
        notes.append(f"ignored {counted(len(empty), 'empty column')}: {listing(empty)}")
        steps = [c for c in steps if c not in empty]
    if not steps:
        raise UserDataError(
            f"{name} has no numeric columns besides the label {label!r}: the time steps must be numbers"
        )
    if len(steps) > max_steps:
        raise UserDataError(
            f"{name} has {len(steps)} time steps (columns): at most {max_steps} are allowed here"
        )
    return steps


def _drop_unlabelled(values, labels, notes, what: str):
    keep = np.array([v is not None for v in labels], dtype=bool)
    if not keep.all():
        notes.append(f"dropped {counted((~keep).sum(), what)} without a label")
    values, labels = values[keep], labels[keep]
    no_values = np.isnan(values).all(axis=1) if values.size else np.ones(len(values), bool)
    if no_values.any():
        notes.append(f"dropped {counted(no_values.sum(), what)} with no values")
    return values[~no_values], labels[~no_values], notes


def _fill_gaps(values: np.ndarray, labels: np.ndarray, missing: str, notes: list[str]):
    """Missing values before a row's last value: drop the row, or fill with the step's mean."""
    lengths = row_lengths(values)
    inside = np.isnan(values) & (np.arange(values.shape[1]) < lengths[:, None])
    rows = inside.any(axis=1)
    if not rows.any():
        return values, labels
    if missing == "drop":
        notes.append(
            f"dropped {counted(rows.sum(), 'sequence')} with a "
            f"missing value before its end (missing = mean fills them instead)"
        )
        return values[~rows], labels[~rows]
    counts = np.sum(~np.isnan(values), axis=0)
    sums = np.nansum(values, axis=0)
    overall = float(np.nanmean(values))
    step_mean = np.where(counts > 0, sums / np.maximum(counts, 1), overall)
    values = np.where(inside, step_mean[None, :], values)
    notes.append(
        f"filled {counted(inside.sum(), 'missing value')} in "
        f"{counted(rows.sum(), 'sequence')} with the mean of "
        f"their time step"
    )
    return values, labels


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
        column = given_column(table, name, option.replace("_", " "), given)
        if column is None:
            candidates = named_columns(table, names, exclude=tuple(found.values()))
            if not candidates:
                raise UserDataError(
                    f"{name}: cannot find the {role} column of the long layout (one row per "
                    f"value: sequence id, time, value, label); its columns are "
                    f"{listing(table.columns)}; name it {', '.join(names[:3])}, or choose it "
                    f"as {option}"
                )
            column = candidates[0]
        found[role] = column
    if len(set(found.values())) < len(found):
        raise UserDataError(
            f"{name}: the long layout needs four different columns for id, time, value and label, got {found}"
        )
    return found


def long_layout(table: pd.DataFrame, name: str, options: dict[str, Any], max_steps: int):
    """(values [N, T] with NaN after each end, labels, notes) of a table with one row per value."""
    columns = _long_columns(table, name, options)
    notes = [
        f"long layout: one value per row; sequence id {columns['id']!r}, time "
        f"{columns['time']!r}, value {columns['value']!r}, label {columns['label']!r}"
    ]
    infinite: dict[str, int] = {}
    time = checked_numbers(
        name, table, columns["time"], parse_numbers(table, columns["time"]), "the times", infinite
    )
    value = checked_numbers(
        name, table, columns["value"], parse_numbers(table, columns["value"]), "the values", infinite
    )
    notes += infinite_note(infinite)
    check_spread(name, value[:, None], [columns["value"]])
    ids = text_cells(table, columns["id"])  # stripped text, None where empty
    labels = text_cells(table, columns["label"])
    keep = np.array([i is not None for i in ids], dtype=bool) & ~np.isnan(time) & ~np.isnan(value)
    if not keep.all():
        notes.append(f"dropped {counted((~keep).sum(), 'row')} with a missing id, time or value")
    ids, time, value, labels = ids[keep], time[keep], value[keep], labels[keep]
    if len(ids) == 0:
        raise UserDataError(
            f"{name} has no row with an id, a time and a value: every sequence needs at least one value"
        )
    values, labels = _by_sequence(name, ids, time, value, labels, max_steps)
    return _drop_unlabelled(values, labels, notes, "sequence")


def _by_sequence(name: str, ids, time, value, labels, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """One row per sequence (in order of appearance) holding its values in the order of their
    times, NaN after its end; and each sequence's one label (None when it has none)."""
    codes, names = pd.factorize(pd.Series(ids, dtype=object))
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
    if lengths.max() > max_steps:
        longest = names[codes[starts[np.argmax(lengths)]]]
        raise UserDataError(
            f"{name}: sequence {longest!r} has {lengths.max()} time steps: at "
            f"most {max_steps} are allowed here"
        )
    values = np.full((len(starts), lengths.max()), np.nan)
    values[codes, np.arange(len(codes)) - starts[codes]] = value
    per_sequence = [
        _one_label(name, names[s], labels[start : start + length])
        for s, (start, length) in enumerate(zip(starts, lengths))
    ]
    return values, np.array(per_sequence, dtype=object)


def _one_label(name: str, sequence: str, labels: np.ndarray) -> str | None:
    """The label of a sequence's rows; two different labels are an error."""
    found = sorted({v for v in labels if v is not None})
    if len(found) > 1:
        raise UserDataError(
            f"{name}: sequence {sequence!r} has {len(found)} labels "
            f"({listing(repr(v) for v in found)}): each sequence needs one label"
        )
    return found[0] if found else None
