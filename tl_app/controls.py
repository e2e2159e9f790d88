"""Sidebar controls built from config fields, mirrored into the page's link.

Every `FieldSpec` becomes one widget whose key is the field's name, so a test finds it with
`at.slider(key="gap")`:

| field | widget |
|---|---|
| main control: gap, labelled samples, λ | select-slider on the stops a hand can hit (see below) |
| number with both bounds, logarithmic | select-slider on a 1-2-5 ladder (0.0001 ... 1) |
| number with both bounds | slider (epochs and lr stop at the field's upper bound) |
| number with an open or huge range (the seed) | number input |
| text with choices | selectbox |
| tuple (the strategies) | multiselect |
| bool | checkbox |

The main controls stop where the lecture grid does (`tl_core.lecture.slider_stops`: 1, 2, 3, 5,
10, 20, 30, 50, ... labelled samples, the gap in steps of 0.1, λ on its 1-2-5 ladder), so a move
lands on a prepared result; a value a link sets joins the stops, and `exact_widget` offers any
other number of samples.

A page's control values live in `st.session_state` under the field names. When a page is entered
(first load, or a switch from another page) each value comes from the link (`st.query_params`)
when the link has it, else from what this session last used on that page, else from the default.
A link value that is unknown, malformed or out of range is ignored or clamped, and the page shows
a warning naming it and what is allowed. After the widgets, the link is rewritten from the values,
so the address bar always holds the experiment on screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from tl_core import lecture
from tl_core.config import DemoConfig, FieldSpec, seed_field
from tl_core.lecture import ladder
from tl_core.strategies import label as strategy_label


@dataclass(frozen=True)
class _Shared(DemoConfig):
    """The settings every experiment page shares (so the seed has one spec, the core's)."""

    seed: int = seed_field()


SEED = _Shared.field("seed")
SHARED = frozenset({"seed"})  # remembered across pages: a teacher sets the seed once
HIDDEN = frozenset({"device"})  # the server picks the device; a link cannot

LABELS = {
    "scenario": "Scenario",
    "gap": "Gap between source and target",
    "n_target": "Labelled target samples",
    "strategies": "Strategies to compare with scratch",
    "lam": "λ of regularized transfer",
    "epochs": "Epochs of target training",
    "lr": "Learning rate",
    "seed": "Seed",
}
MAIN_FIELDS = ["scenario", "gap", "n_target", "strategies", "lam", "epochs", "lr"]
MAX_LINK_TEXT = 200  # longer link values are not even parsed
QUOTE_CHARS = 40  # a visitor's key or value is quoted at most this long in a warning
MAX_OTHER_KEYS = 5  # unknown link keys named in a warning; the rest are counted
SLIDER_MAX_STEPS = 10_000  # wider integer ranges get a number input
MAX_ASKED = 32  # sweeps a session keeps on screen once asked for


def label_of(spec: FieldSpec, per_class: bool = False) -> str:
    """A field's label on screen; `per_class`: the demo's target labels are counted per class."""
    text = LABELS.get(spec.name, spec.name.replace("_", " ").capitalize())
    return text + " per class" if per_class and spec.name == "n_target" else text


def label_of_name(name: str) -> str:
    """A setting's label from its name alone (a sentence naming what changed)."""
    words = {"values": "Swept values", "seeds": "Seeds", "data": "Data", "sweep_seeds": "Sweep seeds"}
    return LABELS.get(name, words.get(name, name.replace("_", " ").capitalize()))


def controls_of(Config: type[DemoConfig]) -> list[FieldSpec]:
    """The fields a user sets on a demo page: the main ones first, then the rest, the seed last."""
    specs = [s for s in Config.fields() if s.name not in HIDDEN]
    rank = {name: i for i, name in enumerate(MAIN_FIELDS)}
    return sorted(specs, key=lambda s: (s.name == "seed", rank.get(s.name, len(rank))))


# ----------------------------------------------------------------------------------------------
# Values: to and from the text of a link


def to_text(value: Any) -> str:
    """A value as a link writes it; `FieldSpec.check` reads it back to the same value."""
    if isinstance(value, (tuple, list)):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def show(value: Any) -> str:
    """A value in a sentence: numbers as short as they are exact, text as it is."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return ", ".join(str(v) for v in value)
    return str(value)


def escape(text: str) -> str:
    """Text that may hold what a visitor sent, made safe for Markdown (no links, LaTeX or HTML)."""
    return "".join("\\" + ch if ch in "\\`*_{}[]()<>#+-.!|$~:" else ch for ch in text)


def from_link(spec: FieldSpec, text: str) -> tuple[Any, str | None]:
    """The value a link's `text` gives `spec`: (value, None) when valid; (value or None, why) else.

    Numbers out of range are clamped to the nearest bound; a strategy list keeps its known
    members, each once; anything else that `FieldSpec.check` refuses is ignored (None). The
    reason quotes the text at most `QUOTE_CHARS` long.
    """
    if len(text) > MAX_LINK_TEXT:
        return None, f"{spec.name} in the link is {len(text)} characters long; ignored"
    members = [m.strip() for m in text.split(",") if m.strip()] if spec.kind is tuple else []
    if len(set(members)) < len(members):
        value = _salvage(spec, text)
        if value is not None:
            return value, f"{spec.name} lists a member twice in the link; using {show(value)}"
    try:
        value = spec.check(text)
    except ValueError as err:
        problem = str(err).replace(repr(text), repr(shorten(text)))
    else:
        return (value + 0.0 if spec.kind is float else value), None  # -0 reads as 0
    value = _salvage(spec, text)
    if value is None:
        return None, f"{problem}; ignored"
    return value, f"{problem}; using {show(value)} instead"


def _salvage(spec: FieldSpec, text: str) -> Any:
    if spec.kind is tuple:
        kept = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip() in spec.choices))
        return kept or None
    if spec.kind in (int, float):
        try:
            number = float(text)
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        low = -math.inf if spec.low is None else spec.low
        high = math.inf if spec.high is None else spec.high
        number = min(max(number, low), high)
        number = int(round(number)) if spec.kind is int else number
        try:
            return spec.check(number)
        except ValueError:
            return None
    return None


def read_link(specs: Iterable[FieldSpec]) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """What the page's link says (see `parse_link`)."""
    return parse_link({key: st.query_params.get_all(key) for key in st.query_params}, specs)


def parse_link(
    query: Mapping[str, Sequence[str]], specs: Iterable[FieldSpec]
) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """What a link's `query` (each key with all its values, in order) says for these settings.

    Returns (checked values, why a setting's value was refused or changed, warnings about keys
    that are no settings here). Every text is safe for Markdown and short: a visitor's key or
    value is quoted at most `QUOTE_CHARS` characters long, and at most `MAX_OTHER_KEYS` unknown
    keys are named one by one.
    """
    by_name = {s.name: s for s in specs}
    values, problems, others = {}, {}, []
    unknown = [key for key in query if key not in by_name and key not in HIDDEN]
    for key, texts in query.items():
        texts = list(texts)
        if key in HIDDEN:
            others.append(f"“{quote(key)}” in the link is ignored: the server picks where to compute")
        elif key in by_name:
            value, problem = from_link(by_name[key], texts[-1] if texts else "")
            if len(texts) > 1:
                dropped = ", ".join(f"“{shorten(t)}”" for t in texts[:-1][:3])
                problem = (
                    f"{key} appears {len(texts)} times in the link; the last one counts and "
                    f"{dropped}{', ...' if len(texts) > 4 else ''} "
                    f"{'is' if len(texts) == 2 else 'are'} ignored" + (f", and {problem}" if problem else "")
                )
            if problem:
                problems[key] = escape(problem)
            if value is not None:
                values[key] = value
    if unknown:
        allowed = escape(", ".join(by_name) or "none")
        named = ", ".join(f"“{quote(key)}”" for key in unknown[:MAX_OTHER_KEYS])
        more = f" and {len(unknown) - MAX_OTHER_KEYS} more" if len(unknown) > MAX_OTHER_KEYS else ""
        which = "is not a setting" if len(unknown) == 1 else "are not settings"
        others.append(f"{named}{more} in the link {which} of this page; ignored (settings here: {allowed})")
    return values, problems, others


def shorten(text: str) -> str:
    """A visitor's text at most `QUOTE_CHARS` long, control characters written as escapes."""
    short = text[:QUOTE_CHARS] + ("…" if len(text) > QUOTE_CHARS else "")
    return short if short.isprintable() else short.encode("unicode_escape").decode("ascii")


def quote(text: str) -> str:
    """A visitor's text, shortened, safe in Markdown (no link, LaTeX, HTML or heading)."""
    return escape(shorten(text))


def write_link(specs: Iterable[FieldSpec]) -> dict[str, str]:
    """Put the controls' current values in the address bar; return the query as a dict."""
    query = {s.name: to_text(value_of(s)) for s in specs}
    if st.query_params.to_dict() != query:
        st.query_params.from_dict(query)
    return query


# ----------------------------------------------------------------------------------------------
# Session state: entering a page, remembering it, resetting it


def enter_page(page: str, specs: list[FieldSpec]) -> bool:
    """Set the page's controls in session state when the page is entered (see module doc).

    Returns whether it did (the page was entered on this run)."""
    state = st.session_state
    if state.get("_tl_page") == page and all(s.name in state for s in specs):
        return False
    linked, problems, others = read_link(specs)
    saved, warnings = state.get("_tl_saved", {}), []
    for spec in specs:
        remembered = saved.get(_scope(page, spec), {}).get(spec.name, spec.default)
        try:
            remembered = spec.check(remembered)
        except ValueError:  # a cap changed since, or another page's value: start from the default
            remembered = spec.default
        state[spec.name] = _widget_value(linked.get(spec.name, remembered))
        if spec.name in problems:
            kept = (
                "" if spec.name in linked else f" — {escape(label_of(spec))} stays {escape(show(remembered))}"
            )
            warnings.append(f"Link: {problems[spec.name]}{kept}")
    state["_tl_page"] = page
    state["_tl_link_warnings"] = warnings + others
    return True


def remember(page: str, specs: list[FieldSpec]) -> None:
    """Keep this page's values so that coming back to it later finds them."""
    saved = st.session_state.setdefault("_tl_saved", {})
    for spec in specs:
        saved.setdefault(_scope(page, spec), {})[spec.name] = value_of(spec)


def reset(specs: list[FieldSpec]) -> None:
    """Callback of "Reset to defaults" (runs before the script, so widgets may be set)."""
    for spec in specs:
        st.session_state[spec.name] = _widget_value(spec.default)
    st.session_state["_tl_link_warnings"] = []


def requested(work: str, button: str, key: str, note: str = "", icon: str = ":material/play_arrow:") -> bool:
    """A button (with a `note` above it) for slow work that, once pressed, stays pressed for it.

    `work` names the work and every setting it depends on; while they stay the same the result
    stays on screen across reruns (its cache makes that instant), and a changed setting brings
    the button back instead of starting slow work unasked. The button and note vanish once
    pressed, so the result takes their place.
    """
    if asked(work):
        return True
    slot = st.empty()
    with slot.container():
        if note:
            st.caption(note)
        pressed = st.button(button, key=key, icon=icon)
    if not pressed:
        return False
    slot.empty()
    mark_asked(work)
    return True


def asked(work: str) -> bool:
    """Whether this session asked for `work` (or was given it at once, from the store)."""
    return work in st.session_state.get("_tl_asked", {})


def mark_asked(work: str) -> None:
    """Remember `work` as asked for: its result stays on screen while its settings stay."""
    done = st.session_state.setdefault("_tl_asked", {})  # a dict keeps the order they came in
    done[work] = True
    while len(done) > MAX_ASKED:
        del done[next(iter(done))]


def show_link_warnings() -> None:
    for warning in st.session_state.get("_tl_link_warnings", []):
        st.warning(warning, icon=":material/link_off:")


def value_of(spec: FieldSpec) -> Any:
    """The control's value in the config field's type."""
    value = st.session_state[spec.name]
    return tuple(value) if spec.kind is tuple else value


def _scope(page: str, spec: FieldSpec) -> str:
    return "_shared" if spec.name in SHARED else page


def _widget_value(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


# ----------------------------------------------------------------------------------------------
# Widgets


def widget(
    spec: FieldSpec,
    format_func: Callable[[Any], str] | None = None,
    ignored: bool = False,
    per_class: bool = False,
    more_help: str = "",
) -> Any:
    """One widget for `spec`, keyed by its name, its value already in session state.

    `format_func` names the choices (default: strategy labels for a tuple, words for text).
    `ignored`: the current scenario or data ignore this setting: the widget is greyed out, says so.
    `per_class`: a classifier's demo, whose target labels are counted per class (label_of).
    `more_help`: Markdown added to the tooltip (what the choices mean, where the theory is).
    """
    help_text = spec.help[:1].upper() + spec.help[1:] + (f"\n\n{more_help}" if more_help else "")
    if ignored:
        help_text = "This setting does not apply here (the scenario or the data decide it). " + help_text
    common = dict(label=label_of(spec, per_class), key=spec.name, help=help_text, disabled=ignored)
    if spec.kind is tuple:
        return st.multiselect(options=list(spec.choices), format_func=format_func or strategy_label, **common)
    if spec.kind is bool:
        return st.checkbox(**common)
    if spec.choices is not None:
        return st.selectbox(options=list(spec.choices), format_func=format_func or choice_label, **common)
    if spec.kind is str:
        return st.text_input(max_chars=MAX_LINK_TEXT, **common)
    bounded = spec.low is not None and spec.high is not None
    if bounded and spec.low == spec.high:  # a host capped it to one value: show it, fixed
        return st.number_input(**{**common, "disabled": True})
    if bounded and spec.name in lecture.MAIN_CONTROLS:  # the lecture grid's stops: prepared results
        options = sorted({*lecture.slider_stops(spec), st.session_state[spec.name]})
        return st.select_slider(options=options, format_func=show, **common)
    if bounded and spec.log:
        options = ladder(spec.low, spec.high, extra=(spec.default, st.session_state[spec.name]))
        return st.select_slider(options=options, format_func=show, **common)
    if bounded and (spec.kind is float or spec.high - spec.low <= SLIDER_MAX_STEPS):
        low, high = spec.kind(spec.low), spec.kind(spec.high)
        return st.slider(min_value=low, max_value=high, step=_step(spec), **common)
    return st.number_input(
        min_value=spec.kind(spec.low) if spec.low is not None else None,
        max_value=spec.kind(spec.high) if spec.high is not None else None,
        step=1 if spec.kind is int else None,
        **common,
    )


def exact_widget(spec: FieldSpec, label: str) -> Any:
    """An empty number field for any value of a control that stops at a few values (the labelled
    samples): typing 7 moves that control to 7, which its slider then shows among its stops, and
    the field empties again. Keyed `<name>_exact`; not in the link, which holds the control's value.

    It never mirrors the slider: a field the page rewrote on every move would race the slider
    (a move's rerun still running when the next one comes would read the field's old value back
    as a new entry, and undo the move)."""
    return st.number_input(
        label,
        min_value=spec.kind(spec.low),
        max_value=spec.kind(spec.high),
        value=None,
        step=1 if spec.kind is int else None,
        placeholder=f"any from {show(spec.low)} to {show(spec.high)}",
        key=f"{spec.name}_exact",
        on_change=_take_exact,
        args=(spec.name,),
        help="The slider stops at a few values; type any other here.",
    )


def _take_exact(name: str) -> None:
    typed = st.session_state[f"{name}_exact"]
    if typed is not None:
        st.session_state[name] = typed
        st.session_state[f"{name}_exact"] = None


def _step(spec: FieldSpec) -> int | float:
    if spec.kind is int:
        return 1
    return 10.0 ** math.floor(math.log10((spec.high - spec.low) / 100)) if spec.high > spec.low else 0.01


# Choices whose names are not words (the value stays what links and the command line use).
CHOICE_WORDS = {"sim2real": "sim-to-real", "rnn": "plain RNN", "gru": "GRU", "lstm": "LSTM"}


def choice_label(value: Any) -> str:
    """How a choice reads on screen: new_classes as "new classes", sim2real as "sim-to-real"."""
    return CHOICE_WORDS.get(str(value), str(value).replace("_", " "))
