"""The PyTorch transfer engine shared by the CNN and RNN demos.

A demo supplies data (two :class:`Domain` objects) and a model factory; the engine trains the
source model once (:func:`train_source`, :func:`stored_source`), then carries it to the target
with each strategy (:func:`run_strategies`, :func:`run_many`) and returns plain
:class:`tl_core.result.StrategyResult` objects. The engine leaves no global state changed (model
initialisation runs inside ``torch.random.fork_rng``; the caller's torch thread count is left as
it was).

Model convention: ``make_model(n_classes) -> nn.Module`` builds a model with

- ``blocks``: an ``nn.ModuleDict`` of named feature blocks, in order ("conv1", "conv2", "fc"...),
  each reading the output of the one before (any reshaping lives inside a block): the engine
  runs them itself, and where a strategy freezes the first blocks it runs those once on each
  data set and trains and measures only the rest;
- ``head``: the classifier, features -> ``n_classes`` logits;
- ``features(x)``: the blocks in order; ``forward(x) = head(features(x))``.

Strategies freeze blocks by name. Models must be pure functions of their parameters so that
``torch.func`` can batch them: no BatchNorm, no dropout, no in-place changes of inputs.
(``nn.RNN``/``nn.GRU``/``nn.LSTM`` modules cannot be vmapped: write the recurrence out, as the
RNN demo's model does, or train with ``run_many(batched=False)``.)

The modules, each one concern: ``types`` (what the engine is given), ``plans`` (what each
strategy trains), ``measure`` (scores, histories, results), ``source`` (the source model and its
caches), ``batched`` (many models trained as one, with vmap), ``reference`` (one model at a
time, the tests' reference), ``parallel`` (groups side by side in threads or processes),
``processes`` (the worker processes), ``runs`` (the entry points above).

The names below are loaded on first use: the app imports ``tl_core.engine.processes`` at
start-up, and that must not load torch (a page without a torch demo never needs it).
"""

from __future__ import annotations

from importlib import import_module

from tl_core.result import StrategyResult

_EXPORTS = {
    "types": ("Domain", "SourceSettings", "TransferJob", "TransferSettings"),
    "measure": ("evaluate",),
    "source": (
        "READING_SOURCE",
        "WAITING_FOR_SOURCE",
        "SourceCache",
        "stored_source",
        "train_source",
        "waiting_for_source",
    ),
    "runs": ("run_many", "run_strategies", "trained_model", "weights_bytes"),
    "parallel": ("parallel_groups",),
}
_HOME = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["StrategyResult", *_HOME]


def __getattr__(name: str):
    """An exported name, imported from its module the first time it is asked for."""
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
