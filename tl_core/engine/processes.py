"""Worker processes that run tasks side by side on the CPU, one core each.

Why processes and not threads: the target models of the torch demos are small, so a training
step is hundreds of operations of a few microseconds each, and a thread spends much of that time
in Python, holding the interpreter lock (the GIL). Training threads on several cores wait on each
other for it; processes, each with its own interpreter, do not (benchmarks/bench_rnn.py measures
both).

A worker is a fresh Python (``python -c``, the caller's interpreter and import path), never a
fork of the caller: a Streamlit server has many threads, and a forked child can inherit their
locks held forever. It is not started through multiprocessing either, which re-runs the caller's
main script in every child (a student's script without ``if __name__ == "__main__"`` would start
workers without end). Starting one costs importing torch, a few seconds, so a worker is kept for
the next call, and only a process that asks for workers (:func:`start`) gets them. Every worker
computes on one torch thread, so its numbers are those of one core, on any machine.

This module knows nothing of what the tasks do (the engine sends them: tl_core.engine.parallel):
a task's pickle names its function's module, which the worker imports when the task arrives.

A task is a picklable callable ``task(report)`` (a module-level function, or functools.partial of
one); its ``report(*args)`` calls reach the caller's ``on_report(i, *args)`` in the caller's own
thread (Streamlit draws only from its script's thread). Tasks and results travel pickled over an
authenticated local connection between the caller and its own workers (multiprocessing's
Listener/Client, with a random key); nothing from outside the process is unpickled. On Linux the
connection is a socket in the abstract namespace, which leaves no file behind, even when a worker
is killed (elsewhere multiprocessing's own temporary folder is used).

A worker that dies during a task (killed from outside, out of memory) ends that call with
:class:`WorkerDied`, whose message says so in plain words; its place is taken by a new worker at
the next call, so the caller may simply run again.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import secrets
import subprocess
import sys
import threading
import traceback
import types
from collections.abc import Callable, Sequence
from multiprocessing.connection import Client, Listener, wait

STOP_WAIT = 30.0  # seconds a stopped worker may take to reach its task's next report
STOP = b"stop"  # the message that stops a worker's task at its next report

# A worker's start: read the caller's import path, the connection's key and address from its stdin.
_BOOTSTRAP = (
    "import pickle, sys; path, key, address = pickle.load(sys.stdin.buffer); sys.path[:0] = path; "
    "from tl_core.engine.processes import _serve; _serve(key, address)"
)

log = logging.getLogger(__name__)
_lock = threading.Lock()
_idle: list[_Worker] = []
_enabled = False
_single_tasks = False  # whether a call of one task at a time is sent to a worker too (start())
_launching: threading.Thread | None = None  # start()'s thread, while it starts the first workers


class Stopped(Exception):
    """Raised inside a task by `report` once the caller has stopped waiting for it."""


class _CallerGone(BaseException):
    """The connection to the caller broke (it ended): the worker ends too."""


class Unavailable(Exception):
    """The workers cannot take these tasks: the caller runs them itself instead."""


class Unpicklable(Unavailable, TypeError):
    """A task that cannot be sent to a worker (a lambda or a local function in it, say)."""


class StartFailed(Unavailable, RuntimeError):
    """A worker could not be started (its error is in the log); this process stops asking."""


class WorkerDied(RuntimeError):
    """A worker process ended in the middle of a task (killed, or out of memory): run again."""


def _serve(key: bytes, address: str | None) -> None:
    """A worker's life: tell the caller where to connect (one line on stdout), then run each
    task it is sent, reporting and replying over the connection."""
    import torch  # here, not at the top: the app imports this module and need not load torch

    from tl_core.runtime import keep_freed_memory

    torch.set_num_threads(1)
    keep_freed_memory()  # a worker trains, call after call: its freed memory is reused, not faulted in
    with Listener(address, authkey=key) as listener:
        where = listener.address  # a socket's path or abstract name (bytes), or a Windows pipe's name
        sys.stdout.write((where.decode() if isinstance(where, bytes) else where) + "\n")
        sys.stdout.flush()
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # anything printed later: to stderr
        conn = listener.accept()

    def report(*args) -> None:
        try:
            if conn.poll() and conn.recv_bytes() == STOP:
                raise Stopped
            conn.send_bytes(pickle.dumps(("report", args)))
        except (EOFError, OSError) as error:
            raise _CallerGone from error

    try:
        while True:
            message = conn.recv_bytes()
            if message != STOP:  # (a stop that came after its task had ended is dropped)
                conn.send_bytes(_reply(message, report))
    except (EOFError, OSError, _CallerGone):  # the caller has gone: so does the worker
        return


def _reply(message: bytes, report: Callable) -> bytes:
    """Run the task pickled in `message`; its result or its error, pickled."""
    try:
        reply = ("done", pickle.loads(message)(report))
    except Stopped:
        reply = ("stopped", None)
    except _CallerGone:
        raise
    except BaseException as error:  # noqa: BLE001 - every failure goes back to the caller
        reply = ("error", (error, traceback.format_exc()))
    try:
        return pickle.dumps(reply)
    except Exception:  # an error that does not pickle: send its words instead
        return pickle.dumps(("error", (RuntimeError(repr(reply[1][0])), reply[1][1])))


class _Worker:
    def __init__(self):
        self.key, self.conn = secrets.token_bytes(32), None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOTSTRAP], stdin=subprocess.PIPE, stdout=subprocess.PIPE
            )
            self.process.stdin.write(pickle.dumps((sys.path, self.key, _address())))
            self.process.stdin.close()
        except OSError as error:  # no such interpreter, no more processes allowed...
            raise StartFailed(f"a training worker process could not be started: {error}") from error

    def connect(self) -> _Worker:
        """Wait for the started worker's address (it imports torch first) and connect to it."""
        line = self.process.stdout.readline()  # empty if the worker failed to start
        self.process.stdout.close()
        if not line:
            self.process.wait()
            raise StartFailed(
                f"a training worker process failed to start (exit code "
                f"{self.process.returncode}; its error is in the log above)"
            )
        self.conn = Client(line.decode().rstrip("\n"), authkey=self.key)
        return self

    def send(self, payload: bytes) -> None:
        self.conn.send_bytes(payload)

    def receive(self) -> tuple[str, object]:
        return pickle.loads(self.conn.recv_bytes())

    def alive(self) -> bool:
        return self.process.poll() is None

    def end(self) -> None:
        if self.conn is not None:
            self.conn.close()  # the worker reads EOF and returns
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _address() -> str | None:
    """Where a new worker listens: on Linux a name in the abstract socket namespace (no file
    that a killed worker could leave behind); elsewhere None, multiprocessing's own choice."""
    return f"\0transfer-lab-worker-{secrets.token_hex(8)}" if sys.platform == "linux" else None


