"""The core's calls behind Streamlit's caches, each showing its progress while it works.

Results are cached with `st.cache_data` keyed by the demo and the whole config dict (seed
included), so a config seen before, by any session, renders at once; `max_entries` (the host's
TL_CACHE_ENTRIES) bounds the memory. `st.cache_data` hands every caller its own copy.

The progress bar is made inside the cached function, as Streamlit replays the elements a cached
function drew; it is emptied at the end, so a cache hit replays nothing visible. Each progress
call is also where Streamlit stops a run whose controls changed meanwhile: the next call raises
Streamlit's rerun signal through the core, so no training keeps running behind a newer request.

A training process that dies during a run (killed from outside, or out of memory) costs one
retry, said on the progress bar: the run starts again in a new process. A second death goes on
to the page, which says what happened (tl_app.server.report_failure).

Training waits for one of the server's few training slots (`tl_app.training_slots`); while it waits, the
progress bar's place says so, with the number of runs ahead of it. One run of a quick demo (the
closed forms and small solvers of linear and logistic regression: a tenth of a second on one
thread) never waits: it cannot thrash the server, and queueing it behind a network's training
would only make it late. Their sweeps wait like any other.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any, TypeVar

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import tl_core
from tl_app import training_slots
from tl_core.engine import processes
from tl_core.limits import LIMITS
from tl_core.result import RunResult
from tl_core.userdata import UserData

PROGRESS_EVERY_S = 0.1  # redraw the bar at most this often
QUICK_DEMOS = frozenset({"linear", "logistic"})  # one run: ~0.1 s on one thread, no training slot
RETRYING = "again: the training process stopped unexpectedly, so this run starts over in a new one"

log = logging.getLogger("tl_app")
Result = TypeVar("Result")


def _progress(slot, what: str) -> Callable[[float, str], None]:
    """A progress callback for the core that draws a bar into `slot` (at most every 0.1 s)."""
    slot.progress(0.0, text=f"{what}: starting")
    last = [0.0]

    def report(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] >= PROGRESS_EVERY_S or fraction >= 1:
            last[0] = now
            slot.progress(min(max(float(fraction), 0.0), 1.0), text=f"{what}: {message}")

    return report


def _trained(slot, what: str, train: Callable[[Callable[[float, str], None]], Result]) -> Result:
    """train(progress)'s result, its progress drawn into `slot`. A training process that dies
    meanwhile costs one retry (the next call gets a new process), said on the bar."""
    try:
        return train(_progress(slot, what))
    except processes.WorkerDied as died:
        log.warning("%s: training again", died)
        return train(_progress(slot, f"{what} {RETRYING}"))


def waiting_message(ahead: int, busy: int, slots: int) -> str:
    """What a queued run shows: its place, and why it waits."""
    place = "yours is next" if ahead == 0 else f"{ahead} ahead of yours"
    at_once = f"{slots} experiment{'s' if slots > 1 else ''} at a time"
    return (
        f"**Waiting for a free worker** ({place}). This server trains {at_once} for everyone "
        f"using it and {busy} {'is' if busy == 1 else 'are'} under way; yours starts by itself "
        "when a worker is free."
    )


def _stop_check() -> Callable[[], None] | None:
    """Streamlit's "should this run stop?" check for the current script run, when it offers one."""
    try:
        from streamlit.runtime.scriptrunner_utils.script_run_context import get_run_yield_check
    except ImportError:
        return None
    return get_run_yield_check()


@contextmanager
def training_slot(status, slots: training_slots.TrainingSlots | None = None) -> Iterator[None]:
    """Hold a training slot while training; meanwhile `status` shows the run's place in the queue.

    A run whose controls change while it waits leaves the queue: Streamlit's stop check raises its
    rerun signal. (Where Streamlit has no such check, redrawing the message is the check: every
    element a run draws is a point where Streamlit may stop it.)
    """
    slots = slots or training_slots.SLOTS
    shown = [""]

    def on_wait(ahead: int, busy: int) -> None:
        shown[0] = waiting_message(ahead, busy, slots.count)
        status.info(shown[0], icon=":material/hourglass_top:")

    check = _stop_check() or (lambda: status.info(shown[0], icon=":material/hourglass_top:"))
    with slots.hold(on_wait=on_wait, check=check):
        yield


def on_request(train: Callable[[], Any]) -> Any:
    """Training a visitor asked for outside a page run (the weights download retrains the model):
    it takes a training slot like any other, waiting quietly, as a download has nowhere to say so."""
    with training_slots.SLOTS.hold():
        return train()


@contextmanager
def cleared_on_failure(slot) -> Iterator[None]:
    """Take a half-drawn progress bar away when the work fails (the page then says what to do)."""
    try:
        yield
    except Exception:
        slot.empty()
        raise


