"""The registry of demos: each name in DEMOS and the module that holds it.

A demo is a module that satisfies :class:`tl_core.demos.protocol.Demo`: a ``Config`` (a frozen
:class:`tl_core.config.DemoConfig` whose fields feed the command line, the widgets and the
links), its ``STRATEGIES`` (names from :mod:`tl_core.strategies`, in their display order),
``METRIC``, ``LOSS``, ``SCENARIOS``, ``run``, ``samples_figure`` and ``model_figure``. What it
offers beyond them (a batched trainer, a confusion matrix, users' own data, ``prepare``...) it
declares in one ``OFFERS = Offers(...)`` at the end of its module: the API and the pages read
that declaration and never probe a module for names.

To add a demo:

1. a data module (``<name>_data.py``): its scenarios made into source and target samples,
   deterministic given the seed;
2. a model and config module (``<name>.py``): ``Config``, the strategies, ``run``, the figure
   wrappers and ``OFFERS`` (``numpy_demo`` holds what the numpy demos share, ``torch_demo`` what
   the torch demos share; ``tl_core.engine`` trains torch models);
3. a figures module (``<name>_figures.py``): plotly figures of the data and results it is
   given; it never imports its demo module (the demo module imports it and wraps what needs
   its defaults);
4. its name and module in DEMOS below; for the app, its page in ``tl_app/catalog.py`` and a
   three-line page file in ``app_pages/`` that calls ``tl_app.demo_page.show``.

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
        raise ValueError(f"demo must be one of {', '.join(DEMOS)}, got {name!r}")
    return importlib.import_module(DEMOS[name])


def available_demos() -> list[str]:
    """The names of the demos, in the order of DEMOS."""
    return list(DEMOS)
