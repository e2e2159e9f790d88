"""One place picks the device, one place seeds, one place tunes how a training process allocates."""

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from tl_core import runtime
from tl_core.runtime import pick_device, seed_everything


def test_explicit_device_wins_over_environment(monkeypatch):
    monkeypatch.setenv("TL_DEVICE", "cuda")
    assert pick_device("cpu") == "cpu"


def test_environment_overrides_auto(monkeypatch):
    monkeypatch.setenv("TL_DEVICE", "cpu")
    assert pick_device("auto") == "cpu"


@pytest.mark.parametrize(
    "cuda, mps, expected", [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")]
)
def test_auto_prefers_cuda_then_mps_then_the_cpu(monkeypatch, cuda, mps, expected):
    monkeypatch.delenv("TL_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    assert pick_device("auto") == expected


def test_bad_environment_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TL_DEVICE", "tpu")
    with pytest.raises(ValueError, match="TL_DEVICE must be one of auto, cpu, cuda, mps, got 'tpu'"):
        pick_device("auto")


def test_seeding_makes_python_numpy_and_torch_repeat():
    def draw():
        rng = seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(1).item(), rng.random()

    assert draw() == draw()


def test_one_core_threads_leave_the_process_thread_count_alone():
    """Training threads compute on one core each; the thread that made them, and threads started
    after (a Streamlit session's), keep the process's count. In a fresh process: the count a new
    thread starts with is process-wide state."""
    import subprocess
    import sys

    script = (
        "import threading, torch\n"
        "from tl_core.runtime import one_core_threads\n"
        "torch.set_num_threads(2)\n"
        "pool = one_core_threads(2, 'test')\n"
        "inside = sorted(pool.submit(torch.get_num_threads).result() for _ in range(4))\n"
        "later = []\n"
        "thread = threading.Thread(target=lambda: later.append(torch.get_num_threads()))\n"
        "thread.start(); thread.join()\n"
        "print(inside, torch.get_num_threads(), later)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split("\n")[0]
    assert out == "[1, 1, 1, 1] 2 [2]"


FREED = 16 * 2**20  # bytes: a tensor of a large training step's size


def heap_kept_after_freeing(report=None) -> int:
    """Free bytes glibc's heap holds right after a tensor of FREED bytes was made and dropped
    (mallinfo2's fordblks): at least FREED where freed memory is kept for the next step."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost".split()
        ]

    libc = ctypes.CDLL(None)
    libc.mallinfo2.restype = MallInfo2
    torch.ones(FREED // 4)
    return libc.mallinfo2().fordblks


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's malloc")
@pytest.mark.parametrize("keep", [True, False])
def test_a_process_that_keeps_freed_memory_holds_it_for_the_next_step(keep):
    """Without keep_freed_memory, glibc hands a large freed block back to the kernel, and the
    next training step touches fresh pages again."""
    script = (
        "import sys; sys.path[:0] = [sys.argv[1]]; from tl_core.runtime import keep_freed_memory; "
        f"from test_runtime import heap_kept_after_freeing; took = {keep} and keep_freed_memory(); "
        "print(took, heap_kept_after_freeing())"
    )
    tests = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", script, tests], capture_output=True, text=True, check=True)
    took, kept = out.stdout.split()
    assert took == str(keep) and (int(kept) >= FREED) == keep, out.stdout


def test_the_memory_is_the_machines_or_its_containers_limit_where_lower(monkeypatch, tmp_path):
    """A container sees the whole machine's memory through sysconf; its cgroup's limit is what it
    may use before it is killed. A limit of "max" (none) or no cgroup file leaves the machine's."""
    machine = runtime.memory_bytes()
    assert machine and machine > 2**28, "Linux says how much memory it has"
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    monkeypatch.setattr(runtime, "CGROUP_MEMORY_LIMITS", (str(v2), str(v1)))
    assert runtime.memory_bytes() == machine  # neither file
    v2.write_text("max\n")
    assert runtime.memory_bytes() == machine
    v1.write_text(f"{2**30}\n")
    assert runtime.memory_bytes() == 2**30
    v2.write_text(f"{2**29}\n")
    assert runtime.memory_bytes() == 2**29


@pytest.mark.parametrize(
    ("workers", "servers", "gib", "room"),
    [(2, 1, 3, True), (2, 1, 2.9, False), (16, 1, 8, False), (1, 2, 5, True), (1, 2, 4, False)],
)
def test_training_processes_are_started_only_where_the_memory_holds_them(workers, servers, gib, room):
    """About 2 GiB per app server and half a gigabyte per training process (README's measures)."""
    assert runtime.room_for_workers(workers, int(gib * 2**30), servers) is room
    assert runtime.room_for_workers(workers, None, servers) is False  # unknown: no
