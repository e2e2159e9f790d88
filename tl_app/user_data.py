"""The "Your data" section of a demo page: upload a file, make the choices it needs, get its data.

A demo that takes a user's data (its `OFFERS.user_data` is "table", "images" or "sequences")
gets a "Data" choice in the sidebar, saved in the link as `data=builtin` or `data=own`. With
"own", this section asks for the file and the few choices it needs, reads it through
`tl_core.userdata` (cached by the file's bytes and the choices) and hands the page a data object.

A link cannot carry a file: a link saying `data=own` opened in a session that has no file falls
back to the built-in scenario and says so (see `fall_back_from_link`). A table bundled with
scikit-learn needs no file: the link names it (`table=diabetes`) and opens it, with its suggested
columns. Everything a reader refuses is shown as the reader's own message, and the page waits for
a better file; nothing else is lost.

A table's columns get sensible defaults: the split is the column that looks like a domain (text
with few distinct values, such as a region), and every column left out of the features is named
with the reason (the label, the split, text, unticked).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import streamlit as st

from tl_app import cached, controls
from tl_core.config import FieldSpec
from tl_core.limits import LIMITS
from tl_core.userdata import UserData, UserDataError

DATA_SOURCE = FieldSpec(
    name="data",
    kind=str,
    default="builtin",
    choices=("builtin", "own"),
    help="the built-in scenario's data, or your own file (a link cannot carry a file: whoever "
    "opens it sees the built-in data until they upload theirs)",
)
DATA_WORDS = {"builtin": "Built-in scenario", "own": "Your own data"}
controls.LABELS["data"] = "Data"
controls.LABELS["table"] = "Table (with your own data)"
UPLOAD = "upload"  # the table choice that is a file of the visitor's, not a bundled table
MAX_DOMAIN_VALUES = 10  # a column with more distinct values reads as a measurement, not a domain
IMAGES_AS_THE_CNN_SEES_THEM = (
    "The CNN reads each image at its own input size, 8x8 in grey ink (the bottom row of the "
    "samples chart); the ImageNet comparison reads them in colour at 224x224."
)

UPLOAD_HELP = {
    "table": "A CSV file with a header row, one row per sample: numeric feature columns, a label "
    "column, and a column that tells the source rows from the target rows.",
    "images": "A zip of one folder per class (cats/…png, dogs/…jpg), the layout torchvision's "
    "ImageFolder reads. A few images per class are enough.",
    "sequences": "A CSV with one row per sequence (numeric columns = time steps) and a label "
    "column, or a long table with columns sequence id, time, value, label.",
}
FILE_TYPES = {"table": ["csv", "txt"], "images": ["zip"], "sequences": ["csv", "txt"]}


def takes_user_data(module) -> bool:
    return module.OFFERS.user_data in UPLOAD_HELP


def table_source(module) -> FieldSpec | None:
    """The table choice of a demo that reads tables: an upload, or a table bundled with
    scikit-learn for its task (a link can carry this one: the bundled tables need no file)."""
    from tl_core.userdata import tables

    if module.OFFERS.user_data != "table":
        return None
    task = _task(module)
    bundled = tuple(name for name, table in tables.BUNDLED_TABLES.items() if table.task == task)
    return FieldSpec(
        name="table",
        kind=str,
        default=UPLOAD,
        choices=(UPLOAD, *bundled),
        help="with “Your own data”: a CSV file of yours, or a table bundled with scikit-learn, "
        "each with a split that shows a real shift (a link opens a bundled table, not a file)",
    )


def table_words(choice: str) -> str:
    return "Upload a CSV" if choice == UPLOAD else f"sklearn: {choice.replace('_', ' ')}"


def _task(module) -> str:
    return "classification" if module.METRIC == "accuracy" else "regression"


def data_widget() -> str:
    return controls.widget(DATA_SOURCE, format_func=DATA_WORDS.get)


def ignored_with_own_data(module) -> tuple[str, ...]:
    """The settings a user's data replaces (the page greys them out)."""
    return tuple(module.OFFERS.ignored_with_user_data)


