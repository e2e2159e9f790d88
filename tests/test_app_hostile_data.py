"""Hostile files on a real page (AppTest): the page keeps working and says what it did.

- A CSV whose structure is fine but which holds inf, -inf and 1e309 (the issue's nan_inf.csv)
  runs, on the linear and the logistic page, and the page says how many infinite values it read
  as missing, in which columns; a label of 1e200 is refused with a message naming column and row.
- Column and class names with markup are shown as typed in the page's charts and sentences.
"""

from __future__ import annotations

import json
import re

import numpy as np
from test_app_pages import failures
from test_app_user_data import charts, errors, own_data, page, upload

from tl_core.userdata import literal


def nan_inf_csv(label_cell: str = "-inf") -> bytes:
    rng = np.random.default_rng(0)
    lines = ["region,price,advertising,sales,bought"]
    for i in range(51):
        price, advertising = rng.uniform(1, 5), rng.uniform(0, 10)
        sales = 20 - 2.5 * price + 1.5 * advertising + rng.normal(0, 1)
        bought = "yes" if sales + rng.normal(0, 2) > 20 else "no"
        lines.append(f"{'north' if i % 2 else 'south'},{price:.2f},{advertising:.2f},{sales:.2f},{bought}")
    lines[3] = lines[3].replace(lines[3].split(",")[1], "inf", 1)
    lines[8] = ",".join(lines[8].split(",")[:2] + ["1e309"] + lines[8].split(",")[3:])
    lines[12] = ",".join(lines[12].split(",")[:3] + [label_cell] + lines[12].split(",")[4:])
    return "\n".join(lines).encode()


def captions(at) -> list[str]:
    return [c.value.replace("\\", "") for c in at.caption]


def test_infinite_values_run_on_both_table_pages_and_the_page_says_where_they_were():
    for demo in ("linear", "logistic"):
        at = upload(own_data(page(demo)), demo, "nan_inf.csv", nan_inf_csv())
        assert not failures(at) and not errors(at), failures(at) or errors(at)
        assert at.metric and charts(at), "the run's headline and charts are there"
        said = " ".join(captions(at))
        assert "Read 3 infinite values as missing (" in said, said  # one in each number column
        for column in ("price: 1", "advertising: 1", "sales: 1"):
            assert column in said.split("Read 3 infinite values as missing (")[1].split(")")[0]


def test_a_label_too_large_to_compute_with_is_refused_naming_column_and_row():
    at = upload(own_data(page("linear")), "linear", "huge.csv", nan_inf_csv(label_cell="1e200"))
    assert not at.exception and not at.metric, "the page waits for a better file"
    (message,) = errors(at)
    assert "the label sales has a value too large to compute with (1e+200) in row 12" in message


def test_names_with_markup_are_shown_as_typed_in_the_pages_charts_and_sentences():
    bold, link = "<b>price</b>", '<a href="https://example.org">ads</a>'
    raw = nan_inf_csv().decode().replace("price", bold).replace("advertising", link.replace('"', '""'), 1)
    raw = raw.replace(link.replace('"', '""'), f'"{link.replace(chr(34), chr(34) * 2)}"', 1).encode()
    at = upload(own_data(page("linear")), "linear", "<i>shops</i>.csv", raw)
    assert not failures(at) and not errors(at), failures(at) or errors(at)
    texts = []

    def walk(value):
        if isinstance(value, str):
            texts.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for spec in charts(at):
        walk(json.loads(spec))
    for name in (bold, link):
        assert not [t for t in texts if name in t], f"{name} reaches a chart as markup"
    assert any(literal(bold) in t or literal(link) in t for t in texts), "a feature names an axis"
    shown = " ".join(m.value for m in [*at.markdown, *at.caption, *at.success])
    shown = re.sub(r"\[Theory\]\(theory#[a-z-]+\)", "", shown)  # the page's own links to its Theory
    assert "<b>" not in shown and "<i>" not in shown and "](" not in shown
