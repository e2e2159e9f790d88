"""Tables for the linear and logistic demos: a CSV upload, or a table bundled with scikit-learn.

One table becomes two domains by one column: the rows where ``split_column <split_op>
split_value`` holds are the **target**, the other rows the **source**. A text column splits by a
value (``region == "north"``), a numeric one by a value or a threshold (``age > 50``). The split
column is never a feature (it would tell the model which domain a row is from).

- :func:`read_csv` turns an upload's bytes into a pandas DataFrame, or says what is wrong with it.
- :func:`table_data` turns a DataFrame and the user's choices (label, features, split, missing
  values, task) into a :class:`~tl_core.userdata.TableData`; :func:`read_table_data` does both.
- :data:`BUNDLED_TABLES` / :func:`bundled_table` / :func:`bundled_table_data`: scikit-learn's
  tables that ship with the package (nothing is downloaded), with readable column names and the
  target as a column, and a split that shows a real shift.
- :func:`numeric_columns`, :func:`text_columns`, :func:`column_kind`,
  :func:`candidate_split_values`, :func:`split_threshold`, :func:`split_counts`,
  :func:`label_classes`: what the app needs to offer sensible choices, computed the same way the
  reader computes them.

Accepted files: UTF-8 text (with or without the byte-order mark Excel writes), a header row, one
row per sample, separated by commas, semicolons or tabs (whichever the header uses most). A
semicolon file may write decimals with a comma (``1,5``), as European spreadsheets do.
"""

from __future__ import annotations

import io
import operator
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from tl_core import limits as host_limits
from tl_core.userdata import TableData, UserDataError, fingerprint

TASKS = ("regression", "classification")
SPLIT_OPS = ("==", "!=", "<", "<=", ">", ">=")
ORDER_OPS = ("<", "<=", ">", ">=")  # these compare numbers: a numeric threshold
MISSING = ("drop", "mean")

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

MIN_SOURCE_ROWS = 10  # the source model needs rows to learn from and some held out to score it
MIN_TARGET_ROWS = 4  # regression: 2 labelled (the fewest a line needs) + 2 to test (R² needs 2)
MIN_ROWS_PER_CLASS = 2  # classification, in each domain: 1 to learn from + 1 to test
MAX_SPLIT_VALUES = 50  # distinct values offered for a split: more are not a choice but a list
MAX_LISTED = 10  # column names or values quoted in one message
MAX_MAGNITUDE = 1e100  # larger values overflow once squared: say so rather than compute nonsense
MAX_SPREAD_RATIO = 1e120  # a value this many times a column's spread overflows once standardized
NA_VALUES = ["?"]  # besides pandas' own ("", "NA", "n/a", "NaN", "null", ...): UCI's missing mark
_TEXT_SAMPLE = 65536  # bytes checked for binary content before decoding


# ----------------------------------------------------------------------------------------------
# Reading a CSV