def keyword(data: UserData | None) -> dict:
    """How a demo's functions take a user's data: `data=`, absent for the built-in data."""
    return {} if data is None else {"data": data}


def _loaded() -> dict[str, UserData]:
    return st.session_state.setdefault("_tl_user_data", {})


def fall_back_from_link(demo: str, entered: bool) -> None:
    """When a page is entered from a link saying `data=own` and this session has no file for it,
    switch to the built-in data and say why (before the sidebar's widgets are drawn). A link to a
    bundled table needs no file: it opens."""
    state = st.session_state
    uploaded = state.get("table", UPLOAD) == UPLOAD
    if entered and state.get("data") == "own" and uploaded and demo not in _loaded():
        state["data"] = "builtin"
        state.setdefault("_tl_link_warnings", []).append(
            "This link's experiment ran on a file uploaded by whoever shared it, and a link cannot "
            "carry a file: this page shows the built-in scenario instead. To reproduce it, choose "
            "“Your own data” under Data in the sidebar and upload the same file."
        )


def section(demo: str, module) -> UserData | None:
    """Draw the "Your data" section; return the data once a file is read, else None."""
    kind = module.OFFERS.user_data
    st.subheader("0 · Your data")
    try:
        data = READERS[kind](demo, module)
    except UserDataError as err:
        st.error(
            f"**This data cannot be used as it is.** {controls.escape(str(err))}", icon=":material/error:"
        )
        data = None
    if data is None:
        _loaded().pop(demo, None)
        return None
    _loaded()[demo] = data
    describe(data)
    return data


def describe(data: UserData) -> None:
    sizes = ", ".join(f"{v} {k.replace('n_', '').replace('_', ' ')}" for k, v in data.sizes().items())
    st.success(f"Using **{controls.escape(data.name)}**: {sizes}.", icon=":material/dataset:")
    for note in data.notes:  # the core's notes are sentence fragments: shown as sentences
        st.caption(controls.escape(note[:1].upper() + note[1:]))
    if data.kind == "images":  # the reader keeps them larger, in colour; the CNN's input is small
        st.caption(IMAGES_AS_THE_CNN_SEES_THEM)


def _uploaded(demo: str, kind: str) -> tuple[bytes, str] | None:
    """The uploaded file's bytes and name, or None (with a hint) before one is chosen."""
    file = st.file_uploader(
        f"Your file (at most {LIMITS.max_upload_mb} MB)",
        type=FILE_TYPES[kind],
        key=f"upload_{demo}",
        help=UPLOAD_HELP[kind],
        max_upload_size=LIMITS.max_upload_mb,
    )
    if file is None:
        st.info(
            UPLOAD_HELP[kind] + " Upload one above to run every strategy on it.",
            icon=":material/upload_file:",
        )
        return None
    return file.getvalue(), file.name


def _key(demo: str, name: str) -> str:
    return f"ud_{demo}_{name}"


def _options(**options: Any) -> str:
    return json.dumps(options, sort_keys=True)


# ----------------------------------------------------------------------------------------------
# Images (CNN) and sequences (RNN): a file and, for sequences, how to read it


def image_section(demo: str, module) -> UserData | None:
    upload = _uploaded(demo, "images")
    if upload is None:
        return None
    return cached.user_data("images", *upload, _options())


SEQUENCE_LAYOUTS = {
    "auto": "Guess from the columns",
    "wide": "One row per sequence",
    "long": "One row per time step (id, time, value, label)",
}


