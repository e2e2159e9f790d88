"""The linear demo's data: its two scenarios, and a user's table, as two domains of samples.

Scenarios
---------
- ``synthetic``: the source is the classic y = 3·x + 2 + noise (noise std 1.5 by default), x
  uniform in [0, 2]. The target's slope and intercept both grow by 2·gap, so at gap = 1 it is
  y = 5·x + 4. Its noise grows in proportion to its slope, so every target is equally hard to learn
  from scratch (the same best R², and scratch's R² does not move with the gap): the gap changes only
  how far the source is. With ``shift_inputs`` the target's x range also moves right by gap × its
  width; with ``n_features`` = d > 1 every one of the d slopes is 3 in the source and shifted alike.
- ``diabetes``: scikit-learn's bundled diabetes data (442 patients, 9 features once the sex
  column is dropped), split into two domains by sex. The gap mixes the groups: each patient goes
  to their own sex's domain with probability (1 + gap)/2, else to the other's, so gap = 0 is a
  random split (no shift) and gap = 1 is the pure sex split. Features and y are standardized with
  the source training statistics; MSE is reported back in the units of y.

Your own table (``data=``, a :class:`tl_core.userdata.TableData` read with task="regression")
------------------------------------------------------------------------------------------------
The table's split gives both domains. A share (USER_SOURCE_TEST) of the source rows, drawn by the
seed, is held out to score the source model; the seed also draws the n_target labelled target
rows, and every other target row is the target test set. Features and y are standardized with
the source training rows' statistics, as for diabetes, and MSE is reported in y's own units.
The data replace the fields in the demo's IGNORED_WITH_USER_DATA (scenario, gap and the synthetic
settings); every other field keeps its meaning, and every strategy runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tl_core.config import DemoConfig
from tl_core.demos.numpy_demo import DomainSplit, checked_table, scale
from tl_core.runtime import seed_everything
from tl_core.userdata import TableData, UserDataError

# The source line and how far the target's moves at gap = 1. The shifts are sized so that at the
# default gap (0.2) the source line is a useful start, and at gap = 1 it is worse than what
# 5 target samples alone give (negative transfer).
SOURCE_SLOPE, SOURCE_INTERCEPT = 3.0, 2.0
SLOPE_SHIFT, INTERCEPT_SHIFT = 2.0, 2.0
X_LOW, X_HIGH = 0.0, 2.0
N_TEST = 500  # held-out samples per domain (synthetic): enough that R² barely wobbles
DIABETES_MAX_TARGET = 150  # leaves at least ~50 patients of the target group for testing
DIABETES_SOURCE_TEST = 0.25  # share of the source group held out for testing
USER_SOURCE_TEST = DIABETES_SOURCE_TEST  # share of a table's source rows held out for testing
USER_MIN_TEST = 2  # target rows left to test at the least: R² needs two


@dataclass
class Data:
    """Both domains, in the units the models are fitted in.

    For diabetes, X and y are standardized; `y_scale` and `y_offset` map y back to its own units
    (y_original = y · y_scale + y_offset), so MSE can be reported in them.
    """

    source: DomainSplit
    target: DomainSplit
    feature_names: list[str]
    y_scale: float = 1.0
    y_offset: float = 0.0
    truth: dict | None = None  # synthetic only: the true source and target lines
    table: TableData | None = None  # the user's table, when the data are one


def make_data(config: DemoConfig, data: TableData | None = None) -> Data:
    """The data of `config` (or of the user's table `data`), deterministic given the seed.

    The source, the labelled target samples and the target test set are drawn from three
    independent streams, so changing n_target leaves the source and the target test set as
    they were (a data-efficiency curve then only varies what it means to).
    """
    streams = seed_everything(config.seed).spawn(3)
    if data is not None:
        return _user_table(config, checked_table(data, "regression", "linear"), *streams[1:])
    if config.scenario == "diabetes":
        return _diabetes(config, *streams)
    return _synthetic(config, *streams)


def _true_lines(config: DemoConfig) -> dict:
    d = config.n_features
    shift = config.gap * (X_HIGH - X_LOW) if config.shift_inputs else 0.0
    target_slope = SOURCE_SLOPE + SLOPE_SHIFT * config.gap
    return {
        "source": {
            "coef": [SOURCE_SLOPE] * d,
            "intercept": SOURCE_INTERCEPT,
            "x_low": X_LOW,
            "noise": config.noise,
        },
        "target": {
            "coef": [target_slope] * d,
            "intercept": SOURCE_INTERCEPT + INTERCEPT_SHIFT * config.gap,
            "x_low": X_LOW + shift,
            # The noise grows with the slope, so every target is as hard to learn from
            # scratch (same best R²): the gap changes only how far the source is.
            "noise": config.noise * target_slope / SOURCE_SLOPE,
        },
    }


def _draw(
    rng: np.random.Generator, n: int, line: dict, config: DemoConfig, spread: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """n samples y = x·w + b + noise, x uniform in [x_low, x_low + width] per feature.

    With `spread`, each feature's n values fall one in each of n equal slices of the range
    (Latin hypercube sampling), as a small experiment would be designed.
    """
    shape = (n, config.n_features)
    if spread:
        strata = np.argsort(rng.random(shape), axis=0)  # a random slice order per feature
        unit = (strata + rng.random(shape)) / n
    else:
        unit = rng.random(shape)
    X = line["x_low"] + (X_HIGH - X_LOW) * unit
    y = X @ np.asarray(line["coef"]) + line["intercept"] + line["noise"] * rng.standard_normal(n)
    return X, y


def _synthetic(config: DemoConfig, source_rng, target_rng, test_rng) -> Data:
    truth = _true_lines(config)
    source = DomainSplit(
        *_draw(source_rng, config.n_source, truth["source"], config),
        *_draw(source_rng, N_TEST, truth["source"], config),
    )
    # The few labelled target samples are spread over the range: with 5 points, an unlucky
    # clump would make scratch's line swing wildly, and that noise would drown the lesson.
    target = DomainSplit(
        *_draw(target_rng, config.n_target, truth["target"], config, spread=True),
        *_draw(test_rng, N_TEST, truth["target"], config),
    )
    names = ["x"] if config.n_features == 1 else [f"x{i + 1}" for i in range(config.n_features)]
    return Data(source, target, names, truth=truth)


@lru_cache(maxsize=1)
def _diabetes_table() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes()
    return bunch.data, bunch.target, tuple(bunch.feature_names)


def _diabetes(config: DemoConfig, split_rng, target_rng, source_rng) -> Data:
    X, y, names = _diabetes_table()
    sex = list(names).index("sex")
    group_2 = X[:, sex] > 0  # the data codes sex as two scaled values; call them group 1 and 2
    features = np.delete(X, sex, axis=1)
    # Each patient joins their own group's domain with probability (1 + gap)/2.
    own_domain = split_rng.random(len(y)) < (1 + config.gap) / 2
    in_target = np.where(own_domain, group_2, ~group_2)
    source_rows = source_rng.permutation(np.flatnonzero(~in_target))
    target_rows = target_rng.permutation(np.flatnonzero(in_target))
    n_source_test = int(round(DIABETES_SOURCE_TEST * len(source_rows)))
    return _standardized(
        (features, y),
        (features, y),
        source_rows[n_source_test:],
        source_rows[:n_source_test],
        target_rows[: config.n_target],
        target_rows[config.n_target :],
        [n for n in names if n != "sex"],
    )


def most_labelled(table: TableData, n_target_high: int) -> int:
    """The most labelled target rows the table allows: USER_MIN_TEST are left to test, and no
    more than `n_target_high` (the n_target field's upper bound)."""
    n_rows = len(checked_table(table, "regression", "linear").target_y)
    return max(0, min(n_rows - USER_MIN_TEST, n_target_high))


def _user_table(config: DemoConfig, table: TableData, target_rng, source_rng) -> Data:
    """The table's domains: the seed holds out source rows and picks the labelled target rows."""
    n_rows, needed = len(table.target_y), config.n_target + USER_MIN_TEST
    if n_rows < needed:
        raise UserDataError(
            f"n_target = {config.n_target} needs at least {needed} target rows "
            f"({config.n_target} labelled + {USER_MIN_TEST} to test), but the "
            f"target, {table.target_words}, has {n_rows} (n_target can be at "
            f"most {most_labelled(table, config.field('n_target').high)} here)"
        )
    source_rows = source_rng.permutation(len(table.source_y))
    target_rows = target_rng.permutation(n_rows)
    n_source_test = max(USER_MIN_TEST, int(round(USER_SOURCE_TEST * len(source_rows))))
    data = _standardized(
        (table.source_X, table.source_y),
        (table.target_X, table.target_y),
        source_rows[n_source_test:],
        source_rows[:n_source_test],
        target_rows[: config.n_target],
        target_rows[config.n_target :],
        list(table.feature_names),
    )
    data.table = table
    return data


def _standardized(
    source: tuple,
    target: tuple,
    source_train,
    source_test,
    target_train,
    target_test,
    feature_names: list[str],
) -> Data:
    """Both domains' rows, X and y standardized with the source training rows' statistics.

    Those are the only data a real source model had; y is mapped back to its own units by
    y · y_scale + y_offset.
    """
    (source_X, source_y), (target_X, target_y) = source, target
    x_mean, x_std = scale(source_X[source_train])
    y_mean, y_std = scale(source_y[source_train])

    def part(X, y, rows):
        return (X[rows] - x_mean) / x_std, (y[rows] - y_mean) / y_std

    return Data(
        DomainSplit(*part(source_X, source_y, source_train), *part(source_X, source_y, source_test)),
        DomainSplit(*part(target_X, target_y, target_train), *part(target_X, target_y, target_test)),
        feature_names,
        y_scale=float(y_std),
        y_offset=float(y_mean),
    )
