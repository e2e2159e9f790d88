"""Where tasks run side by side on the CPU: in worker processes or in threads, one core each.

On the CPU the engine trains several groups of models side by side (:func:`parallel_groups`:
as many as torch may use threads), each computing on one core: these models' operations are too
small to gain from several cores each, so the cores are better spent on several groups. The
groups train in worker processes where the process has started them
(:func:`tl_core.engine.processes.start`; the app does): a training thread spends much of its time
in Python, so threads would wait on each other for the interpreter lock. Elsewhere (a one-off run
from the command line) they train in threads (:func:`tl_core.runtime.one_core_threads`). Since
every task computes on one core, its numbers are the same either way, whatever the machine's core
count. benchmarks/bench_cnn.py and bench_rnn.py time threads against processes.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable

import torch

from tl_core.engine import processes
from tl_core.runtime import one_core_threads


def parallel_groups(device: str | torch.device) -> int:
    """How many groups run_many trains at once on `device`: on the CPU, as many as torch may use
    threads (the process's share of the cores, see tl_core.runtime.configure_torch_threads; a
    hosted server gives each of its jobs one). The small operations of these models run on one
    core each, so a second group uses a core one group leaves idle. On a GPU, one: a group
    already fills the device, and MPS is not made for calls from several threads."""
    return max(1, torch.get_num_threads()) if torch.device(device).type == "cpu" else 1


def on_one_core(
    tasks: list[Callable[[Callable], object]], side_by_side: int, device: torch.device, on_report: Callable
) -> list:
    """Each task(report)'s result, in order, computed on one core, `side_by_side` tasks at a time.

    On a GPU, in this thread, one after the other (the device does the work). On the CPU, in
    worker processes where the process has started them (tl_core.engine.processes: threads wait
    on each other for Python's interpreter lock): for several at a time, and for one at a time
    where the process asked for that too (a server, whose page drawing holds the lock). Else,
    and where the workers cannot take the tasks: one at a time on one thread in this thread,
    otherwise in threads of their own (tl_core.runtime.one_core_threads). Tasks are taken in the order given.
    A task's report(*args) reaches on_report(i, *args) in this thread (Streamlit draws only from
    its script's thread). An error, in a task or raised by on_report (a page's rerun), stops the
    other tasks at their next report.
    """
    if device.type != "cpu":
        return _in_turn(tasks, on_report)
    if processes.available(side_by_side):
        try:
            return processes.run(tasks, side_by_side, on_report)
        except processes.Unavailable:  # a lambda `inspect`, a worker that cannot start: threads
            pass
    if side_by_side == 1 and torch.get_num_threads() == 1:
        return _in_turn(tasks, on_report)
    return _in_threads(tasks, side_by_side, on_report)


def _in_turn(tasks: list[Callable[[Callable], object]], on_report: Callable) -> list:
    return [task(functools.partial(on_report, i)) for i, task in enumerate(tasks)]


def _in_threads(tasks: list[Callable[[Callable], object]], side_by_side: int, on_report: Callable) -> list:
    """on_one_core's tasks in threads of their own, each on one core; reports and errors reach
    this thread through a queue."""
    reports: queue.SimpleQueue = queue.SimpleQueue()  # (task, args), or (task, None) at its end
    stop = threading.Event()

    def run(i: int):
        def report(*args) -> None:
            if stop.is_set():
                raise processes.Stopped
            reports.put((i, args))

        try:
            return tasks[i](report)
        finally:
            reports.put((i, None))

    with one_core_threads(side_by_side, "tl-train") as pool:
        futures = [pool.submit(run, i) for i in range(len(tasks))]
        try:
            ended = 0
            while ended < len(tasks):
                i, args = reports.get()
                if args is None:
                    ended += 1
                    futures[i].result()  # a task's error surfaces here, at once
                else:
                    on_report(i, *args)
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [future.result() for future in futures]
