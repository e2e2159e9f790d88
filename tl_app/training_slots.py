"""Training slots: at most `LIMITS.max_jobs` trainings at once in this server process.

A class opening the teacher's link in the same minute would otherwise start thirty trainings at
once on a two-core server: every one would crawl and all would finish late. With slots, the first
`max_jobs` train at full speed and the others wait their turn, first come first served, each
showing "Waiting for a free worker" (the page's words for a slot) with its place in the queue.

Only work that trains takes a slot (`cached.run` and `cached.sweep` when the cache misses): a result
seen before renders at once, whatever the queue.

A run that ends early gives back what it held: its slot is released in a `finally` (Streamlit stops
a run whose controls changed, or whose tab closed, by raising inside it), and a waiting run asks
Streamlit every `POLL_S` whether it should stop, so a student who changes a slider while queued
leaves the queue at once instead of waiting for a result nobody wants.

`SLOTS` is the one piece of state that every session shares on purpose; it is thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tl_core.limits import LIMITS

POLL_S = 0.2  # how often a waiting run checks whether it should stop (and whether it moved up)

OnWait = Callable[[int, int], None]  # (runs waiting before this one, trainings under way)


class TrainingSlots:
    """`count` trainings at a time; the rest queue in arrival order."""

    def __init__(self, count: int):
        if count < 1:
            raise ValueError(f"a server needs at least one training slot, got {count}")
        self.count = count
        self._changed = threading.Condition()
        self._busy = 0
        self._queue: list[object] = []  # tickets of the waiting runs, first come first served

    @property
    def busy(self) -> int:
        """Trainings under way."""
        with self._changed:
            return self._busy

    @property
    def waiting(self) -> int:
        """Runs waiting for a slot."""
        with self._changed:
            return len(self._queue)

    @contextmanager
    def hold(
        self, on_wait: OnWait | None = None, check: Callable[[], None] | None = None, poll_s: float = POLL_S
    ) -> Iterator[None]:
        """Hold one slot while the body runs.

        While every slot is busy, `on_wait(ahead, busy)` is called whenever this run's place
        changes, and `check()` every `poll_s` seconds: when it raises (Streamlit's stop or rerun
        signal), the run leaves the queue and the exception goes on. The slot is given back however
        the body ends.
        """
        ticket = object()
        with self._changed:
            self._queue.append(ticket)
        shown = None
        try:
            while not self._take(ticket):
                place = self._place(ticket)
                if on_wait is not None and place != shown:
                    on_wait(*place)
                    shown = place
                if check is not None:
                    check()
                with self._changed:
                    self._changed.wait(poll_s)  # a released slot wakes the queue early
        except BaseException:
            with self._changed:
                if ticket in self._queue:
                    self._queue.remove(ticket)
                    self._changed.notify_all()  # the run behind may now be first
            raise
        try:
            yield
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def _take(self, ticket: object) -> bool:
        """Take a slot when one is free and this run is first in the queue."""
        with self._changed:
            if self._queue[0] is ticket and self._busy < self.count:
                self._queue.pop(0)
                self._busy += 1
                return True
            return False

    def _place(self, ticket: object) -> tuple[int, int]:
        with self._changed:
            return self._queue.index(ticket), self._busy


SLOTS = TrainingSlots(LIMITS.max_jobs)