def with_data(data: UserData | None) -> dict:
    """The cached calls' keywords for a user's data: its fingerprint keys the cache."""
    return {} if data is None else {"data_key": data.fingerprint, "_data": data}


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner=False)
def run(
    demo: str, config: dict[str, Any], data_key: str | None = None, _data: UserData | None = None
) -> RunResult:
    """`tl_core.run` for one config (a plain dict of every field, seed included), on the built-in
    data or on a user's `_data`, whose fingerprint `data_key` is (the cache keys on it, not on
    the arrays)."""
    made = tl_core.make_config(demo, **config)
    stored = tl_core.api.stored_run(demo, config=made, data=_data)
    if stored is not None:  # computed before on this machine: no training slot, no training
        return stored
    slot = st.empty()
    with cleared_on_failure(slot), nullcontext() if demo in QUICK_DEMOS else training_slot(slot):
        result = _trained(
            slot, "Training", lambda report: tl_core.run(demo, config=made, progress=report, data=_data)
        )
    slot.empty()
    return result


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner=False)
def sweep(
    demo: str,
    over: str,
    values: tuple,
    seeds: int,
    config: dict[str, Any],
    data_key: str | None = None,
    _data: UserData | None = None,
) -> pd.DataFrame:
    """`tl_core.sweep` of `over` through `values`, `seeds` seeds from config's seed up (data: as
    for `run`)."""
    stored = tl_core.api.stored_sweep(demo, over, list(values), seeds, data=_data, **config)
    if stored is not None:  # every point computed before on this machine: no training slot
        return stored
    slot = st.empty()
    with cleared_on_failure(slot), training_slot(slot):
        table = _trained(
            slot,
            f"{demo}: sweeping {over} over {len(values)} values × {seeds} seeds",
            lambda report: tl_core.sweep(
                demo, over=over, values=list(values), seeds=seeds, progress=report, data=_data, **config
            ),
        )
    slot.empty()
    return table


class _NotStored(Exception):
    """Raised inside a cached lookup that found nothing: Streamlit caches no exception, so a
    result stored later is found then."""


def stored_sweep(
    demo: str, over: str, values: tuple, seeds: int, config: dict[str, Any], data: UserData | None = None
) -> pd.DataFrame | None:
    """The stored table of a sweep (`tl_core.api.stored_sweep`), or None. Once found it is
    kept in memory: a stored sweep never changes, and looking up each of its points on disk
    at every page run would cost more than the rest of the run."""
    try:
        return _stored_sweep(demo, over, values, seeds, config, **with_data(data))
    except _NotStored:
        return None


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner=False)
def _stored_sweep(
    demo: str,
    over: str,
    values: tuple,
    seeds: int,
    config: dict[str, Any],
    data_key: str | None = None,
    _data: UserData | None = None,
) -> pd.DataFrame:
    table = tl_core.api.stored_sweep(demo, over, list(values), seeds, data=_data, **config)
    if table is None:
        raise _NotStored
    return table


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner="Drawing source and target samples...")
def samples_figure(
    demo: str, config: dict[str, Any], data_key: str | None = None, _data: UserData | None = None
) -> go.Figure:
    """The demo's source-and-target samples figure (drawing digits takes a moment: keep it)."""
    extra = {} if _data is None else {"data": _data}
    return tl_core.get_demo(demo).samples_figure(tl_core.make_config(demo, **config), **extra)


@st.cache_data(max_entries=LIMITS.cache_entries, show_spinner=False)
def imagenet_probe(
    demo: str, config: dict[str, Any], data_key: str | None = None, _data: UserData | None = None
) -> dict:
    """The demo's feature extraction from ImageNet's ResNet-18 (weights from disk), on the same
    labelled and test samples as its run (data: as for `run`)."""
    slot = st.empty()
    with cleared_on_failure(slot), training_slot(slot):
        slot.info("ResNet-18 is reading the target images...", icon=":material/hourglass_top:")
        probe = tl_core.get_demo(demo).OFFERS.imagenet.feature_extraction(
            tl_core.make_config(demo, **config), data=_data
        )
    slot.empty()
    return probe


# A user's file is read once per (bytes, choices): the bytes are hashed, so a second session
# uploading the same file shares it; few entries, as a file may be large.
USER_DATA_ENTRIES = 8


@st.cache_data(max_entries=USER_DATA_ENTRIES, show_spinner="Reading your table...")
def read_table(raw: bytes, name: str) -> pd.DataFrame:
    """An uploaded CSV as a table (UserDataError when it is not a usable CSV)."""
    from tl_core.userdata import tables

    return tables.read_csv(raw, name)


@st.cache_data(max_entries=USER_DATA_ENTRIES, show_spinner="Reading your data...")
def user_data(kind: str, raw: bytes, name: str, options: str, bundled: bool = False) -> UserData:
    """A user's file of `kind` read with `options` (JSON text of the reader's keyword arguments);
    `bundled`: `name` is one of the bundled sklearn tables, not a file."""
    from tl_core import userdata
    from tl_core.userdata import tables

    if bundled:
        return tables.bundled_table_data(name, **json.loads(options))
    return userdata.read(kind, raw, name, **json.loads(options))
