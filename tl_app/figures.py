"""Charts drawn so that they read at any width, from a projector to a 390 px phone.

Plotly draws a figure's title and subplot titles as single lines of SVG text, and a row of
subplots shrinks with the screen, so on a phone titles run into each other and three panels
become three slivers. The server cannot know the screen's width, so every chart is drawn in a
form that suits both:

- the figure's title becomes a line of page text above the chart, which wraps;
- a row of two or three subplots becomes one chart per panel, each titled by its subplot title,
  in Streamlit columns: side by side on a wide screen, one under the other on a phone;
- a legend at the side moves above the plot, in rows that wrap.

The figures themselves (tl_core.plots, the demos) stay whole: exports and notebooks draw them as
they are.

Building a figure and redrawing it for the page take tens of milliseconds each, more than
reading a stored result; a class asks for the same few experiments over and over. So a chart is
built once per server process for what it shows (`Drawn.of`, keyed by the chart's content), and
the same read-only figures serve every session.
"""

from __future__ import annotations

import base64
import copy
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from tl_app.controls import escape
from tl_core.limits import LIMITS

CHART_CONFIG = MappingProxyType({"displaylogo": False})  # shared by every session: read-only
MAX_PANELS = 3  # a row of more subplots is a grid of images (the CNN's digits): it scales as one
TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0)
UNTITLED_TOP = 40  # px above the plot once the title is text on the page: room for the modebar
_TAG = re.compile(r"<[^>]*>")


def plain(text: str | None) -> str:
    """Plotly's title text as plain text: <br> a space, h<sub>T</sub> as h_T, no other tags."""
    text = re.sub(r"<br\s*/?>", " ", text or "", flags=re.IGNORECASE)
    text = re.sub(r"<sub>(.*?)</sub>", r"_\1", text, flags=re.IGNORECASE)
    return html.unescape(_TAG.sub("", text)).strip()


@dataclass(frozen=True)
class Drawn:
    """A figure as the page draws it: its title as text, then one chart, or one per panel with
    the panel's title as text. Shared by every session: nothing may change it."""

    figure: go.Figure  # whole, as exports draw it
    title: str
    panels: tuple[tuple[str, go.Figure], ...]  # (title, chart) each; one untitled chart if no panels

    @classmethod
    def of(cls, content: str, build: Callable[[], go.Figure], height: int | None = None) -> Drawn:
        """The drawn form of `build()`, made once per process for `content` (a text naming
        everything the figure shows: the same content, the same figure)."""
        return _drawn(content, height, build)

    @classmethod
    def made(cls, fig: go.Figure, height: int | None = None) -> Drawn:
        panels = split_panels(fig)
        if panels is None:
            return cls(fig, plain(fig.layout.title.text), (("", untitled(fig, height)),))
        charts = tuple((plain(p.layout.title.text), untitled(p, height)) for p in panels)
        return cls(fig, plain(fig.layout.title.text), charts)


@st.cache_resource(max_entries=LIMITS.cache_entries * 4, show_spinner=False)
def _drawn(content: str, height: int | None, _build: Callable[[], go.Figure]) -> Drawn:
    made = Drawn.made(_build(), height)
    return Drawn(made.figure, made.title, tuple((title, _Fixed(chart)) for title, chart in made.panels))


class _Fixed(go.Figure):
    """A figure that will not change, with its plain form made once: st.plotly_chart asks a
    figure for to_dict() at every draw, which walks and encodes every array again (a tenth of a
    second for a page's charts), for every session that draws a shared figure."""

    def __init__(self, fig: go.Figure) -> None:
        super().__init__(fig)
        self._plain = super().to_dict()

    def to_dict(self) -> dict:
        return self._plain  # read by plotly.io.to_json, never changed


