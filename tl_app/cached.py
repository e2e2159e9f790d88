"""The core's calls behind Streamlit's caches, each showing its progress while it works.

Results are cached with `st.cache_data` keyed by the demo and the whole config dict (seed
included), so a config seen before, by any session, renders at once; `max_entries` (the host's
TL_CACHE_ENTRIES) bounds the memory. `st.cache_data` hands every caller its own copy.

The progress bar is made inside the cached function, as Streamlit replays the elements a cached
function drew; it is emptied at the end, so a cache hit replays nothing visible. Each progress
call is also where Streamlit stops a run whose controls changed meanwhile: the next call raises
Streamlit's rerun signal through the core, so no training keeps running behind a newer request.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import tl_core
from tl_core.limits import LIMITS
from tl_core.result import RunResult

PROGRESS_EVERY_S = 0.1  # redraw the bar at most this often


def _progress_bar(what: str) -> tuple[Callable[[float, str], None], Any]:
    """A progress callback for the core drawing into a fresh slot, and the slot to clear."""
    slot = st.empty()
    slot.progress(0.0, text=f"{what}: starting")
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1:
            last[0] = now
            slot.progress(min(max(float(fraction), 0.0), 1.0), text=f"{what}: {message}")

    return report, slot


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner=False)
def run(demo: str, config: dict[str, Any]) -> RunResult:
    """`tl_core.run` for one config (a plain dict of every field, seed included)."""
    report, slot = _progress_bar("Training")
    result = tl_core.run(demo, config=tl_core.make_config(demo, **config), progress=report)
    slot.empty()
    return result


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner=False)
def sweep(demo: str, over: str, values: tuple, seeds: int, config: dict[str, Any]) -> pd.DataFrame:
    """`tl_core.sweep` of `over` through `values`, `seeds` seeds from config's seed up."""
    report, slot = _progress_bar(f"{demo}: sweeping {over} over {len(values)} values × {seeds} seeds")
    table = tl_core.sweep(demo, over=over, values=list(values), seeds=seeds, progress=report, **config)
    slot.empty()
    return table


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner="Drawing source and target samples...")
def samples_figure(demo: str, config: dict[str, Any]) -> go.Figure:
    """The demo's source-and-target samples figure (drawing digits takes a moment: keep it)."""
    return tl_core.get_demo(demo).samples_figure(tl_core.make_config(demo, **config))
