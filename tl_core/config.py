"""Config fields that carry their own range and help text.

Every demo has one frozen dataclass of settings, valid with no arguments. Each field is declared
with :func:`param`, which stores the allowed range (or choices) and a one-line help text in the
field's metadata. The command line, the app's widgets and shareable links all read them from
there, and :class:`DemoConfig` checks every value when a config is made, so a bad value fails in
one place with one kind of message: "gap must be in [0, 1], got 1.7".
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from tl_core.limits import LIMITS, Limits
from tl_core.runtime import DEVICE_CHOICES


def param(
    default: Any,
    help: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: Sequence[Any] | None = None,
    log: bool = False,
) -> Any:
    """Declare a config field with its default, allowed values and help text.

    `low`/`high` bound numbers (inclusive); `choices` lists the allowed values of a text field,
    or, for a tuple field, the allowed members. `log` hints that a slider should be logarithmic.
    """
    meta = {
        "help": help,
        "low": low,
        "high": high,
        "choices": tuple(choices) if choices is not None else None,
        "log": log,
    }
    if isinstance(default, tuple):
        return dataclasses.field(default_factory=lambda: default, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclass(frozen=True)
class FieldSpec:
    """What a user may set a config field to: everything a widget or a parser needs."""

    name: str
    kind: type  # int, float, bool, str or tuple (a tuple of str)
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    log: bool = False

    def allowed(self) -> str:
        """The allowed values in words, for error messages and help."""
        if self.kind is tuple:
            return f"a comma-separated subset of {', '.join(self.choices)}"
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.kind is bool:
            return "true or false"
        kind = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in [{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.low is not None:
            return f"{kind} >= {_fmt(self.low)}"
        if self.high is not None:
            return f"{kind} <= {_fmt(self.high)}"
        return kind

    def check(self, value: Any) -> Any:
        """Return `value` in this field's type, or raise ValueError saying what is allowed."""
        problem = ValueError(f"{self.name} must be {self.allowed()}, got {value!r}")
        if self.kind is tuple:
            if isinstance(value, str):
                value = tuple(v.strip() for v in value.split(",") if v.strip())
            if not isinstance(value, (tuple, list)) or not value:
                raise problem
            value = tuple(value)
            if any(v not in self.choices for v in value):
                raise problem
            twice = next((v for i, v in enumerate(value) if v in value[:i]), None)
            if twice is not None:  # a run would train it twice and show it twice
                raise ValueError(f"{self.name} lists {twice} twice; name each member once, got {value!r}")
            return value
        if self.kind is bool:
            if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.strip().lower() in ("true", "1", "yes")
            if isinstance(value, bool):
                return value
            raise problem
        if self.kind in (int, float):
            value = _to_number(value, self.kind, problem)
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                raise problem
            return value
        if not isinstance(value, str):
            raise problem
        if self.choices is not None and value not in self.choices:
            raise problem
        return value

    def parse(self, text: str) -> Any:
        """Parse text from a command line or a link into this field's type (then check it)."""
        return self.check(text)


def _to_number(value: Any, kind: type, problem: ValueError) -> float | int:
    if isinstance(value, bool):
        raise problem
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise problem from None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise problem
    if kind is int:
        if float(value) != int(value):
            raise problem
        return int(value)
    return float(value)


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


@functools.cache
def _specs(cls: type, limits: Limits) -> tuple[FieldSpec, ...]:
    """Every field's spec of config class `cls` under the host's `limits`, made once: configs
    are made by the hundred for a sweep, each checking every field."""
    return tuple(_spec(f, limits) for f in dataclasses.fields(cls))


def _spec(f: dataclasses.Field, limits: Limits) -> FieldSpec:
    """A field's spec; a cap set by the host (tl_core.limits) lowers its upper bound."""
    high, cap = f.metadata.get("high"), limits.field_cap(f.name)
    if cap is not None:
        high = cap if high is None else min(high, cap)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    if cap is not None and default > high:
        default = high
    return FieldSpec(
        name=f.name,
        kind=_kind_of(f.type),
        default=default,
        help=f.metadata.get("help", ""),
        low=f.metadata.get("low"),
        high=high,
        choices=f.metadata.get("choices"),
        log=f.metadata.get("log", False),
    )


def _is_default(f: dataclasses.Field, value: Any) -> bool:
    return f.default is not dataclasses.MISSING and type(value) is type(f.default) and value == f.default


def _kind_of(annotation: Any) -> type:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    for name, kind in (("tuple", tuple), ("bool", bool), ("int", int), ("float", float), ("str", str)):
        if text.startswith(name):
            return kind
    raise TypeError(f"unsupported config field type {annotation!r}")


@dataclass(frozen=True)
class DemoConfig:
    """Base of every demo's config: checks each field against its spec when made.

    Subclasses are frozen dataclasses whose fields are declared with :func:`param`. Fields many
    demos share are declared here: `seed` (every demo) and `device` (the torch demos); `scenario`,
    `gap`, `n_target`, `lam`, `epochs` and `lr` are declared by each demo with its own defaults.
    """

    demo: ClassVar[str] = ""
    # Settings a scenario ignores, e.g. {"diabetes": ("noise", "n_source")}: the app greys them
    # out, so that a student never moves a slider that changes nothing.
    ignored_by_scenario: ClassVar[dict[str, tuple[str, ...]]] = {}

    def __post_init__(self) -> None:
        declared = {f.name: f for f in dataclasses.fields(self)}
        for spec in self.fields():
            value = getattr(self, spec.name)
            if _is_default(declared[spec.name], value):
                value = spec.default  # a default above a host's cap is lowered to the cap
            object.__setattr__(self, spec.name, spec.check(value))

    @classmethod
    def fields(cls) -> list[FieldSpec]:
        """The spec of every field, in declaration order, with the host's caps applied."""
        return list(_specs(cls, LIMITS))

    @classmethod
    def field(cls, name: str) -> FieldSpec:
        for spec in cls.fields():
            if spec.name == name:
                return spec
        raise ValueError(f"{cls.demo} has no setting {name!r}; it has {', '.join(cls.field_names())}")

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> DemoConfig:
        """Make a config from a mapping of names to values or texts; unknown names are an error."""
        unknown = set(values) - set(cls.field_names())
        if unknown:
            raise ValueError(
                f"{cls.demo} has no setting {sorted(unknown)[0]!r}; it has {', '.join(cls.field_names())}"
            )
        return cls(**values)

    def ignored_fields(self) -> tuple[str, ...]:
        """The settings this config's scenario ignores."""
        return self.ignored_by_scenario.get(getattr(self, "scenario", ""), ())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any) -> DemoConfig:
        return dataclasses.replace(self, **changes)


def seed_field() -> Any:
    return param(0, "random seed: the same seed gives the same numbers", low=0, high=2**31 - 1)


def device_field() -> Any:
    return param(
        "auto", "where torch computes: auto picks CUDA, then Apple MPS, then the CPU", choices=DEVICE_CHOICES
    )
