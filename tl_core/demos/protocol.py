"""The contract between a demo module and everything that uses it (the API, the command line,
the app's pages).

A demo is a module with the members of :class:`Demo`. What it offers beyond them (a batched
trainer, a confusion matrix, users' own data...) it declares in one ``OFFERS = Offers(...)``
value: the pages and the API read that declaration; they never probe a module for a name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from tl_core.config import DemoConfig
from tl_core.result import RunResult

Progress = Callable[[float, str], None] | None
Figure = Any  # a plotly go.Figure (kept loose so this module does not import plotly)


@dataclass(frozen=True)
class Imagenet:
    """Feature extraction from ImageNet-pretrained weights on a user's photos (the CNN)."""

    unavailable: Callable[..., str | None]  # why it cannot run here (weights not on disk), or None
    feature_extraction: Callable[..., dict]  # the accuracies of a head on the pretrained features


@dataclass(frozen=True)
class Offers:
    """What a demo offers beyond the required members; absent parts are None or empty.

    - ``describe_model(result) -> str``: the sentence under the model view (else the generic
      best-and-worst sentence of :mod:`tl_core.narrate`).
    - ``confusion_figure(result, data=None)``: a confusion matrix of the best transfer.
    - ``prepare(config)``: make what runs of `config` start from (generated data, the trained
      source model) so that the machine's disk cache keeps it.
    - ``run_many(configs, progress=None, data=None, history_every=None)``: many configs trained
      together (batched); the API groups sweeps and the lecture grid through it.
    - ``target_weights(config, strategy, data=None) -> bytes``: a strategy's trained weights.
    - ``imagenet``: see :class:`Imagenet`.
    - ``user_data``: the kind of a user's own data the demo takes ("table", "images",
      "sequences"), or None; ``ignored_with_user_data``: the config fields that shape only the
      built-in data; ``max_n_target(data)``: the most labelled samples (per class) the data allows.
    - ``sweep_values``: the values a sweep of a field steps through, where the default rule of
      :func:`tl_core.lecture.sweep_values` does not fit.
    """

    describe_model: Callable[[RunResult], str] | None = None
    confusion_figure: Callable[..., Figure] | None = None
    prepare: Callable[[DemoConfig], None] | None = None
    run_many: Callable[..., list[RunResult]] | None = None
    target_weights: Callable[..., bytes] | None = None
    imagenet: Imagenet | None = None
    user_data: str | None = None
    ignored_with_user_data: tuple[str, ...] = ()
    max_n_target: Callable[[Any], int] | None = None
    sweep_values: Mapping[str, Sequence[Any]] = field(default_factory=dict)


@runtime_checkable
class Demo(Protocol):
    """The members every demo module has (checked by tests/test_architecture.py)."""

    Config: type[DemoConfig]  # its settings: a frozen DemoConfig, valid with no arguments
    STRATEGIES: tuple[str, ...]  # the strategies it runs, in display order (tl_core.strategies)
    METRIC: str  # what its accuracy is called ("R²", "accuracy")
    LOSS: str  # and its loss ("MSE", "cross-entropy")
    SCENARIOS: tuple[str, ...]  # its built-in target tasks
    OFFERS: Offers

    def run(self, config: DemoConfig | None = None, progress: Progress = None, data: Any = None) -> RunResult:
        """One experiment; `progress(fraction, message)` is called as work advances."""

    def samples_figure(self, config: DemoConfig | None = None, data: Any = None) -> Figure:
        """Source and target samples side by side, so that the gap is visible."""

    def model_figure(self, result: RunResult, data: Any = None) -> Figure:
        """The model view: fitted lines, decision boundaries, filters, hidden states."""
