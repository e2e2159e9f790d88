"""What the two numpy demos share: linear and logistic regression both fit lines θ = (w, b).

Their data come in the same shape (each domain's training and held-out test samples), every
strategy returns the same kind of fit (one θ per gradient step, or one θ), and `run` loops over
the strategies the same way. A user's table (:class:`tl_core.userdata.TableData`) reaches both
demos through the helpers at the bottom: checking that it suits the demo, standardizing it with
the source training statistics, and checking that a result is drawn with the data it ran on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tl_core.result import RunResult, StrategyResult
from tl_core.strategies import label, with_baseline
from tl_core.userdata import TableData, UserData, UserDataError


@dataclass
class DomainSplit:
    """One domain's training and held-out test samples."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass
class Fit:
    """Fitted lines θ = (w, b): one row per gradient step (the last is the model), else one.

    `source_theta` is the line the strategy applies to source inputs when that differs (CORAL
    re-colours target inputs only); None means the same line on both domains.
    """

    thetas: np.ndarray
    extras: dict
    source_theta: np.ndarray | None = None


def run_strategies(
    config,
    fits: dict[str, Callable[..., Fit]],
    data,
    source_model,
    evaluate: Callable[[str, Fit, Any, float], StrategyResult],
    progress: Callable[[float, str], None] | None,
) -> list[StrategyResult]:
    """Fit and score each strategy of `config` in turn (scratch first), reporting progress."""
    names = with_baseline(config.strategies)
    results = []
    for i, name in enumerate(names):
        started = time.perf_counter()
        fit = fits[name](config, data, source_model)
        results.append(evaluate(name, fit, data, time.perf_counter() - started))
        if progress is not None:
            progress((i + 1) / len(names), f"{label(name)} done")
    return results


# ----------------------------------------------------------------------------------------------
# A user's table


def checked_table(data: UserData, task: str, demo: str) -> TableData:
    """`data` if it is a table read for `task`; UserDataError saying what the demo takes."""
    if not isinstance(data, TableData):
        raise UserDataError(
            f"the {demo} demo takes a table (a CSV file or a bundled table), "
            f"got {getattr(data, 'kind', type(data).__name__)} data"
        )
    if data.task != task:
        other = "logistic" if task == "regression" else "linear"
        raise UserDataError(
            f"{data.name} was read for {data.task}, but the {demo} demo does "
            f"{task}: read it with task={task!r}, or use the {other} demo"
        )
    return data


def scale(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation along the rows; a constant column keeps scale 1.

    A feature constant in the source training rows says nothing there; dividing by 1 instead
    of 0 leaves it finite (it is only centred).
    """
    mean, std = values.mean(0), values.std(0)
    return mean, np.where(std > 0, std, 1.0)


def check_result_data(result: RunResult, data: UserData | None) -> None:
    """A figure of `result` needs the data it ran on: the same user data, or none."""
    ran_on = result.extras.get("user_data")
    if ran_on is None and data is not None:
        raise UserDataError("this result ran on the built-in scenario: draw it without data")
    if ran_on is not None and data is None:
        raise UserDataError(f"this result ran on {ran_on['name']}: pass the same data to draw it")
    if ran_on is not None and ran_on["fingerprint"] != data.fingerprint:
        raise UserDataError(
            f"this result ran on {ran_on['name']} with other choices than "
            f"{data.name}: pass the data it ran on"
        )