def _check_out(count: int) -> list[_Worker]:
    """`count` workers for the caller alone: idle ones, and new ones for the rest. Workers that
    start() is starting are waited for, not started a second time beside them (half a
    gigabyte each)."""
    launching = _launching
    if launching is not None:
        launching.join()
    with _lock:
        taken = [_idle.pop() for _ in range(min(count, len(_idle)))]
    for worker in [w for w in taken if not w.alive()]:
        taken.remove(worker)
        worker.end()
    try:
        return taken + _started(count - len(taken))
    except StartFailed:
        _check_in(taken)
        raise


def _started(count: int) -> list[_Worker]:
    """`count` new workers, started side by side (each imports torch); if one fails to start,
    the others are kept idle for later and the failure is raised."""
    global _enabled
    started = [_Worker() for _ in range(count)]
    connected, failure = [], None
    for worker in started:
        try:
            connected.append(worker.connect())
        except StartFailed as error:
            failure = error
    if failure:
        _enabled = False  # no run waits for starts that fail again
        log.warning("Training side by side in threads from now on: %s", failure)
        _check_in(connected)
        raise failure
    return connected


def _check_in(workers: list[_Worker]) -> None:
    with _lock:
        for worker in workers:
            if len(_idle) < (os.cpu_count() or 1):
                _idle.append(worker)
            else:
                worker.end()


def start(count: int, single_tasks: bool = False) -> threading.Thread:
    """Let this process train side by side in worker processes (see :func:`available`), and
    start `count` of them in the background (the thread doing it is returned), so that the
    first run that needs them waits less for their imports. With `single_tasks`, tasks that
    run one at a time go to a worker too: a server that trains beside the threads drawing its
    pages (a training thread there waits for the interpreter lock at every small operation).

    A long-lived process that trains again and again calls it once (the app, at start-up; a
    benchmark): workers save it a second or more per run. A one-off run (the command line)
    does not: starting workers would cost it more than they save.
    """
    global _enabled, _single_tasks, _launching
    _enabled, _single_tasks = True, single_tasks

    def launch() -> None:
        with _lock:
            missing = max(0, count - len(_idle))
        try:
            _check_in(_started(missing))
        except StartFailed:
            pass  # logged; runs train in threads

    thread = _launching = threading.Thread(target=launch, name="tl-workers", daemon=True)
    thread.start()
    return thread


