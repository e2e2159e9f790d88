"""The one place that picks the device and the one place that seeds.

torch is imported lazily so that the linear demos, the command line's help and the app's first
page do not pay for importing it.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")

# Python's, numpy's and torch's global generators are shared by every thread of a process, and a
# hosted app runs each session in a thread. Code that seeds or draws from them holds this lock, so
# one session's seeding can never slip between another's seeding and drawing.
_GLOBAL_RANDOM = threading.RLock()


@contextmanager
def global_random() -> Iterator[None]:
    """Hold the process's global generators for a seed-then-draw step (e.g. initialising a model)."""
    with _GLOBAL_RANDOM:
        yield


def pick_device(requested: str = "auto") -> str:
    """Name the torch device to use.

    An explicit `requested` device wins; with "auto", the environment variable TL_DEVICE decides
    when set, else CUDA when present, else Apple's MPS, else the CPU.
    """
    choice = requested if requested != "auto" else os.environ.get("TL_DEVICE", "auto").strip().lower()
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"TL_DEVICE must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
    if choice != "auto":
        return choice
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and (when imported) torch; return a numpy Generator for that seed.

    Demos draw their data from the returned generator rather than global state, so that two runs
    in one process (or two sessions of the app) never disturb each other's numbers.
    """
    import sys

    with global_random():
        random.seed(seed)
        np.random.seed(seed % 2**32)
        if "torch" in sys.modules:
            sys.modules["torch"].manual_seed(seed)
    return np.random.default_rng(seed)


def configure_torch_threads(threads: int = 0, jobs: int = 1) -> int:
    """Set torch's CPU threads for a process that runs `jobs` trainings at once; return the count.

    torch's intra-op pool is shared by the whole process, so two sessions training at once on a
    2-core server would each ask for 2 threads and thrash. With `threads` = 0 the cores are split
    evenly between the concurrent jobs. Call once at start-up (the app does), not per run.
    """
    import torch

    count = share_of_cores(threads, jobs)
    torch.set_num_threads(count)
    return count


def share_of_cores(threads: int = 0, jobs: int = 1) -> int:
    """`threads`, or where that is 0 the cores split evenly between `jobs` trainings, at least one."""
    return threads or max(1, (os.cpu_count() or 1) // max(1, jobs))


GIB = 2**30
SERVER_MEMORY = 2 * GIB  # an app server off the grid, its caches full (1.3 GB measured, README)
WORKER_MEMORY = GIB // 2  # a training process's own, after training (about 0.4 GB measured)
# Where a container's memory limit is (cgroup v2, then v1); in a container, its own cgroup's.
CGROUP_MEMORY_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def memory_bytes() -> int | None:
    """The memory this process's machine has, or its container's limit where that is lower;
    None where the system says neither (Windows)."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        pass
    for path in CGROUP_MEMORY_LIMITS:
        try:
            with open(path) as limit:
                sizes.append(int(limit.read()))
        except (OSError, ValueError):  # no such file, or "max": no limit
            pass
    return min(sizes) if sizes else None


def room_for_workers(workers: int, memory: int | None, servers: int = 1) -> bool:
    """Whether `servers` app servers, each with `workers` training processes, fit in `memory`
    bytes (unknown: no)."""
    return memory is not None and memory >= servers * (SERVER_MEMORY + workers * WORKER_MEMORY)


# glibc's malloc hands blocks over 128 KiB (at first) straight to the kernel and back, and gives
# back the free top of its heap beyond 128 KiB: a training step whose tensors take megabytes then
# touches fresh pages, zeroed by the kernel one fault at a time, at every step. Raised, freed
# memory stays in the heap for the next step (up to TRIM of it, for a process that has trained).
MALLOC_MMAP_THRESHOLD = 32 * 2**20  # the most glibc allows
MALLOC_TRIM = 2**30
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def keep_freed_memory() -> bool:
    """Let a process that trains on the CPU reuse the memory it frees (see MALLOC_TRIM); whether
    the C library took the setting (glibc, as on Linux; elsewhere nothing is changed). The RNN's
    sweeps trained 1.2 to 1.3x faster this way on a 2-core CPU, one core each (2026-12-04), and
    its workers held the same 0.8 GB after a 5-seed sweep as without. For processes that train:
    the training workers and `prepare`, not the app's server, whose sessions come and go."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc's
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM))


_THREAD_DEFAULT = threading.Lock()  # held while the default thread count is not the process's


def one_core_threads(workers: int, name: str) -> ThreadPoolExecutor:
    """`workers` threads, started now, whose torch operations each run on one core.

    Threads that train side by side should not each spread their small operations over every
    core (they would wait on each other), and their numbers should not depend on how many cores
    a machine has (a reduction split over threads adds in another order). torch.set_num_threads
    sets the calling thread's count, and the count threads started later take at their first
    torch call; so each thread sets 1 as it starts, and then the caller's count is put back for
    later threads (a Streamlit session's thread, say).
    """
    import torch

    default = torch.get_num_threads()
    started = threading.Barrier(workers + 1)

    def one_core() -> None:
        # A thread takes the process's count at its first torch call (lazily, once); make that
        # call first, so that it cannot undo the 1 afterwards.
        torch.get_num_threads()
        torch.set_num_threads(1)
        started.wait()

    with _THREAD_DEFAULT:
        pool = ThreadPoolExecutor(workers, name, initializer=one_core)
        for _ in range(workers):  # each submit starts a thread while the others wait on `started`
            pool.submit(lambda: None)
        started.wait()
        torch.set_num_threads(default)
    return pool
