"""How a table's values and counts are written in messages and in the domains' descriptions.

Every module of the table reader words things the same way through these: a value as the user
sees it (``3`` not ``3.0``), a quoted option, a list cut at MAX_LISTED, "1 row" or "3 rows".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MAX_LISTED = 10  # column names or values quoted in one message


def value_text(value: Any) -> str:
    """A value as the user sees it: whole numbers without ".0" (3, not 3.0), others as %g, text
    stripped."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() and abs(number) < 1e15 else f"{number:g}"
    return str(value).strip()


def as_number(value: Any) -> float | None:
    """A finite number from a value (text may write the decimal with a comma); None if not."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        number = float(str(value).strip().replace(",", ".")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def plain(value: Any) -> Any:
    """A JSON-able copy of an option value (numpy numbers become Python ones)."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def quoted(value: Any) -> str:
    """A value as a message quotes it: text in quotes (numpy's too), anything else as it is."""
    return repr(str(value)) if isinstance(value, str) else repr(plain(value))


def example(values: pd.Series) -> str:
    """The first value present, as the user sees it (for "e.g." in a message)."""
    present = values.dropna()
    return value_text(present.iloc[0]) if len(present) else ""


def listed(items) -> str:
    """The first MAX_LISTED items, then how many in all."""
    items = [str(i) for i in items]
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > MAX_LISTED else "")


def count_rows(n: int) -> str:
    """ "1 row", "3 rows"."""
    return f"{int(n)} row" + ("" if int(n) == 1 else "s")


def row_numbers(rows: np.ndarray) -> str:
    """ "row 3" or "rows 3, 17 and 40": rows counted from 1, at most MAX_LISTED of them."""
    numbers = [str(int(r) + 1) for r in rows[:MAX_LISTED]]
    if len(rows) == 1:
        return f"row {numbers[0]}"
    more = f" and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    if more:
        return f"rows {', '.join(numbers)}{more}"
    return f"rows {', '.join(numbers[:-1])} and {numbers[-1]}"
