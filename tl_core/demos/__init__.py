"""The registry of demos. Each demo is one module with the same small interface:

- ``Config``: a frozen :class:`tl_core.config.DemoConfig` subclass, valid with no arguments.
- ``STRATEGIES``: the strategy names it runs, in display order (names from tl_core.strategies).
- ``METRIC`` / ``LOSS``: what its accuracy and loss are called ("R²"/"MSE", "accuracy"/"log-loss").
- ``run(config, progress=None) -> RunResult``: one experiment; `progress(fraction, message)` is
  called as work advances, so the app can show it.
- ``samples_figure(config)``: source and target samples side by side, so the gap is visible.
- ``model_figure(result)``: the model view (fitted lines, decision boundaries, filters...).
- optionally ``prepare(config)``: make what runs of `config` start from (generated data, the
  trained source model) so that the machine's disk cache keeps it (:func:`tl_core.api.prepare`).

Modules are imported on first use, so importing tl_core stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType

DEMOS = {
    "linear": "tl_core.demos.linear",
    "logistic": "tl_core.demos.logistic",
    "cnn": "tl_core.demos.cnn",
    "rnn": "tl_core.demos.rnn",
}


def get_demo(name: str) -> ModuleType:
    """The module of demo `name`; ValueError naming the demos there are otherwise."""
    if name not in DEMOS:
        raise ValueError(f"demo must be one of {', '.join(available_demos())}, got {name!r}")
    try:
        return importlib.import_module(DEMOS[name])
    except ModuleNotFoundError as err:
        if err.name == DEMOS[name]:
            raise ValueError(
                f"demo {name!r} is not available yet; available: {', '.join(available_demos())}"
            ) from None
        raise


def available_demos() -> list[str]:
    """Demos whose module exists, in the order of DEMOS."""
    return [name for name, module in DEMOS.items() if importlib.util.find_spec(module) is not None]