def show(drawn: Drawn | go.Figure, key: str, height: int | None = None) -> None:
    """Draw a figure under `key`: its title as text, its panels side by side or stacked, each
    panel's title as text above it (`height`: the chart's, else the figure's own)."""
    if isinstance(drawn, go.Figure):
        drawn = Drawn.made(drawn, height)
    if drawn.title:
        st.markdown(f"**{escape(drawn.title)}**")
    if len(drawn.panels) == 1 and not drawn.panels[0][0]:
        st.plotly_chart(drawn.panels[0][1], key=key, config=dict(CHART_CONFIG))
        return
    for i, (column, (title, panel)) in enumerate(zip(st.columns(len(drawn.panels)), drawn.panels)):
        with column:
            if title:
                st.caption(f"**{escape(title)}**")
            st.plotly_chart(panel, key=f"{key}_{i}", config=dict(CHART_CONFIG))


def untitled(fig: go.Figure, height: int | None = None) -> go.Figure:
    """A copy of `fig` without its title (shown above it as text), with the room it took, its
    legend in rows above the plot (as tl_core.plots lays out most), `height` pixels tall when
    given."""
    fig = go.Figure(fig)
    top = fig.layout.margin.t
    fig.update_layout(title=None, margin=dict(t=min(top, UNTITLED_TOP) if top is not None else UNTITLED_TOP))
    if height is not None:
        fig.update_layout(height=height)
    if fig.layout.legend.orientation != "h":  # a legend at the side leaves a phone no plot
        fig.update_layout(legend=TOP_LEGEND)
    return fig


def _axis_suffixes(fig: go.Figure) -> list[str]:
    """'' for xaxis, '2' for xaxis2, ... in the order of their domains, left to right."""
    names = [name for name in fig.layout if re.fullmatch(r"xaxis\d*", name)]
    names.sort(key=lambda name: (fig.layout[name].domain or (0, 1))[0])
    return [name[len("xaxis") :] for name in names]


def _one_row(fig: go.Figure, suffixes: list[str]) -> bool:
    for s in suffixes:
        y = fig.layout[f"yaxis{s}"] if f"yaxis{s}" in fig.layout else None
        domain = tuple(y.domain) if y is not None and y.domain is not None else (0, 1)
        if domain != (0, 1) and domain != (0.0, 1.0):
            return False
    return True


def split_panels(fig: go.Figure) -> list[go.Figure] | None:
    """One figure per subplot of a row of 2 to MAX_PANELS subplots; None for any other figure.

    Each panel keeps its traces, axes, annotations and shapes, takes its subplot title as its
    own title, and shows the legend entries of its own traces; axes that matched another
    panel's (the same scale on purpose, as the RNN's hidden-state plane) get the range of both,
    so they still compare.
    """
    suffixes = _axis_suffixes(fig)
    if not 2 <= len(suffixes) <= MAX_PANELS or not _one_row(fig, suffixes):
        return None
    domains = {s: tuple(fig.layout[f"xaxis{s}"].domain or (0, 1)) for s in suffixes}
    ranges = {"x": _shared_ranges(fig, "x", suffixes), "y": _shared_ranges(fig, "y", suffixes)}
    in_legend = {t.name for t in fig.data if t.name and t.showlegend is not False}
    base = fig.layout.to_plotly_json()
    for name in list(base):
        if re.fullmatch(r"[xy]axis\d*", name) or name in ("annotations", "shapes", "title", "images"):
            del base[name]
    panels = []
    for s in suffixes:
        panel = go.Figure(layout=copy.deepcopy(base))
        named: set[str] = set()
        for trace in fig.data:
            if (trace.xaxis or "x") != f"x{s}":
                continue
            settings = {**trace.to_plotly_json(), "xaxis": "x", "yaxis": "y"}
            if trace.name in in_legend and trace.name not in named:  # each panel its own legend,
                settings["showlegend"] = True  # so that they stay the same size, stacked or not
                named.add(trace.name)
            elif trace.name in named:
                settings["showlegend"] = False
            panel.add_trace(settings)
        for axis in ("x", "y"):
            settings = fig.layout[f"{axis}axis{s}"].to_plotly_json() if f"{axis}axis{s}" in fig.layout else {}
            for drop in ("domain", "anchor", "matches", "scaleanchor", "overlaying"):
                settings.pop(drop, None)
            if settings.get("showticklabels") is False:  # hidden where it shared its neighbour's
                del settings["showticklabels"]
            if s in ranges[axis]:
                settings["range"] = ranges[axis][s]
            panel.layout[f"{axis}axis"] = settings
        title, notes = _panel_annotations(fig, s, domains[s])
        panel.update_layout(
            annotations=notes,
            shapes=[
                _moved(shape, s, domains[s]) for shape in fig.layout.shapes if _belongs(shape, s, domains[s])
            ],
            title=dict(text=title) if title else None,
        )
        panels.append(panel)
    return panels