def read_csv(raw: bytes, name: str) -> pd.DataFrame:
    """The table in `raw`, a CSV file's bytes, checked; UserDataError says what is wrong.

    Checks, cheapest first: the host's byte cap, binary or UTF-16 content, UTF-8 decoding,
    the column cap (from the header alone), the row cap (parsing stops one row past it), a
    well-formed table with at least one row, and at least one numeric column.
    """
    caps = host_limits.LIMITS
    if not isinstance(raw, (bytes, bytearray)):
        raise UserDataError(f"{name} could not be read: expected the file's bytes")
    raw = bytes(raw)
    if len(raw) > caps.max_upload_mb * 1024 * 1024:
        raise UserDataError(
            f"{name} is {len(raw) / 1024 / 1024:.1f} MB: files on this server can "
            f"be at most {caps.max_upload_mb} MB"
        )
    if not raw.strip():
        raise UserDataError(
            f"{name} is empty: upload a CSV file with a header row and at least one row of data"
        )
    text = _decode(raw, name)
    separator = _separator(text)
    columns = _parse(text, name, separator, nrows=0).columns
    if len(columns) > caps.max_upload_columns:
        raise UserDataError(
            f"{name} has {len(columns)} columns: tables on this server can have at "
            f"most {caps.max_upload_columns}"
        )
    table = _parse(text, name, separator, nrows=caps.max_upload_rows + 1)
    if len(table) > caps.max_upload_rows:
        raise UserDataError(
            f"{name} has more than {caps.max_upload_rows} rows: tables on this "
            f"server can have at most {caps.max_upload_rows}"
        )
    if table.empty:
        raise UserDataError(f"{name} has a header but no rows of data: add one row per sample")
    stripped = [str(c).strip() for c in table.columns]
    if len(set(stripped)) == len(stripped):  # else keep pandas' names, made unique (a, a.1)
        table.columns = stripped
    notes = []
    if separator != ",":
        notes.append(f"read with {_SEPARATOR_NAMES[separator]} between values")
    if separator == ";":
        converted = _decimal_commas(table)
        if converted:
            notes.append(f"read decimal commas as numbers in {_listed(converted)}")
    table.attrs["notes"] = tuple(notes)
    if not numeric_columns(table):
        raise UserDataError(
            f"{name} has no numeric columns: the features must be numbers "
            f"(found text columns {_listed(table.columns)})"
        )
    return table


_SEPARATOR_NAMES = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _decode(raw: bytes, name: str) -> str:
    """UTF-8 text without its byte-order mark; binary files and other encodings are refused."""
    save_as = (
        'save it as "CSV UTF-8" (Excel: File > Save As > CSV UTF-8; LibreOffice: '
        "Text CSV with character set Unicode (UTF-8))"
    )
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserDataError(f"{name} is saved as UTF-16 text, which this lab cannot read: {save_as}")
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise UserDataError(f"{name} is a spreadsheet workbook (or a zip), not a CSV file: {save_as}")
    head = raw[:_TEXT_SAMPLE]
    controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    if b"\x00" in head or controls > 0.01 * len(head):
        raise UserDataError(
            f"{name} is not a text file (it looks like binary data, such as an "
            f"image or a workbook): upload a CSV table, or {save_as}"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = err.object[: err.start].count(b"\n") + 1  # err.object: the bytes after the BOM
        raise UserDataError(
            f"{name} is not UTF-8 text (byte 0x{err.object[err.start]:02x} on "
            f"line {line} is not valid UTF-8; the file was probably saved in an "
            f"older encoding such as Windows-1252): {save_as}"
        ) from None
    stripped = text.lstrip()
    if stripped.startswith(("<", "{", "[")):
        kind = "HTML or XML" if stripped.startswith("<") else "JSON"
        raise UserDataError(
            f"{name} looks like {kind}, not a CSV table: upload a file with a "
            "header row of column names and one row per sample, values separated "
            "by commas"
        )
    return text


def _separator(text: str) -> str:
    """The separator the header line uses most: comma, semicolon or tab (comma when none)."""
    header = text.lstrip("\r\n").split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: (counts[sep], sep == ","))
    return best if counts[best] else ","


def _parse(text: str, name: str, separator: str, nrows: int) -> pd.DataFrame:
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=separator,
            nrows=nrows,
            na_values=NA_VALUES,
            skipinitialspace=True,
            engine="c",
            low_memory=False,
        )
    except pd.errors.EmptyDataError:
        raise UserDataError(
            f"{name} is empty: upload a CSV file with a header row and at least one row of data"
        ) from None
    except Exception as err:  # noqa: BLE001 - any bytes must give a message, never a crash
        raise UserDataError(_parse_message(name, separator, str(err))) from None


def _parse_message(name: str, separator: str, error: str) -> str:
    fields = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", error)
    sep_name = _SEPARATOR_NAMES[separator]
    if fields:
        expected, line, saw = fields.groups()
        return (
            f"{name} is not a well-formed CSV table: line {line} has {saw} values but the "
            f"header has {expected} columns (values separated by {sep_name}); every row "
            "needs one value per column"
        )
    first_line = error.strip().splitlines()[0] if error.strip() else "unknown error"
    return f"{name} could not be read as a CSV table (values separated by {sep_name}): {first_line[:200]}"


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?(\d+(,\d*)?|,\d+)([eE][-+]?\d+)?\s*$")