def stop() -> None:
    """Undo :func:`start`: end the idle workers; run() is not offered workers any more."""
    global _enabled, _single_tasks
    _enabled = _single_tasks = False
    with _lock:
        idle = list(_idle)
        _idle.clear()
    for worker in idle:
        worker.end()


def available(side_by_side: int = 2) -> bool:
    """Whether run() has workers for tasks run `side_by_side` at a time: once :func:`start` was
    called in this process, for several at a time, and for one at a time if start() said so."""
    return _enabled and (side_by_side > 1 or _single_tasks)


def run(tasks: Sequence[Callable], workers: int, on_report: Callable) -> list:
    """Each task(report)'s result, in order, computed in `workers` processes; tasks start in the
    order given, each as soon as a worker is free.

    A task's error is raised here (with the worker's traceback as a note), and so is one that
    on_report raises (a page's rerun); either way the other tasks stop at their next report.
    Unavailable, before any work starts, if a task cannot be sent (Unpicklable) or a worker
    could not be started (StartFailed).
    """
    payloads = [_dumps(task) for task in tasks]
    pool = _check_out(min(workers, len(tasks)))
    results: list = [None] * len(tasks)
    waiting = list(range(len(tasks)))[::-1]
    busy: dict[_Worker, int] = {}  # each worker's task
    healthy = list(pool)

    def give_next_task(worker: _Worker) -> None:
        if waiting:
            busy[worker] = waiting.pop()
            try:
                worker.send(payloads[busy[worker]])
            except OSError:  # it died while idle
                raise _died(worker, busy, healthy) from None

    try:
        for worker in pool:
            give_next_task(worker)
        while busy:
            for conn in wait([w.conn for w in busy]):
                worker = next(w for w in busy if w.conn is conn)
                kind, payload = _message(worker, busy, healthy)
                if kind == "report":
                    on_report(busy[worker], *payload)
                elif kind == "done":
                    results[busy.pop(worker)] = payload
                    give_next_task(worker)
                else:  # "error": the task's own, raised here
                    busy.pop(worker)
                    error, text = payload
                    error.add_note(f"in a training worker process:\n{text}")
                    raise error
    except BaseException:
        for worker in busy:
            try:
                worker.send(STOP)
            except OSError:  # it died too: no reply comes, and it is ended below
                pass
        for worker in busy:
            if not _stopped(worker):
                healthy.remove(worker)
                worker.end()
        raise
    finally:
        _check_in(healthy)
    return results


def _message(worker: _Worker, busy: dict, healthy: list) -> tuple[str, object]:
    """The worker's next message; if its process has ended, it leaves `busy` and `healthy`
    and the error says so."""
    try:
        return worker.receive()
    except (EOFError, OSError):
        raise _died(worker, busy, healthy) from None


def _died(worker: _Worker, busy: dict, healthy: list) -> WorkerDied:
    """Take a dead worker out of `busy` and `healthy`, wait for its end; the error to raise."""
    busy.pop(worker)
    healthy.remove(worker)
    worker.end()
    return WorkerDied(
        "the training process stopped unexpectedly (it was ended from outside, or ran out of "
        f"memory; exit code {worker.process.poll()}); run again"
    )


class _Pickler(pickle.Pickler):
    """pickle.Pickler that refuses functions and classes of the main script: a worker's main
    module is not the caller's, so it could not find them (it would fail, not fall back)."""

    def reducer_override(self, obj):
        if isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
            raise pickle.PicklingError(f"{obj.__qualname__} is defined in the main script")
        return NotImplemented


def _dumps(task: Callable) -> bytes:
    """The task pickled; Unpicklable if it cannot be sent (a lambda, a local function, a class
    of the main script: threads then run it, see tl_core.engine.parallel)."""
    buffer = io.BytesIO()
    try:
        _Pickler(buffer, pickle.HIGHEST_PROTOCOL).dump(task)
    except (pickle.PicklingError, AttributeError, TypeError) as error:
        raise Unpicklable(f"a task cannot be sent to a worker process: {error}") from error
    return buffer.getvalue()


def _stopped(worker: _Worker) -> bool:
    """Read a stopped worker's messages up to its task's last reply; False if none came."""
    try:
        while worker.conn.poll(STOP_WAIT):
            kind, _ = worker.receive()
            if kind != "report":
                return True
    except (EOFError, OSError):
        pass
    return False
