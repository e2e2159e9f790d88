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
| TL_MAX_DISK_CACHE_MB | the disk cache's data sets and source models (tl_core.diskcache) | 1024 |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields

ENV_PREFIX = "TL_"


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
    max_disk_cache_mb: int = 1024

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
            floor = 0 if f.name == "torch_threads" else 1
            if value < floor:
                raise ValueError(f"{name} must be a whole number >= {floor}, got {text!r}")
            values[f.name] = value
        return cls(**values)

    def field_cap(self, name: str) -> int | None:
        """The cap on config field `name`, if the host caps it."""
        return {"n_target": self.max_n_target, "epochs": self.max_epochs}.get(name)


LIMITS = Limits.from_environment()
