"""What one server process needs to serve a class: CPU threads shared out, failures told kindly.

- `limit_cpu_threads`: torch's threads and every BLAS/OpenMP pool (numpy, scipy, scikit-learn) get
  the cores divided by the trainings allowed at once (`TL_MAX_JOBS`), or `TL_TORCH_THREADS` when
  the host sets it. Two sessions training at once on two cores then use one core each instead of
  four threads fighting over two cores.
- `start_training_processes`: every training runs in worker processes where the memory allows
  it (or TL_TRAIN_IN_PROCESSES=1), else only runs with several CPU threads; they start with the
  server.
- `cap_uploads`: Streamlit's own upload endpoint refuses files over TL_MAX_UPLOAD_MB (its
  `server.maxUploadSize`), whatever a client sends.
- `report_failure`: an unexpected error in a page becomes a short message saying what to do, with
  a reference; the full traceback goes to the server log under that reference. The page shows the
  traceback too only when the host asked for error details (`client.showErrorDetails = "full"`).
  Two failures are expected, and said plainly instead: a run stopped at the host's time cap, and
  a training process that died (see `tl_app.cached`, which retries it once first).
"""

from __future__ import annotations

import logging
import uuid

import streamlit as st
from streamlit import config as streamlit_config
from threadpoolctl import threadpool_limits

from tl_app.controls import escape
from tl_core.engine import processes
from tl_core.limits import LIMITS, Limits, RunTooLong
from tl_core.runtime import configure_torch_threads, memory_bytes, room_for_workers

log = logging.getLogger("tl_app")
if not log.handlers:  # `streamlit run` gives the root logger no handler: print ours to the console
    _console = logging.StreamHandler()
    _console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(_console)
    log.setLevel(logging.INFO)

FAILURE = (
    "Something went wrong running this page. Try **Reset to defaults** in the sidebar, or "
    "reload the page; if it keeps happening, tell your teacher and quote reference `{ref}`."
)

WORKER_DIED = (
    "**The training process stopped before this run finished**, twice in a row: it was ended "
    "from outside, or the server ran out of memory. Nothing else is affected: change a control "
    "or reload the page to run again."
)


def limit_cpu_threads(limits: Limits = LIMITS) -> int:
    """Set torch's CPU threads and the BLAS/OpenMP pools' to the same count; return it.

    threadpoolctl reaches the libraries loaded so far, so scipy's and torch's are loaded first
    (the demos load them anyway). Call once per process, at start-up.
    """
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, which scikit-learn's solvers use)

    threads = configure_torch_threads(limits.torch_threads, limits.max_jobs)
    threadpool_limits(limits=threads)
    return threads


def start_training_processes(device: str, threads: int, limits: Limits = LIMITS) -> bool:
    """Start the worker processes that train (tl_core.engine.processes), in the background, so
    they are ready for the first run; whether they were started. On a GPU none: groups train one
    at a time on the device. Where every training goes to them (`every_training_in_processes`),
    one per training slot and thread. Else only where a run may use several CPU threads, for its
    groups side by side; on one thread (a hosted job's share) trainings then run in the server's
    threads, which costs no memory but runs them up to 2.5x slower while pages are drawn."""
    if device != "cpu":
        return False
    workers = threads * limits.max_jobs
    if every_training_in_processes(workers, limits):
        processes.start(workers, single_tasks=True)
        return True
    if threads < 2:
        return False
    processes.start(threads)
    return True


def every_training_in_processes(workers: int, limits: Limits = LIMITS) -> bool:
    """Whether every training runs in one of `workers` training processes, none in the server's
    threads, where each of its small operations waits for the interpreter lock while pages are
    drawn (a run 2.5x slower: bench_rnn section 2b; 10 sessions off the grid p95 4.6 to 6.2 s
    in threads, 3.6 to 4.0 s in processes). TL_TRAIN_IN_PROCESSES decides where the host set it;
    else this machine's or container's memory does: about half a gigabyte per worker, beside
    the server's own (tl_core.runtime.room_for_workers)."""
    if limits.train_in_processes is not None:
        return bool(limits.train_in_processes)
    return room_for_workers(workers, memory_bytes())


def cap_uploads(limits: Limits = LIMITS) -> None:
    """Make Streamlit's upload endpoint refuse a file over TL_MAX_UPLOAD_MB (413), as the upload
    widget does: a client that skips the widget and sends straight to the endpoint (PUT
    /_stcore/upload_file/...) is held to the same cap. Streamlit reads the option at every
    upload. Until the first page load sets it, .streamlit/config.toml's value applies."""
    streamlit_config.set_option(
        "server.maxUploadSize", limits.max_upload_mb, where_defined="TL_MAX_UPLOAD_MB"
    )


def show_details() -> bool:
    """Whether the host wants error details on the page (the repo's config hides them)."""
    return str(st.get_option("client.showErrorDetails")).lower() in ("full", "true")


def report_failure(error: BaseException) -> str | None:
    """Log `error` with its traceback under a new reference; show the visitor what to do.

    Returns the reference (None for the two failures said plainly: a run stopped at the time
    cap, a training process that died). Streamlit's own stop and rerun signals are not errors:
    they are BaseExceptions, never caught by an `except Exception` that calls this.
    """
    if isinstance(error, RunTooLong):
        log.warning("A run was stopped at the time cap: %s", error)
        st.warning(escape(str(error)), icon=":material/timer_off:")
        return None
    if isinstance(error, processes.WorkerDied):
        log.warning("A run failed twice, its training process killed: %s", error)
        st.warning(WORKER_DIED, icon=":material/restart_alt:")
        return None
    reference = uuid.uuid4().hex[:8]
    log.error("A page failed (reference %s)", reference, exc_info=error)
    st.error(FAILURE.format(ref=reference), icon=":material/error:")
    if show_details():
        st.exception(error)
    return reference
