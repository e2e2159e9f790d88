"""Charts drawn once per machine: the drawn form of a page's chart, kept on disk beside the results.

A page of the lecture grid reads its results from the store (tl_core.store) in milliseconds, yet
building its dozen plotly figures took most of the server's second for that page, in every new
server process and replica. A drawn chart (tl_app.figures.Drawn: its title and its charts in their
plain JSON form) is as deterministic as the result it shows, so it is kept in the disk cache
(tl_core.diskcache: bounded by TL_MAX_DISK_CACHE_MB, written atomically, a damaged entry drawn
again) under a digest of what it shows (the chart's content key: the demo, every setting, the
data's fingerprint), its height, the code of tl_core and tl_app, and plotly's version. `transfer-lab
prepare` draws the lecture grid's pages (tl_app.lecture_pages), so a class finds them drawn.

Kept only where results are (TL_RESULT_STORE, TL_CACHE_DIR): the same switch turns both off.
"""

from __future__ import annotations

import functools
import json
import zlib
from importlib import metadata
from typing import Any

import numpy as np
import plotly.io as pio

from tl_core import diskcache, store

KIND = "chart"


@functools.cache
def _plotly_version() -> str:
    return metadata.version("plotly")  # reads the package's metadata from disk: once


def _key(content: str, height: int | None) -> dict[str, Any]:
    return {
        "kind": KIND,
        "content": content,
        "height": height,
        "code": [store.code_digest(), store.source_digest("tl_app")],  # the figures, their drawn form
        "plotly": _plotly_version(),
    }


def load(content: str, height: int | None) -> dict[str, Any] | None:
    """The drawn chart kept for `content` at `height` (plain data), or None."""
    if not store.enabled():
        return None
    return diskcache.read(KIND, _key(content, height), _unpack)


def keep(content: str, height: int | None, drawn: dict[str, Any]) -> None:
    """Keep a drawn chart (plain data: plotly's JSON form) for every later process."""
    if store.enabled():
        text = pio.to_json(drawn, validate=False, engine="json")
        packed = {"json": np.frombuffer(zlib.compress(text.encode(), 6), dtype=np.uint8)}
        diskcache.write(KIND, _key(content, height), packed)


def _unpack(stored: dict[str, np.ndarray]) -> dict[str, Any]:
    drawn = json.loads(zlib.decompress(stored["json"].tobytes()))
    if not isinstance(drawn, dict) or not {"title", "whole", "panels"} <= drawn.keys():
        raise ValueError("not a drawn chart")
    return drawn
