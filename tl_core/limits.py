"""The caps a course host may lower, read once from environment variables.

A hosted app serves a whole class from one small server, so the largest experiment any visitor can
ask for is bounded here. The caps narrow the config fields' own ranges: the widgets offer no more,
and the core refuses more, so a crafted link or request cannot exceed them either.

| variable | caps | default |
|---|---|---|
| TL_MAX_N_TARGET | labelled target samples (`n_target`) | 500 |
| TL_MAX_EPOCHS | training epochs or steps (`epochs`) | 500 |
| TL_MAX_SWEEP_VALUES | values of one sweep | 12 |
| TL_MAX_SEEDS | seeds per sweep | 10 |
| TL_MAX_UPLOAD_MB | size of an uploaded file (also Streamlit's server.maxUploadSize) | 20 |
| TL_MAX_UPLOAD_ROWS | rows of an uploaded table, or sequences of a sequence file | 100000 |
| TL_MAX_UPLOAD_COLUMNS | columns of an uploaded table (time steps of a sequence) | 1000 |
| TL_MAX_UPLOAD_IMAGES | images in an uploaded zip | 5000 |
| TL_CACHE_ENTRIES | cached results per cached function in the app | 64 |
| TL_TORCH_THREADS | CPU threads torch uses per process (0: torch's default) | 0 |
| TL_MAX_JOBS | training jobs at once per server process; the rest wait their turn | 2 |
| TL_TRAIN_IN_PROCESSES | 1: every training in worker processes; 0: runs of several threads only | memory |
| TL_MAX_DISK_CACHE_MB | the disk cache's data sets and source models (tl_core.diskcache) | 1024 |
| TL_MAX_RUN_SECONDS | seconds one run or sweep may train before it is stopped (0: no limit) | 120 |

TL_TRAIN_IN_PROCESSES left unset, the app decides by its memory (tl_app.server.every_training_in_processes).

The field ranges bound each setting; TL_MAX_RUN_SECONDS bounds what they cost together (a
recurrent net of the largest size trained for the most epochs would hold a worker for half an
hour): :func:`timed` stops the work at its next progress report, with :class:`RunTooLong`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

ENV_PREFIX = "TL_"
SWITCHES = ("train_in_processes",)  # 0 (off) or 1 (on)


@dataclass(frozen=True)
class Limits:
    max_n_target: int = 500
    max_epochs: int = 500
    max_sweep_values: int = 12
    max_seeds: int = 10
    max_upload_mb: int = 20
    max_upload_rows: int = 100_000
    max_upload_columns: int = 1000
    max_upload_images: int = 5000
    cache_entries: int = 64
    torch_threads: int = 0
    max_jobs: int = 2
    train_in_processes: int | None = None  # a switch, 0 or 1; None: where memory allows
    max_disk_cache_mb: int = 1024
    max_run_seconds: int = 120

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Limits:
        """Read TL_MAX_N_TARGET etc.; a value that is not a whole number >= 0 is a clear error."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            text = environ.get(name)
            if text is None:
                continue
            try:
                value = int(text)
            except ValueError:
                value = -1
            if f.name in SWITCHES:
                if value not in (0, 1):
                    raise ValueError(f"{name} must be 0 or 1, got {text!r}")
            elif value < (floor := 0 if f.name in ("torch_threads", "max_run_seconds") else 1):
                raise ValueError(f"{name} must be a whole number >= {floor}, got {text!r}")
            values[f.name] = value
        return cls(**values)

    def field_cap(self, name: str) -> int | None:
        """The cap on config field `name`, if the host caps it."""
        return {"n_target": self.max_n_target, "epochs": self.max_epochs}.get(name)


LIMITS = Limits.from_environment()


class RunTooLong(ValueError):
    """Work stopped at the host's time cap (TL_MAX_RUN_SECONDS); the message says what to change."""


Progress = Callable[[float, str], None]


def timed(progress: Progress | None, what: str, advice: str, seconds: int | None = None) -> Progress | None:
    """`progress`, stopping the work once it has run `seconds` (default: the host's
    max_run_seconds; 0 or None: never): the report after that raises RunTooLong, whose message
    names `what` was stopped, where it had got to, the cap, and `advice` (what takes less time).
    Training reports after every epoch, so it stops within an epoch of the cap, and the worker
    slot it held is free again."""
    limit = LIMITS.max_run_seconds if seconds is None else seconds
    if not limit:
        return progress
    started = time.monotonic()

    def report(fraction: float, message: str) -> None:
        elapsed = time.monotonic() - started
        if elapsed > limit:
            raise RunTooLong(
                f"{what} was stopped after {elapsed:.0f} s (it had got to “{message}”): this "
                f"server lets one run train for at most {limit} s (TL_MAX_RUN_SECONDS). {advice}"
            )
        if progress is not None:
            progress(fraction, message)

    return report
