"""A CSV upload's bytes read into a pandas DataFrame, or a message saying what is wrong with it.

Accepted files: UTF-8 text (with or without the byte-order mark Excel writes), a header row, one
row per sample, separated by commas, semicolons or tabs (whichever the header uses most). A
semicolon file may write decimals with a comma (``1,5``), as European spreadsheets do.
"""

from __future__ import annotations

import io
import re

import pandas as pd

from tl_core import limits as host_limits
from tl_core.userdata import UserDataError
from tl_core.userdata.table_columns import numeric_columns, text_columns
from tl_core.userdata.table_words import listed

NA_VALUES = ["?"]  # besides pandas' own ("", "NA", "n/a", "NaN", "null", ...): UCI's missing mark
_TEXT_SAMPLE = 65536  # bytes checked for binary content before decoding


def read_csv(raw: bytes, name: str) -> pd.DataFrame:
    """The table in `raw`, a CSV file's bytes, checked; UserDataError says what is wrong.

    Checks, cheapest first: the host's byte cap, binary or UTF-16 content, UTF-8 decoding,
    the column cap (from the header alone), the row cap (parsing stops one row past it), a
    well-formed table with at least one row, and at least one numeric column.
    """
    raw = _checked_bytes(raw, name)
    text = _decode(raw, name)
    separator = _separator(text)
    table = _capped_table(text, name, separator)
    stripped = [str(c).strip() for c in table.columns]
    if len(set(stripped)) == len(stripped):  # else keep pandas' names, made unique (a, a.1)
        table.columns = stripped
    notes = []
    if separator != ",":
        notes.append(f"read with {_SEPARATOR_NAMES[separator]} between values")
    if separator == ";":
        converted = _decimal_commas(table)
        if converted:
            notes.append(f"read decimal commas as numbers in {listed(converted)}")
    table.attrs["notes"] = tuple(notes)
    if not numeric_columns(table):
        raise UserDataError(
            f"{name} has no numeric columns: the features must be numbers "
            f"(found text columns {listed(table.columns)})"
        )
    return table


def _checked_bytes(raw: bytes, name: str) -> bytes:
    """The upload's bytes, within the host's byte cap and not empty."""
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
    return raw


def _capped_table(text: str, name: str, separator: str) -> pd.DataFrame:
    """The table, within the host's caps on columns (checked from the header alone) and rows
    (parsing stops one row past the cap), with at least one row."""
    caps = host_limits.LIMITS
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