def sequence_section(demo: str, module) -> UserData | None:
    upload = _uploaded(demo, "sequences")
    if upload is None:
        return None
    left, middle, right = st.columns(3)
    layout = left.selectbox(
        "Layout", list(SEQUENCE_LAYOUTS), format_func=SEQUENCE_LAYOUTS.get, key=_key(demo, "layout")
    )
    label = (
        middle.text_input(
            "Label column (empty: guess)", key=_key(demo, "label"), max_chars=controls.MAX_LINK_TEXT
        ).strip()
        or None
    )
    missing = right.selectbox(
        "A missing value inside a sequence",
        ["drop", "mean"],
        key=_key(demo, "missing"),
        format_func={"drop": "drop that sequence", "mean": "fill with its time step's mean"}.get,
    )
    options = dict(layout=layout, label=label, missing=missing)
    if layout == "long":  # columns named otherwise than id / time / value are picked by hand
        columns = st.columns(3)
        for place, option in zip(columns, ("id_column", "time_column", "value_column")):
            options[option] = (
                place.text_input(
                    f"{option.replace('_', ' ').capitalize()} (empty: guess)",
                    key=_key(demo, option),
                    max_chars=controls.MAX_LINK_TEXT,
                ).strip()
                or None
            )
    return cached.user_data("sequences", *upload, _options(**options))


# ----------------------------------------------------------------------------------------------
# Tables (linear, logistic regression): an upload or a bundled table, then its columns


def table_section(demo: str, module) -> UserData | None:
    from tl_core.userdata import tables

    task, source = _task(module), st.session_state.get("table", UPLOAD)
    if source != UPLOAD:
        st.caption(f"scikit-learn's bundled table: {tables.BUNDLED_TABLES[source].title}.")
    if source == UPLOAD:
        upload = _uploaded(demo, "table")
        if upload is None:
            return None
        raw, name = upload
        frame = cached.read_table(raw, name)
        scope, suggested = f"{name}_{len(raw)}", {}
    else:
        raw, name = b"", source
        frame = tables.bundled_table(source)
        scope, suggested = source, tables.BUNDLED_TABLES[source].options()
    with st.expander(f"The table: {len(frame)} rows, {len(frame.columns)} columns"):
        st.dataframe(frame.head(200), key=_key(demo, "preview"))
    options, changed = table_choices(demo, task, frame, f"{demo}_{scope}", suggested)
    st.session_state.setdefault("_tl_table_changes", {})[demo] = changed if source != UPLOAD else []
    return cached.user_data("table", raw, name, _options(**options), bundled=source != UPLOAD)


def changed_columns(demo: str) -> list[str]:
    """The choices a visitor changed on a bundled table (a link opens it with its suggested ones)."""
    return st.session_state.get("_tl_table_changes", {}).get(demo, [])


def _index(options: list, value: Any, default: int = 0) -> int:
    return options.index(value) if value in options else default


def table_choices(
    demo: str, task: str, frame, scope: str, suggested: dict
) -> tuple[dict[str, Any], list[str]]:
    """The label, split and features of a table, chosen with widgets (keys scoped to the table,
    so another table starts from its own suggestions); and which choices differ from the
    suggested (or default) ones."""
    from tl_core.userdata import tables

    def key(name: str) -> str:
        return _key(scope, name)

    columns = [str(c) for c in frame.columns]
    numeric = [str(c) for c in tables.numeric_columns(frame)]
    labels = numeric if task == "regression" else columns
    if not labels:
        raise UserDataError(
            "the table has no numeric column to predict: a regression's label must be numbers"
        )
    left, middle, right = st.columns(3)
    label = left.selectbox(
        "Label: what the model predicts",
        labels,
        key=key("label"),
        index=_index(labels, suggested.get("label"), len(labels) - 1),
    )
    splits = [c for c in columns if c != label]
    if not splits:
        raise UserDataError(
            "the table needs a column besides the label to split its rows into a source and a target domain"
        )
    split_column = middle.selectbox(
        "Target rows: those whose",
        splits,
        key=key("split"),
        index=_index(splits, suggested.get("split_column"), splits.index(domain_column(frame, splits))),
    )
    op, value = _split_rule(frame, split_column, suggested, right, key)
    source_rows, target_rows = tables.split_counts(frame, split_column, op, value)
    source_words, target_words = tables.split_words(split_column, op, value)
    st.caption(
        f"Target: {target_rows} rows where {controls.escape(target_words)}. Source: the other "
        f"{source_rows} rows ({controls.escape(source_words)})."
    )
    features = [c for c in numeric if c not in (label, split_column)]
    # keyed by the label and the split: a column they free becomes a feature again, ticked
    chosen = st.multiselect(
        "Features", features, default=features, key=key(f"features_{label}_{split_column}")
    )
    st.caption(controls.escape(left_out(frame, label, split_column, features, chosen)))
    missing = st.radio(
        "Rows with a missing value",
        list(tables.MISSING),
        horizontal=True,
        key=key("missing"),
        format_func={"drop": "drop them", "mean": "fill with the source's mean"}.get,
    )
    options = dict(
        task=task,
        label=label,
        features=chosen,
        split_column=split_column,
        split_op=op,
        split_value=value,
        missing=missing,
    )
    if task == "classification":
        classes = tables.label_classes(frame, label)
        if len(classes) > 2:
            options["positive_class"] = st.selectbox(
                f"{controls.escape(label)} has {len(classes)} classes and logistic regression tells "
                "two apart: this class against the rest",
                classes,
                key=key("positive"),
                index=_index(classes, suggested.get("positive_class")),
            )
    changed = [
        name
        for name in ("label", "split_column", "split_op", "split_value", "positive_class")
        if name in suggested and options.get(name) != suggested[name]
    ]
    if chosen != features:
        changed.append("features")
    if missing != "drop":
        changed.append("missing")
    return options, changed


