"""Bring your own data: a teacher's or student's own data set as a demo's target (and source) task.

Every reader takes the file's bytes (an upload, or a file read from disk) and the choices a user
makes about it, checks everything, and returns one plain, frozen data object. A demo's
``run(config, data=...)`` then uses it in place of its built-in scenario:

- linear, logistic: :func:`tables.read_table_data` (or :func:`tables.table_data` on a bundled
  sklearn table) gives a :class:`TableData`: both domains, split from one table;
- cnn: :func:`images.read_image_zip` gives an :class:`ImageData`: the target task (the source is a
  built-in scenario's source model);
- rnn: :func:`sequences.read_sequence_csv` gives a :class:`SequenceData`: the target task (the
  source is a built-in scenario's source model).

Bad data raises :class:`UserDataError` (a ValueError) whose message names what was wrong and
what is allowed, in words a student understands; nothing else escapes a reader. The caps on
bytes, rows, columns and images come from :mod:`tl_core.limits`, set by the host.

Names a visitor chose (the file's, its columns', its classes') are kept as typed, in the data and
in every export; a figure shows them through :func:`literal` (see :func:`for_figures`), because
plotly renders a subset of HTML in any text.

Every data object carries `options` (the reader's keyword arguments, JSON-able), so that the
same data can be read again from the same file: ``read(data.kind, raw, data.name,
**data.options)``, which is what an exported notebook does; and a `fingerprint` (a hash of the
bytes and the options), which is what caches key on.

Each reader's public face is its module above; the steps behind it live in modules of their own:
``table_csv`` (bytes to a DataFrame), ``table_columns`` (column kinds and the splits offered),
``table_checks`` (values and domains), ``table_bundled`` (scikit-learn's tables), ``table_words``
(how messages write values); ``image_zip`` (checking and unpacking the zip); ``sequence_layouts``
(the wide and long layouts), ``sequence_cells`` (checking cells, wording counts).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class UserDataError(ValueError):
    """The user's data cannot be used as it is: the message says why and what is allowed."""


def fingerprint(raw: bytes, options: dict[str, Any]) -> str:
    """A short hash of a file's bytes and the choices made about it: equal data, equal key."""
    digest = hashlib.sha256(raw)
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True, eq=False)
class UserData:
    """What every user data set has besides its arrays."""

    name: str  # what to call it: the file's name, or "sklearn wine" for a bundled table
    fingerprint: str  # see `fingerprint`: what caches key on
    options: dict = field(default_factory=dict)  # the reader's keyword arguments (JSON-able)
    notes: tuple[str, ...] = ()  # what was done to the data, in words ("dropped 3 rows ...")
    bundled: str | None = None  # the bundled table's name, when it is not an upload

    kind = ""  # "table", "images" or "sequences": which reader made it

    def summary(self) -> dict[str, Any]:
        """Plain JSON for RunResult.extras["user_data"]: where the data came from."""
        return {
            "kind": self.kind,
            "name": self.name,
            "fingerprint": self.fingerprint,
            "bundled": self.bundled,
            "options": dict(self.options),
            "notes": list(self.notes),
            **self.sizes(),
        }

    def sizes(self) -> dict[str, int]:
        return {}


@dataclass(frozen=True, eq=False)
class TableData(UserData):
    """A table split into two domains; every row of each (the demo splits train and test).

    Regression: y is the label column as floats. Classification: y holds 0 or 1, and
    `class_names` names them (the logistic demo tells two classes apart).
    """

    task: str = "regression"  # or "classification"
    feature_names: tuple[str, ...] = ()
    label_name: str = ""
    source_X: np.ndarray = None  # [n_source, d] float
    source_y: np.ndarray = None  # [n_source]
    target_X: np.ndarray = None  # [n_target_rows, d] float
    target_y: np.ndarray = None
    class_names: tuple[str, ...] = ()
    source_words: str = ""  # which rows are the source, e.g. "region ≠ north"
    target_words: str = ""  # which rows are the target, e.g. "region = north"

    kind = "table"

    def sizes(self) -> dict[str, int]:
        return {
            "n_source_rows": len(self.source_y),
            "n_target_rows": len(self.target_y),
            "n_features": len(self.feature_names),
        }


@dataclass(frozen=True, eq=False)
class ImageData(UserData):
    """Labelled images, one class per folder: the CNN's target task."""

    images: np.ndarray = None  # [N, SIZE, SIZE, 3] uint8 RGB (see images.IMAGE_SIZE)
    labels: np.ndarray = None  # [N] int64 class index
    class_names: tuple[str, ...] = ()

    kind = "images"

    def sizes(self) -> dict[str, int]:
        return {"n_images": len(self.labels), "n_classes": len(self.class_names)}


@dataclass(frozen=True, eq=False)
class SequenceData(UserData):
    """Labelled sequences of one value per time step: the RNN's target task."""

    sequences: np.ndarray = None  # [N, T] float32, padded as `notes` says
    lengths: np.ndarray = None  # [N] int: each sequence's own length before padding
    labels: np.ndarray = None  # [N] int64 class index
    class_names: tuple[str, ...] = ()

    kind = "sequences"

    def sizes(self) -> dict[str, int]:
        return {
            "n_sequences": len(self.labels),
            "n_classes": len(self.class_names),
            "n_steps": int(self.sequences.shape[1]),
        }


def literal(name: Any) -> str:
    """A name a visitor chose (a class folder, a column, a file), as plotly text that shows it
    literally: plotly renders <b>, <br>, <a href=...> and entities such as &amp; in titles,
    legends, ticks and hover text, so <, > and & are written as entities."""
    return html.escape(str(name), quote=False)


def for_figures(data: UserData | None) -> UserData | None:
    """`data` with every name in it (the file's, the columns', the classes', the domains'
    descriptions) made :func:`literal`, the arrays shared: what a figure function draws from.
    Results and exports keep the names as typed."""
    if data is None:
        return None
    changes = {"name": literal(data.name)}
    for names in ("class_names", "feature_names"):
        if hasattr(data, names):
            changes[names] = tuple(literal(n) for n in getattr(data, names))
    for text in ("label_name", "source_words", "target_words"):
        if hasattr(data, text):
            changes[text] = literal(getattr(data, text))
    return dataclasses.replace(data, **changes)


def per_class_counts(labels: np.ndarray, class_names: tuple[str, ...]) -> dict[str, int]:
    """How many samples each class has, by name (for messages and summaries)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    return {name: int(n) for name, n in zip(class_names, counts)}


# Which module reads each kind, and its reader: read(kind, raw, name, **options) dispatches.
READERS = {
    "table": ("tl_core.userdata.tables", "read_table_data"),
    "images": ("tl_core.userdata.images", "read_image_zip"),
    "sequences": ("tl_core.userdata.sequences", "read_sequence_csv"),
}


def read(kind: str, raw: bytes, name: str, **options: Any) -> UserData:
    """Read a user's file of `kind` ("table", "images" or "sequences"); see the module doc."""
    import importlib

    if kind not in READERS:
        raise ValueError(f"kind must be one of {', '.join(READERS)}, got {kind!r}")
    module, function = READERS[kind]
    return getattr(importlib.import_module(module), function)(raw, name, **options)