def _decimal_commas(table: pd.DataFrame) -> list[str]:
    """Turn text columns written with decimal commas ("1,5") into numbers; their names."""
    converted = []
    for column in text_columns(table):
        values = table[column].dropna()
        if len(values) and values.astype(str).str.match(_DECIMAL_COMMA).all():
            table[column] = pd.to_numeric(
                table[column].astype("string").str.replace(",", ".").str.strip(), errors="coerce"
            ).astype(float)
            converted.append(column)
    return converted


# ----------------------------------------------------------------------------------------------
# Columns: what the app offers


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
    _check_column(df, column, "split column")
    values = df[column].dropna()
    if column_kind(df, column) == "number":
        return [float(v) for v in np.unique(values.to_numpy(dtype=float))[:limit]]
    counts = _text(values).value_counts()
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [value for value, _ in ordered[:limit]]


def split_threshold(df: pd.DataFrame, column: str) -> float:
    """A threshold that halves a numeric column: its median."""
    _check_column(df, column, "split column")
    if column_kind(df, column) != "number":
        raise UserDataError(f"the split column {column} holds text: a threshold needs numbers")
    return float(df[column].median())


def split_counts(df: pd.DataFrame, column: str, op: str, value: Any) -> tuple[int, int]:
    """(source rows, target rows) of a split, before any row is dropped for a missing value."""
    _check_choice("split_op", op, SPLIT_OPS)
    _check_column(df, column, "split column")
    known = df[column].notna()
    in_target = _split_mask(df.loc[known, column], op, value, column)
    return int((~in_target).sum()), int(in_target.sum())


def label_classes(df: pd.DataFrame, label: str) -> list[str]:
    """The classes of a label column, as the names the logistic demo shows (sorted)."""
    _check_column(df, label, "label")
    return _class_names(df[label].dropna())


def split_words(column: str, op: str, value: Any) -> tuple[str, str]:
    """How the source and target rows are described: ("region ≠ north", "region = north")."""
    target_symbol, source_symbol = _OP_WORDS[op]
    shown = _value_text(value)
    return f"{column} {source_symbol} {shown}", f"{column} {target_symbol} {shown}"


# ----------------------------------------------------------------------------------------------
# Bundled tables


@dataclass(frozen=True)
class BundledTable:
    """One of scikit-learn's bundled tables, and the choices that make it a transfer task."""

    title: str  # what the app lists
    task: str  # "regression" (linear demo) or "classification" (logistic demo)
    label: str
    split_column: str
    split_op: str
    split_value: float | str
    positive_class: str | None = None

    def options(self) -> dict[str, Any]:
        """table_data's keyword arguments for this table's suggested task and split."""
        return {
            "task": self.task,
            "label": self.label,
            "split_column": self.split_column,
            "split_op": self.split_op,
            "split_value": self.split_value,
            "positive_class": self.positive_class,
        }


BUNDLED_TABLES: dict[str, BundledTable] = {
    "diabetes": BundledTable(
        "Diabetes: disease progression of 442 patients (regression), men to women",
        "regression",
        "disease progression",
        "sex",
        "==",
        2.0,
    ),
    "breast_cancer": BundledTable(
        "Breast cancer: 569 tumours, malignant or benign, smooth outlines to rough ones",
        "classification",
        "diagnosis",
        "mean smoothness",
        ">",
        0.09587,
    ),
    "wine": BundledTable(
        "Wine: 178 wines of 3 cultivars (cultivar 2 or not), less magnesium to more",
        "classification",
        "cultivar",
        "magnesium",
        ">",
        98.0,
        positive_class="cultivar 2",
    ),
    "iris": BundledTable(
        "Iris: 150 flowers of 3 species (virginica or not), narrow sepals to wide",
        "classification",
        "species",
        "sepal width (cm)",
        ">=",
        3.0,
        positive_class="virginica",
    ),
}