def _shared_ranges(fig: go.Figure, axis: str, suffixes: list[str]) -> dict[str, list[float]]:
    """The range each matched axis must keep: that of all the axes it matches, with a margin."""
    groups: dict[str, list[str]] = {}
    for s in suffixes:
        settings = fig.layout[f"{axis}axis{s}"] if f"{axis}axis{s}" in fig.layout else None
        matches = settings.matches if settings is not None else None
        if matches:
            groups.setdefault(matches[len(axis) :], [matches[len(axis) :]]).append(s)
    ranges = {}
    for members in groups.values():
        values = [
            v
            for trace in fig.data
            if (getattr(trace, f"{axis}axis") or axis)[len(axis) :] in members
            for v in _numbers(getattr(trace, axis, None))
        ]
        if not values:
            continue
        low, high = min(values), max(values)
        pad = (high - low) * 0.05 or 1.0
        for member in members:
            ranges[member] = [low - pad, high + pad]
    return ranges


def _numbers(values: Iterable | None) -> list[float]:
    """The finite numbers among a trace's coordinates (None, text and NaN gaps left out)."""
    if values is None:
        return []
    if isinstance(values, dict) and "bdata" in values:  # plotly keeps numpy arrays as typed bytes
        values = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    array = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array)].tolist()


def _refers_to(ref: str | None, s: str, axis: str) -> bool:
    return ref in (f"{axis}{s}", f"{axis}{s} domain") or (s == "" and ref in (axis, f"{axis} domain"))


def _in_domain(x: float | None, domain: tuple[float, float]) -> bool:
    return x is not None and domain[0] - 1e-9 <= x <= domain[1] + 1e-9


def _belongs(item, s: str, domain: tuple[float, float]) -> bool:
    if item.xref == "paper":
        return _in_domain(item.x if hasattr(item, "text") else item.x0, domain)
    return _refers_to(item.xref, s, "x")


def _panel_annotations(fig: go.Figure, s: str, domain: tuple[float, float]) -> tuple[str, list[dict]]:
    """The panel's subplot title (a paper annotation on top of its domain) and its other notes."""
    title, notes = "", []
    for note in fig.layout.annotations:
        if not _belongs(note, s, domain):
            continue
        is_title = note.xref == "paper" and note.yref == "paper" and (note.y or 0) >= 1 and not title
        if is_title:
            title = note.text or ""
            continue
        notes.append(_moved(note, s, domain))
    return title, notes


def _moved(item, s: str, domain: tuple[float, float]) -> dict:
    """An annotation or shape of panel `s`, referring to the panel's own axes."""
    settings = item.to_plotly_json()
    for axis in ("x", "y"):
        ref = settings.get(f"{axis}ref")
        if ref and ref != "paper" and _refers_to(ref, s, axis):
            settings[f"{axis}ref"] = axis + (" domain" if ref.endswith("domain") else "")
    if settings.get("xref") == "paper":  # paper x across the row: across this panel now
        width = domain[1] - domain[0]
        for name in ("x", "x0", "x1"):
            if settings.get(name) is not None:
                settings[name] = (settings[name] - domain[0]) / width
    return settings
