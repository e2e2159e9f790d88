"""Results computed once, served to everyone: every run and every sweep point kept on disk.

A run is deterministic: its config (seed included), its data and the code fix every number. So
its result is kept in the disk cache (:mod:`tl_core.diskcache`) under a digest of exactly that:
the config, the fingerprint of a user's data, a digest of tl_core's code, the versions of the
libraries that compute (torch, numpy, scipy, scikit-learn...) and the device's kind for the
torch demos. Any later call with the same key, from any session, process or replica on the
machine, reads the result back instead of training; any change of one of them misses. A
damaged entry is made again, never shown. The folder's bound (``TL_MAX_DISK_CACHE_MB``) covers
these entries as it covers data sets and source models. ``TL_RESULT_STORE=off`` turns the store
off (every call computes; data sets and source models are still kept); ``TL_CACHE_DIR=off``
keeps nothing at all.

A run keeps its whole result (history, model views). A sweep keeps each of its points (one
config and seed) as the metrics its table needs, so sweeps that share points (a page's sweep
and the Compare page's, 3 seeds and 5) share their training; a sweep whose points are all
kept trains nothing.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import zlib
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from tl_core import diskcache
from tl_core.config import DemoConfig
from tl_core.result import RunResult
from tl_core.userdata import UserData

ENV = "TL_RESULT_STORE"  # "off": every call computes, nothing is kept
RUN = "run"  # the disk cache's kind of a whole run's result
SWEEP_POINT = "sweep-point"  # the kind of one sweep point's metrics
LIBRARIES = ("numpy", "scipy", "scikit-learn", "torch", "torchvision", "mnist1d")
TORCH_DEMOS = frozenset({"cnn", "rnn"})  # the demos whose numbers depend on the device's kind
WAITING = "waiting for the same experiment, which another run is computing"


def enabled() -> bool:
    """Whether results are kept and read back (read at each call: tests and hosts change it)."""
    return os.environ.get(ENV, "on").strip().lower() != diskcache.OFF


def code_digest() -> str:
    """A digest of every source file of tl_core: any change of the code misses the store."""
    return source_digest("tl_core")


@functools.cache
def source_digest(package: str) -> str:
    """A digest of every source file of the installed package named `package` (tl_core; tl_app
    for its drawn charts, tl_app.chart_store)."""
    root = Path(importlib.util.find_spec(package).origin).resolve().parent
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def library_versions() -> dict[str, str | None]:
    """The installed version of each library the numbers depend on (read without importing it)."""

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in LIBRARIES}


def key(kind: str, config: DemoConfig, data: UserData | None = None) -> dict[str, Any]:
    """Everything a result of `config` (on `data`) depends on, as plain data."""
    device = None
    if config.demo in TORCH_DEMOS:  # the device the run trains on, as the demo itself picks it
        from tl_core.demos.torch_demo import device_of

        device = device_of(config)
    return {
        "kind": kind,
        "demo": config.demo,
        "config": config.to_dict(),
        "data": None if data is None else data.fingerprint,
        "code": code_digest(),
        "libraries": library_versions(),
        "device": device,
    }


def run(
    config: DemoConfig,
    data: UserData | None,
    train: Callable[[], RunResult],
    waiting: Callable[[], None] | None = None,
) -> RunResult:
    """The result of `config` on `data`: read from the store, else `train()`ed and kept.

    While another process or thread computes the same result, this waits for it (`waiting` is
    called meanwhile, and may raise to stop waiting) instead of computing it beside it."""
    if not enabled():
        return train()
    return diskcache.entry(
        RUN, key(RUN, config, data), lambda: _pack(train().to_dict()), _unpack_run, waiting
    )


def keep_run(config: DemoConfig, data: UserData | None, result: RunResult) -> None:
    """Keep `result`, computed for `config` on `data` elsewhere (a batch of runs), as `run` would."""
    if enabled():
        diskcache.write(RUN, key(RUN, config, data), _pack(result.to_dict()))


def stored_run(config: DemoConfig, data: UserData | None = None) -> RunResult | None:
    """The kept result of `config` on `data`, or None: nothing is trained."""
    if not enabled():
        return None
    return diskcache.read(RUN, key(RUN, config, data), _unpack_run)


def sweep_points(
    configs: Sequence[DemoConfig], data: UserData | None, train: Callable[[list[DemoConfig]], list[RunResult]]
) -> list[RunResult]:
    """One result per config, with the metrics a sweep table reads: the kept points read back,
    the others trained together by `train(missing configs)` and kept."""
    if not enabled():
        return train(list(configs))
    results = [_stored_point(c, data) for c in configs]
    missing = [i for i, r in enumerate(results) if r is None]
    if missing:
        for i, result in zip(missing, train([configs[i] for i in missing])):
            packed = _pack(_point(result))
            diskcache.write(SWEEP_POINT, key(SWEEP_POINT, configs[i], data), packed)
            results[i] = _unpack_run(packed)  # as a later read will give it
    return results


def stored_sweep_points(
    configs: Sequence[DemoConfig], data: UserData | None = None
) -> list[RunResult] | None:
    """The kept points of `configs` when every one is kept, else None: nothing is trained."""
    if not enabled():
        return None
    results = []
    for config in configs:
        result = _stored_point(config, data)
        if result is None:
            return None
        results.append(result)
    return results


def _stored_point(config: DemoConfig, data: UserData | None) -> RunResult | None:
    """A kept sweep point, or the point of a kept run of the same config (the same numbers)."""
    point = diskcache.read(SWEEP_POINT, key(SWEEP_POINT, config, data), _unpack_run)
    if point is None:
        run = stored_run(config, data)
        point = None if run is None else RunResult.from_dict(_point(run))
    return point


def _point(result: RunResult) -> dict[str, Any]:
    """What a sweep table reads of a run: its config and each strategy's four numbers and time."""
    plain = result.to_dict()
    plain["extras"] = {}
    plain["results"] = [{**s, "history": {}, "params": {}, "extras": {}} for s in plain["results"]]
    return plain


def _pack(plain: dict[str, Any]) -> dict[str, np.ndarray]:
    """A result as the disk cache keeps it: its JSON, compressed, as bytes."""
    text = json.dumps(plain, allow_nan=True, separators=(",", ":"))
    return {"json": np.frombuffer(zlib.compress(text.encode(), 6), dtype=np.uint8)}


def _unpack(stored: dict[str, np.ndarray]) -> dict[str, Any]:
    try:
        return json.loads(zlib.decompress(stored["json"].tobytes()))
    except (KeyError, zlib.error, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f"not a stored result ({err})") from None


def _unpack_run(stored: dict[str, np.ndarray]) -> RunResult:
    try:
        return RunResult.from_dict(_unpack(stored))
    except (TypeError, KeyError, AttributeError) as err:
        raise ValueError(f"not a stored result ({err})") from None