_DIABETES_NAMES = {
    "bp": "blood pressure",
    "s1": "total cholesterol",
    "s2": "LDL cholesterol",
    "s3": "HDL cholesterol",
    "s4": "cholesterol / HDL",
    "s5": "log triglycerides",
    "s6": "blood sugar",
    "target": "disease progression",
}


def bundled_table(name: str) -> pd.DataFrame:
    """Bundled table `name` (a key of BUNDLED_TABLES) as a fresh DataFrame, the target a column."""
    if name not in BUNDLED_TABLES:
        raise UserDataError(
            f"there is no bundled table {_quoted(name)}: choose one of {', '.join(BUNDLED_TABLES)}"
        )
    return _load_bundled(name).copy()


@cache
def _load_bundled(name: str) -> pd.DataFrame:
    from sklearn import datasets

    if name == "diabetes":  # the raw values (age in years, sex 1 or 2), not sklearn's scaled ones
        frame = datasets.load_diabetes(as_frame=True, scaled=False).frame
        return frame.rename(columns=_DIABETES_NAMES)
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }[name]
    bunch = loader(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace("_", " "))
    label = BUNDLED_TABLES[name].label
    class_names = [f"cultivar {i + 1}" for i in range(3)] if name == "wine" else bunch.target_names
    frame.insert(len(frame.columns) - 1, label, [str(class_names[t]) for t in bunch.target])
    return frame.drop(columns="target")


def bundled_table_data(table: str, **options: Any) -> TableData:
    """table_data on bundled table `table`; options default to its suggested task and split."""
    return table_data(
        bundled_table(table), f"sklearn {table}", raw=table, **{**BUNDLED_TABLES[table].options(), **options}
    )


# ----------------------------------------------------------------------------------------------
# From a table to two domains


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
        "split_value": _plain(split_value),
        "missing": missing,
        "positive_class": _plain(positive_class),
    }
    _check_choice("task", task, TASKS)
    _check_choice("split_op", split_op, SPLIT_OPS)
    _check_choice("missing", missing, MISSING)
    _check_column(df, label, "label")
    _check_column(df, split_column, "split column")
    feature_names, notes = _feature_columns(df, options["features"], label, split_column, name)
    if task == "regression" and column_kind(df, label) != "number":
        raise UserDataError(
            _not_numeric_message(
                df[label],
                f"the label {label}",
                "the linear demo predicts a number",
                "so those rows are dropped",
                "choose a numeric label, or use the logistic demo to predict classes",
            )
        )
    df, found = _infinite_as_missing(df, [split_column, label, *feature_names])
    notes += found
    checked = [(c, "feature") for c in feature_names] + ([(label, "label")] if task == "regression" else [])
    for column, role in checked:
        _check_magnitude(df, column, role)
        _check_spread(df, column, role)
    table, dropped = _known_rows(df, label, split_column)
    notes += dropped
    in_target = _split_mask(table[split_column], split_op, split_value, split_column)
    source_words, target_words = split_words(split_column, split_op, split_value)
    X = _feature_matrix(table, feature_names)
    X, table, in_target, note = _handle_missing(X, table, in_target, feature_names, missing)
    notes += note
    y, class_names = _labels(table[label], task, positive_class, label)
    _check_domain_sizes(df, y, in_target, class_names, source_words, target_words, split_column, task)
    if task == "regression":
        _check_label_varies(y, in_target, label, source_words, target_words)
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


def _feature_columns(
    df: pd.DataFrame, features: list[str] | None, label: str, split_column: str, name: str
) -> tuple[list[str], list[str]]:
    """The feature columns, and a note when a default leaves one out."""
    if features is None:
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
        notes = [
            f"left {c} out of the features: it only numbers the rows" for c in numbering if c not in chosen
        ]
        return chosen, notes
    if not features:
        raise UserDataError("choose at least one feature column")
    chosen = list(dict.fromkeys(features))
    for column in chosen:
        _check_column(df, column, "feature")
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
                _not_numeric_message(
                    df[column],
                    f"the feature {column}",
                    "features must be numbers",
                    "so they count as missing values",
                    "use it to split the rows instead, or leave it out",
                )
            )
    return chosen, []


