"""One result type for every demo: plain floats and lists, safe to cache, export and put in JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StrategyResult:
    """How one strategy did on both domains.

    `source_metric` / `target_metric` are the demo's accuracy measure (R² for regression, accuracy
    for classifiers) on the held-out source and target test sets; the losses are shown beside them
    (MSE, log-loss or cross-entropy). `history` holds the same four numbers per step or epoch of
    target training, each a list, plus "step"; it is empty for closed-form strategies. `params`
    holds fitted parameters where they are small (linear models); `extras` holds other plain data
    a model view needs (confusion matrix, misclassified examples, filters...).
    """

    strategy: str
    source_metric: float
    target_metric: float
    source_loss: float | None = None
    target_loss: float | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0


@dataclass
class RunResult:
    """Everything one run of a demo produced, with the config (and so the seed) that made it."""

    demo: str
    config: dict[str, Any]
    metric_name: str
    loss_name: str
    strategies: list[StrategyResult]
    extras: dict[str, Any] = field(default_factory=dict)
    wall_time: float = 0.0

    def strategy(self, name: str) -> StrategyResult:
        for s in self.strategies:
            if s.strategy == name:
                return s
        raise KeyError(f"no strategy {name!r} in this result; it has {', '.join(self.names())}")

    def names(self) -> list[str]:
        return [s.strategy for s in self.strategies]

    def ranked(self) -> list[StrategyResult]:
        """The strategies best on the target first. Equals keep the run's order, except that
        scratch comes after the transfer strategies it ties with: a tie is no win for scratch.
        Every sentence and chart that names "the best" strategy takes it from here."""
        return sorted(self.strategies, key=lambda s: (-s.target_metric, s.strategy == "scratch"))

    def gain(self, name: str, baseline: str = "scratch") -> float:
        """Target metric of `name` minus that of `baseline`: the transfer gain."""
        return self.strategy(name).target_metric - self.strategy(baseline).target_metric

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["results"] = out.pop("strategies")
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        data = dict(data)
        strategies = [StrategyResult(**s) for s in data.pop("results")]
        return cls(strategies=strategies, **data)

    @classmethod
    def from_json(cls, text: str) -> RunResult:
        return cls.from_dict(json.loads(text))
