"""What one server process needs to serve a class: CPU threads shared out, failures told kindly.

- `limit_cpu_threads`: torch's threads and every BLAS/OpenMP pool (numpy, scipy, scikit-learn) get
  the cores divided by the trainings allowed at once (`TL_MAX_JOBS`), or `TL_TORCH_THREADS` when
  the host sets it. Two sessions training at once on two cores then use one core each instead of
  four threads fighting over two cores.
- `start_training_processes`: a run with several CPU threads trains in worker processes; they
  start with the server.
- `report_failure`: an unexpected error in a page becomes a short message saying what to do, with
  a reference; the full traceback goes to the server log under that reference. The page shows the
  traceback too only when the host asked for error details (`client.showErrorDetails = "full"`).
"""

from __future__ import annotations

import logging
import uuid

import streamlit as st
from threadpoolctl import threadpool_limits

from tl_core import processes
from tl_core.limits import LIMITS, Limits
from tl_core.runtime import configure_torch_threads

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


def limit_cpu_threads(limits: Limits = LIMITS) -> int:
    """Set torch's CPU threads and the BLAS/OpenMP pools' to the same count; return it.

    threadpoolctl reaches the libraries loaded so far, so scipy's and torch's are loaded first
    (the demos load them anyway). Call once per process, at start-up.
    """
    import scipy.linalg  # noqa: F401  (loads scipy's BLAS, which scikit-learn's solvers use)

    threads = configure_torch_threads(limits.torch_threads, limits.max_jobs)
    threadpool_limits(limits=threads)
    return threads


def start_training_processes(device: str, threads: int) -> bool:
    """Where a run may use several CPU threads, start the worker processes that train its groups
    of models side by side (tl_core.processes), in the background, so they are ready for the
    first run. Whether they were started. On one thread (a hosted job's share) there is nothing
    to run side by side; on a GPU, groups train one at a time on the device."""
    if device != "cpu" or threads < 2:
        return False
    processes.start(threads)
    return True


def show_details() -> bool:
    """Whether the host wants error details on the page (the repo's config hides them)."""
    return str(st.get_option("client.showErrorDetails")).lower() in ("full", "true")


def report_failure(error: BaseException) -> str:
    """Log `error` with its traceback under a new reference; show the visitor what to do.

    Returns the reference. Streamlit's own stop and rerun signals are not errors: they are
    BaseExceptions, never caught by an `except Exception` that calls this.
    """
    reference = uuid.uuid4().hex[:8]
    log.error("A page failed (reference %s)", reference, exc_info=error)
    st.error(FAILURE.format(ref=reference), icon=":material/error:")
    if show_details():
        st.exception(error)
    return reference