def _numbers_the_rows(values: pd.Series) -> bool:
    """True for 0, 1, 2, ... or 1, 2, 3, ...: a row number, not a measurement."""
    numbers = values.to_numpy(dtype=float)
    steps = np.diff(numbers)
    return len(numbers) > 2 and numbers[0] in (0.0, 1.0) and bool((steps == 1).all())


def _not_numeric_message(values: pd.Series, what: str, why: str, when_empty: str, otherwise: str) -> str:
    """Why a column that must hold numbers cannot be used, pointing at its text."""
    present = values.dropna()
    if present.empty:
        return f"{what} has no values: {otherwise}"
    as_numbers = pd.to_numeric(present.astype(str).str.strip(), errors="coerce")
    text = present[as_numbers.isna()]
    if len(text) < len(present):  # mostly numbers with a few stray words
        return (
            f"{what} holds text in {_rows(len(text))} (e.g. {_example(text)!r}): {why}; fix "
            f"those cells, or leave them empty {when_empty}"
        )
    return f"{what} is not numeric (e.g. {_example(present)!r}): {why}; {otherwise}"


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
            notes.append(f"dropped {_rows(missing.sum())} with {why}")
            keep &= ~missing
    return df.loc[keep].reset_index(drop=True), notes


def _split_mask(values: pd.Series, op: str, value: Any, column: str) -> np.ndarray:
    """True for the target rows: `values <op> value`, compared as numbers or as text."""
    if column_kind(values.to_frame(), values.name) == "number":
        number = _number(value)
        if number is None:
            raise UserDataError(
                f"the split column {column} holds numbers, so split_value must be "
                f"a number, got {_quoted(value)}"
            )
        return _OP_FUNCTIONS[op](values.to_numpy(dtype=float), number)
    if op in ORDER_OPS:
        raise UserDataError(
            f"split_op {_quoted(op)} compares numbers, but the split column {column} "
            f"holds text: use == or != with one of its values "
            f"({_listed(_text(values).unique())})"
        )
    return _OP_FUNCTIONS[op](_text(values).to_numpy(dtype=object), _value_text(value))


def _infinite_as_missing(df: pd.DataFrame, columns: list[str]) -> tuple[pd.DataFrame, list[str]]:
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


def _check_magnitude(df: pd.DataFrame, column: str, role: str) -> None:
    """Refuse numbers so large that squaring them overflows (a fit would give NaN or nonsense),
    naming the column and the rows (counted from 1, the first row below the header)."""
    size = np.abs(df[column].to_numpy(dtype=float))
    rows = np.flatnonzero(size > MAX_MAGNITUDE)  # NaN compares False: missing is not large
    if len(rows):
        raise UserDataError(
            f"the {role} {column} has a value too large to compute with "
            f"({np.nanmax(size):.3g}) in {_row_numbers(rows)} (the first row below the "
            f"header is row 1): values must be at most {MAX_MAGNITUDE:.0e} in size; fix "
            "those cells, or leave them empty"
        )


def _check_spread(df: pd.DataFrame, column: str, role: str) -> None:
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
            f"{values[rows[0]]:.3g} in {_row_numbers(rows)} (the first row below the header is "
            f"row 1), while its values typically differ by {spread:.3g}, more than "
            f"{MAX_SPREAD_RATIO:.0e} times less; fix those cells, or leave them empty"
        )


