"""The source model: trained once, kept in memory and on disk, never changed.

Every strategy starts from a copy of the source model, so one trained model serves every run of
its settings and seed. :func:`train_source` trains it; :func:`stored_source` trains it once per
machine and reads its weights back from the disk cache (tl_core.diskcache) in later processes;
:class:`SourceCache` keeps the most recently used models of a process in memory and has each
built once at a time, so that a class opening one shared link trains it once.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tl_core import diskcache
from tl_core.engine.measure import digest, fingerprint
from tl_core.engine.parallel import on_one_core
from tl_core.engine.plans import clip, init_model, minibatches
from tl_core.engine.types import Domain, MakeModel, Progress, SourceSettings

PROGRESS_INTERVAL = 0.25  # seconds: source training reports at least this often (and per epoch)

# What a run's progress says before its source model is ready: most runs read it (memory, disk).
READING_SOURCE = "reading or training the source model (trained once per setting and machine)"
WAITING_FOR_SOURCE = "waiting for the source model, which another run is training"


def train_source(
    make_model: MakeModel, source: Domain, settings: SourceSettings, seed: int, progress: Progress = None
) -> nn.Module:
    """Train the source model on the source training set; minimise mean cross-entropy with Adam.

    Returns the model in eval mode with every parameter's requires_grad off: it is meant to be
    cached and shared, and no strategy changes it (they all work on copies). `progress(fraction,
    message)` is called after every epoch and at least every PROGRESS_INTERVAL seconds, so a
    caller can stop stale work there (by raising from it). On the CPU it trains on one core, as
    target models do, so the same seed gives the same model on any machine.
    """

    def train(report: Progress) -> nn.Module:
        return _train_source(make_model, source, settings, seed, report)

    def report(_task: int, *args) -> None:
        if progress:
            progress(*args)

    return on_one_core([train], 1, source.device, report)[0]


def _train_source(
    make_model: MakeModel, source: Domain, settings: SourceSettings, seed: int, progress: Progress
) -> nn.Module:
    model = init_model(make_model, source.n_classes, seed, source.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    last_report = time.perf_counter()
    for epoch in range(settings.epochs):
        batches = minibatches(source.n_train, settings.batch_size, generator)
        for b, idx in enumerate(batches):
            idx = idx.to(source.device)
            loss = F.cross_entropy(model(source.x_train[idx]), source.y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            clip(model.parameters(), settings.clip_grad_norm)
            optimizer.step()
            if progress and (b + 1 == len(batches) or time.perf_counter() - last_report > PROGRESS_INTERVAL):
                progress(
                    (epoch + (b + 1) / len(batches)) / settings.epochs,
                    f"training the source model: epoch {epoch + 1} of {settings.epochs}",
                )
                last_report = time.perf_counter()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def stored_source(
    make_model: MakeModel, source: Domain, settings: SourceSettings, seed: int, progress: Progress = None
) -> nn.Module:
    """train_source's model, trained once per machine: later processes (a restarted server,
    the command line, a notebook) read its weights back from the disk cache (tl_core.diskcache)
    instead of training again, exactly as they were, in a fraction of a second.

    The weights are kept under a digest of everything they depend on (:func:`_source_key`), so
    any change (settings, seed, data, the model's code or starting weights, the engine's code,
    torch's version, the kind of device) trains anew; a damaged file, or no disk cache
    (``TL_CACHE_DIR=off``), only means training; so does a model whose code is in no file (one
    typed into an interpreter): nothing could tell its changes apart. `progress` hears from a
    training only, or says that it waits while another process trains the same model (it is
    trained once at a time, see tl_core.diskcache). Returns the model as train_source does: in
    eval mode, every requires_grad off.
    """
    fresh = init_model(make_model, source.n_classes, seed, source.device)
    key = _source_key(fresh, source, settings, seed)
    if key is None:
        return train_source(make_model, source, settings, seed, progress)
    arrays = diskcache.arrays(
        "source-model",
        key,
        lambda: {
            name: t.detach().cpu().numpy()
            for name, t in train_source(make_model, source, settings, seed, progress).state_dict().items()
        },
        waiting=waiting_for_source(progress),
        check=functools.partial(_load_weights, fresh),  # another model's weights: trained again
    )
    _load_weights(fresh, arrays)
    fresh.eval()
    for p in fresh.parameters():
        p.requires_grad_(False)
    return fresh


def _load_weights(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Load stored weights; RuntimeError unless they are exactly the model's (names, shapes)."""
    model.load_state_dict({name: torch.from_numpy(a) for name, a in arrays.items()})


def _source_key(fresh: nn.Module, source: Domain, settings: SourceSettings, seed: int) -> dict | None:
    """What a trained source model depends on, as plain data: its class and the code of its
    module and of this engine (every module of the package), its starting weights (they say its
    shape and initialisation), the source training data, the settings, the seed, the device's
    kind and torch's version. None when the model's code is in no file that can be read."""
    engine_files = sorted(Path(__file__).parent.glob("*.py"))
    try:
        code = [path.read_bytes() for path in engine_files]
        code.append(Path(inspect.getsourcefile(type(fresh))).read_bytes())
    except (TypeError, OSError):  # a class from an interpreter's prompt, a notebook cell
        return None
    start = [t for _, t in sorted(fresh.state_dict().items())]
    return {
        "model": f"{type(fresh).__module__}.{type(fresh).__qualname__}",
        "code": digest(code).hex(),
        "start": fingerprint(start).hex(),
        "data": fingerprint([source.x_train, source.y_train]).hex(),
        "settings": asdict(settings),
        "seed": int(seed),
        "device": source.device.type,
        "torch": torch.__version__,
    }


class SourceCache:
    """Trained source models by key, the `size` most recently used kept; thread-safe.

    Unlike functools.lru_cache, `get(key, build)` lets the caller hand a progress callback to
    `build` on a miss without it becoming part of the key. A key is built once at a time: a
    caller that finds another building it waits for that model instead of training the same
    one beside it (a class opening one shared link on a server that has not trained it yet).
    """

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._building: dict = {}  # key -> threading.Event, set when its build ends either way
        self._lock = threading.Lock()

    def get(self, key, build: Callable[[], object], waiting: Callable[[], None] | None = None):
        """The model under `key`, from `build()` on a miss. While another caller builds the same
        key, `waiting()` is called every PROGRESS_INTERVAL seconds (it may raise, to stop
        waiting); if that build fails, this caller builds it instead."""
        while True:
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
                built = self._building.get(key)
                if built is None:
                    built = self._building[key] = threading.Event()
                    break
            while not built.wait(PROGRESS_INTERVAL):
                if waiting:
                    waiting()
        try:
            value = build()  # outside the lock: a long training must not block other keys
            with self._lock:
                self._items[key] = value
                self._items.move_to_end(key)
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._building[key]
            built.set()

    def cache_clear(self) -> None:
        with self._lock:
            self._items.clear()


def waiting_for_source(progress: Progress) -> Callable[[], None] | None:
    """SourceCache.get's `waiting` for a run whose `progress` hears how it goes (None: nothing
    to tell): the run says it waits, and a stopped run's progress raises there."""
    if progress is None:
        return None
    return lambda: progress(0.0, WAITING_FOR_SOURCE)
