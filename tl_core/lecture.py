"""The lecture grid: the settings a lecture reaches with the pages' main controls.

A lecturer moves one main control at a time (gap, labelled samples, λ) from a scenario's
defaults, opens the sweeps of a page and the Compare page. Each of those controls stops at a
few values a hand can hit (:func:`slider_stops`), and each sweep steps through a few values
(:func:`sweep_values`), so the whole lecture is a finite grid (:func:`grid`), which
:func:`tl_core.api.prepare` computes into the store of results before class. The pages read
the same stops and sweep values from here, so what is prepared is what is asked for.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tl_core.config import DemoConfig, FieldSpec
from tl_core.limits import LIMITS

MAIN_CONTROLS = ("gap", "n_target", "lam")  # what the lecture moves, one at a time
SAMPLE_STOPS = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000)  # labelled samples
GAP_STEP = 0.1
SWEEP_POINTS = 6  # values per sweep: enough for a curve, few enough to run during a lecture
SWEEP_SEEDS = 3  # seeds per sweep point by default: each curve is their mean
DEFAULT_SEED = 0


def ladder(low: float, high: float, extra: Iterable[float] = ()) -> list[float]:
    """1, 2, 5 times the powers of ten from `low` to `high` (0 first when low is 0), plus `extra`.

    A logarithmic knob such as λ or the learning rate matters by its order of magnitude, so the
    slider steps through orders rather than through equal increments.
    """
    start = low if low > 0 else high / 1e5
    values = {0.0} if low <= 0 else set()
    for exponent in range(math.floor(math.log10(start)), math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = float(f"{mantissa}e{exponent}")
            if start <= value <= high:
                values.add(value)
    values |= {float(v) for v in extra if low <= v <= high}
    return sorted(values)


def slider_stops(spec: FieldSpec) -> list:
    """The values a main control's slider offers: labelled samples on a ladder (1, 2, 3, 5, 10,
    20, ...), the gap in steps of 0.1, a logarithmic knob (λ) on its 1-2-5 ladder; always the
    field's default, and its bounds (the host's cap included)."""
    if spec.name == "n_target":
        stops = {v for v in SAMPLE_STOPS if spec.low <= v <= spec.high} | {int(spec.low), int(spec.high)}
        return sorted(stops | {spec.default})
    if spec.name == "gap":
        steps = round((spec.high - spec.low) / GAP_STEP)
        return sorted({round(spec.low + i * GAP_STEP, 6) for i in range(steps + 1)} | {spec.default})
    if spec.log:
        return ladder(spec.low, spec.high, extra=(spec.default,))
    raise ValueError(f"{spec.name} has no slider stops; main controls are {', '.join(MAIN_CONTROLS)}")


def gap_scenarios(module) -> list[str]:
    """The demo's scenarios whose target the gap shapes (all of them where none ignores it): a
    gap sweep elsewhere would draw a flat line. The CNN's and RNN's: shift."""
    Config = module.Config
    return [c for c in Config.field("scenario").choices if "gap" not in Config.ignored_by_scenario.get(c, ())]


def sweep_values(module, config: DemoConfig, over: str) -> list:
    """The values a sweep of `over` steps through, around `config` (a demo config).

    The demo's own `OFFERS.sweep_values[over]` when it has one; else n_target: 1, 2, 5, 10, 20, 50
    from the field's lower bound, ending at the field's cap where the ladder stops short of six
    values (the CNN's 40); every value a stop of the slider too. gap: 0, 0.2, ..., 1.
    Values that the other settings rule out (more target samples than the data has) are left out.
    """
    spec = module.Config.field(over)
    own = module.OFFERS.sweep_values.get(over)
    if own is not None:
        values = list(own)
    elif over == "n_target":  # orders of magnitude: scratch catches up over a wide range
        stops = ladder(spec.low, spec.high, extra=[spec.high])
        values = [int(v) for v in stops if v >= spec.low][:SWEEP_POINTS]
    else:
        values = [
            round(spec.low + i * (spec.high - spec.low) / (SWEEP_POINTS - 1), 6) for i in range(SWEEP_POINTS)
        ]
    return [v for v in values if _allowed(module, config, over, v)][: LIMITS.max_sweep_values]


def _allowed(module, config: DemoConfig, over: str, value: Any) -> bool:
    try:
        module.Config.from_dict({**config.to_dict(), over: value})
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Sweep:
    """One sweep a page or the Compare page draws: `over` through `values`, `seeds` seeds from
    the config's seed up, the other settings as in `config`."""

    over: str
    values: tuple
    seeds: int
    config: DemoConfig

    def fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.config.to_dict().items() if k != self.over}

    def points(self) -> list[DemoConfig]:
        """One config per value and seed, the seeds counted up from the config's."""
        first = self.config.seed
        return sweep_points(self.config, self.over, self.values, range(first, first + self.seeds))


def sweep_points(config: DemoConfig, over: str, values: Iterable, seeds: Iterable[int]) -> list[DemoConfig]:
    """The configs of a sweep of `over` around `config`: one per value and seed, values outer
    (each value checked by the field, as a link's would be). tl_core.api.sweep_configs makes its
    sweeps so too."""
    check = type(config).field(over).check
    return [config.replace(**{over: check(v), "seed": s}) for v in values for s in seeds]


@dataclass(frozen=True)
class Grid:
    """What a lecture of one demo asks for: single runs, and sweeps."""

    runs: tuple[DemoConfig, ...]
    sweeps: tuple[Sweep, ...]


def grid(module, seed: int = DEFAULT_SEED, seeds: int = SWEEP_SEEDS) -> Grid:
    """The lecture grid of a demo, for each of its scenarios: the defaults; each main control
    moved alone across every stop of its slider; the page's data-efficiency sweep and, where the
    scenario has a gap, its gap sweep (the Compare page's sweeps are these, at the defaults)."""
    runs: dict[DemoConfig, None] = {}  # in order, each once
    sweeps = []
    for scenario in module.Config.field("scenario").choices:
        base = module.Config(scenario=scenario, seed=seed)
        runs[base] = None
        for name in MAIN_CONTROLS:
            if name in base.ignored_fields() or name not in base.field_names():
                continue
            for value in slider_stops(module.Config.field(name)):
                config = _moved(module, base, name, value)
                if config is not None:
                    runs[config] = None
        for over in ("n_target", "gap"):
            if over in base.field_names() and over not in base.ignored_fields():
                sweeps.append(Sweep(over, tuple(sweep_values(module, base, over)), seeds, base))
    return Grid(tuple(runs), tuple(sweeps))


def prepared(module, sweep: Sweep) -> bool:
    """Whether `prepare`, at its default seeds, stores every point of `sweep` (a sweep of the
    grid, or one of fewer seeds or values of it, or around another value of the swept setting)."""
    return set(sweep.points()) <= _grid_points(module)


@functools.lru_cache(maxsize=8)
def _grid_points(module) -> frozenset:
    """Every config whose result `prepare` stores: the grid's runs and its sweeps' points."""
    lecture_grid = grid(module)
    return frozenset(lecture_grid.runs).union(*(s.points() for s in lecture_grid.sweeps))


def _moved(module, base: DemoConfig, name: str, value: Any) -> DemoConfig | None:
    """`base` with one setting moved, or None where the other settings rule that value out."""
    try:
        return module.Config.from_dict({**base.to_dict(), name: value})
    except ValueError:
        return None