def _row_numbers(rows: np.ndarray) -> str:
    """ "row 3" or "rows 3, 17 and 40": rows counted from 1, at most MAX_LISTED of them."""
    numbers = [str(int(r) + 1) for r in rows[:MAX_LISTED]]
    if len(rows) == 1:
        return f"row {numbers[0]}"
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    if more:
        return f"rows {', '.join(numbers)}{more}"
    return f"rows {', '.join(numbers[:-1])} and {numbers[-1]}"


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
        note = f"dropped {_rows((~keep).sum())} of {len(keep)} with a missing feature value ({per_column})"
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
    names = _class_names(values)
    row_names = _class_text(values)
    if len(names) < 2:
        raise UserDataError(
            f"the label {label} has only one class ({names[0]!r}): logistic "
            "regression needs two classes to tell apart"
        )
    if positive_class is None:
        if len(names) > 2:
            raise UserDataError(
                f"the label {label} has {len(names)} classes ({_listed(names)}): "
                "logistic regression tells two apart, so pick one as the positive "
                "class (positive_class) to tell it from the rest"
            )
        positive = names[1]
    else:
        positive = _value_text(positive_class)
        if positive not in names:
            raise UserDataError(
                f"positive_class {positive!r} is not a class of the label {label}: "
                f"its classes are {_listed(names)}"
            )
    negative = next(n for n in names if n != positive) if len(names) == 2 else f"not {positive}"
    return (row_names == positive).astype(np.int64), (negative, positive)


def _check_domain_sizes(
    df, y, in_target, class_names, source_words, target_words, split_column, task
) -> None:
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
                values = _listed(candidate_split_values(df, split_column))
                hint = f" ({split_column}'s values: {values})"
            raise UserDataError(f"{words} has no rows: choose another split{hint}")
        if task == "classification":
            _check_classes(words, np.bincount(y[rows], minlength=2), class_names)
        if n < needed:
            raise UserDataError(f"{words} has {_rows(n)}; it needs at least {needed}{why}")


def _check_label_varies(y, in_target, label, source_words, target_words) -> None:
    """A regression label that is one number in a domain leaves nothing to predict there (and R²,
    the share of its variation a model explains, means nothing): refused, naming the domain."""
    for words, rows in (
        (f"the source ({source_words})", ~in_target),
        (f"the target ({target_words})", in_target),
    ):
        values = y[rows]
        if values.min() == values.max():
            raise UserDataError(
                f"the label {label} is {_value_text(values[0])} in every row of {words}: a "
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
                f"{words} has {_rows(counts[c])} of class {class_names[c]!r}; "
                f"each class needs at least {MIN_ROWS_PER_CLASS} in each domain "
                "(1 to learn from + 1 to test)"
            )


# ----------------------------------------------------------------------------------------------
# Small helpers


def _check_choice(what: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise UserDataError(f"{what} must be one of {', '.join(allowed)}, got {_quoted(value)}")


def _check_column(df: pd.DataFrame, column: Any, what: str) -> None:
    if not isinstance(column, str) or column not in df.columns:
        raise UserDataError(
            f"the {what} {_quoted(column)} is not a column of the table: its "
            f"columns are {_listed(df.columns)}"
        )


def _text(values: pd.Series) -> pd.Series:
    """Values as the text a user sees: numbers without a needless ".0", stripped strings."""
    return values.map(_value_text)


def _class_text(values: pd.Series) -> np.ndarray:
    return _text(values).to_numpy(dtype=object)


def _class_names(values: pd.Series) -> list[str]:
    """The distinct classes, numbers in numeric order, text alphabetically."""
    present = values.dropna()
    if column_kind(present.to_frame(), present.name) == "number":
        return [_value_text(v) for v in np.unique(present.to_numpy(dtype=float))]
    return sorted(set(_text(present)))


def _value_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:g}"
    return str(value).strip()


def _number(value: Any) -> float | None:
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _plain(value: Any) -> Any:
    """A JSON-able copy of an option value (numpy numbers become Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _quoted(value: Any) -> str:
    """A value as a message quotes it: text in quotes (numpy's too), anything else as it is."""
    return repr(str(value)) if isinstance(value, str) else repr(_plain(value))


def _example(values: pd.Series) -> str:
    present = values.dropna()
    return _value_text(present.iloc[0]) if len(present) else ""


def _listed(items) -> str:
    items = [str(i) for i in items]
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > MAX_LISTED else "")


def _rows(n: int) -> str:
    return f"{int(n)} row" + ("" if int(n) == 1 else "s")