def domain_column(frame, columns: list[str]) -> str:
    """Of `columns`, the one that most looks like a domain: text with 2 to MAX_DOMAIN_VALUES
    distinct values (the fewest first), else numbers with that few; else the first column."""
    from tl_core.userdata import tables

    def distinct(column: str) -> int:
        return int(frame[column].nunique(dropna=True))

    for kind in ("text", "number"):
        few = [
            c
            for c in columns
            if tables.column_kind(frame, c) == kind and 2 <= distinct(c) <= MAX_DOMAIN_VALUES
        ]
        if few:
            return min(few, key=lambda c: (distinct(c), columns.index(c)))
    return columns[0]


def left_out(frame, label: str, split_column: str, features: list[str], chosen: list[str]) -> str:
    """Every column that is not a feature, and why: nothing leaves the model unsaid."""
    from tl_core.userdata import tables

    reasons = [f"{label} (the label)", f"{split_column} (the split)"]
    numeric = {str(c) for c in tables.numeric_columns(frame)}
    reasons += [
        f"{c} ({'text' if tables.column_kind(frame, c) == 'text' else 'no values'})"
        for c in map(str, frame.columns)
        if c not in (label, split_column) and c not in numeric
    ]
    reasons += [f"{c} (unticked)" for c in features if c not in chosen]
    return "Not features: " + ", ".join(reasons) + "."


def _split_rule(frame, column: str, suggested: dict, place, key) -> tuple[str, Any]:
    from tl_core.userdata import tables

    op_place, value_place = place.columns([1, 2])
    own = suggested.get("split_column") == column
    if tables.column_kind(frame, column) == "number":
        ops = list(tables.SPLIT_OPS)
        op = op_place.selectbox(
            "are", ops, key=key(f"op_{column}"), index=_index(ops, suggested.get("split_op") if own else ">")
        )
        value = suggested["split_value"] if own else tables.split_threshold(frame, column)
        return op, value_place.number_input("than / to", value=float(value), key=key(f"value_{column}"))
    op = op_place.selectbox("are", ["==", "!="], key=key(f"op_{column}"))
    values = tables.candidate_split_values(frame, column)
    value = value_place.selectbox(
        "value",
        values,
        key=key(f"value_{column}"),
        index=_index(values, suggested.get("split_value") if own else None),
    )
    return op, value


READERS: dict[str, Callable[[str, Any], UserData | None]] = {
    "table": table_section,
    "images": image_section,
    "sequences": sequence_section,
}
