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
built once per machine for what it shows (`Drawn.of`, keyed by the chart's content): kept in the
server process, where the same read-only chart serves every session, and on disk
(tl_app.chart_store), where every later process and replica finds it.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from tl_app import chart_store
from tl_app.controls import escape
from tl_core.limits import LIMITS

CHART_CONFIG = MappingProxyType({"displaylogo": False})  # shared by every session: read-only
MAX_PANELS = 3  # a row of more subplots is a grid of images (the CNN's digits): it scales as one
TOP_LEGEND = dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0)
UNTITLED_TOP = 40  # px above the plot once the title is text on the page: room for the modebar
PLOTLY_HEIGHT = 450  # px: a chart's height when its figure sets none
# Panels side by side with different legends (see _same_plot_heights): one entry per row under the
# plot, below its tick labels and x axis title.
LISTED_BELOW = dict(orientation="v", yref="paper", yanchor="top", xanchor="left", x=0, tracegroupgap=0)
UNDER_THE_PLOT_PX, LEGEND_ROW_PX, LEGEND_PADDING_PX = 64, 22, 12  # a row fits a large marker
USUAL_BOTTOM_PX = 96  # under a plot: its x axis title and a legend of two rows in our figures
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
    def of(
        cls, content: str, build: Callable[[], go.Figure], height: int | None = None, on_disk: bool = True
    ) -> Drawn:
        """The drawn form of `build()`, made once per machine for `content` (a text naming
        everything the figure shows: the same content, the same figure): kept in this process,
        and `on_disk` for every process (tl_app.chart_store)."""
        return _drawn(content, height, on_disk, build)

    @classmethod
    def made(cls, fig: go.Figure, height: int | None = None) -> Drawn:
        """The drawn form of `fig`. The charts are made from its plain form (a dict), never as
        plotly objects: plotly validates every property it is given, which cost more than
        building the figure did."""
        whole = fig.to_dict()
        panels = _panels(whole)
        charts = [("", whole)] if panels is None else [(_title_text(p["layout"]), p) for p in panels]
        drawn = _same_plot_heights([_untitled(chart, height) for _, chart in charts])
        return cls.from_plain(
            {
                "title": plain(_title_text(whole["layout"])),
                "whole": whole,
                "panels": [[plain(title), chart] for (title, _), chart in zip(charts, drawn, strict=True)],
            }
        )

    @classmethod
    def from_plain(cls, drawn: dict) -> Drawn:
        return cls(
            _Fixed(drawn["whole"]),
            drawn["title"],
            tuple((title, _Fixed(chart)) for title, chart in drawn["panels"]),
        )

    def to_plain(self) -> dict:
        """Plain data (plotly's JSON form), as tl_app.chart_store keeps it."""
        return {
            "title": self.title,
            "whole": self.figure.to_dict(),
            "panels": [[title, chart.to_dict()] for title, chart in self.panels],
        }


@st.cache_resource(max_entries=LIMITS.cache_entries * 4, show_spinner=False)
def _drawn(content: str, height: int | None, on_disk: bool, _build: Callable[[], go.Figure]) -> Drawn:
    kept = chart_store.load(content, height) if on_disk else None
    if kept is not None:
        return Drawn.from_plain(kept)
    drawn = Drawn.made(_build(), height)
    if on_disk:
        chart_store.keep(content, height, drawn.to_plain())
    return drawn


class _Fixed(go.Figure):
    """A chart that will not change, held in its plain form: st.plotly_chart (and plotly's
    to_html, for the export) asks a figure for to_dict() at every draw, which would walk and
    encode every array again for every session that draws a shared chart."""

    def __init__(self, plain_form: dict) -> None:
        # Empty, and without plotly's default template (a third of the time of loading a kept
        # chart): the chart is its plain form, which plotly need not validate.
        super().__init__(layout={"template": {}})
        self._plain = plain_form

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
    return go.Figure(_untitled(fig.to_dict(), height))


def split_panels(fig: go.Figure) -> list[go.Figure] | None:
    """One figure per subplot of a row of 2 to MAX_PANELS subplots; None for any other figure.

    Each panel keeps its traces, axes, annotations and shapes, takes its subplot title as its
    own title, and shows the legend entries of its own traces; axes that matched another
    panel's (the same scale on purpose, as the RNN's hidden-state plane) get the range of both,
    so they still compare.
    """
    panels = _panels(fig.to_dict())
    return None if panels is None else [go.Figure(panel) for panel in panels]


# The plain forms (plotly's to_dict()) the two functions above work on. Each change makes a new
# dict at the level it changes and shares the rest (the template, the arrays): nothing changes a
# plain form once made, and copying plotly's template for every panel cost more than the rest.
def _title_text(layout: dict) -> str | None:
    title = layout.get("title")
    return title.get("text") if isinstance(title, dict) else title


def _untitled(plain_form: dict, height: int | None) -> dict:
    layout = dict(plain_form["layout"])
    layout.pop("title", None)
    margin = layout.get("margin", {})
    top = margin.get("t")
    layout["margin"] = {**margin, "t": min(top, UNTITLED_TOP) if top is not None else UNTITLED_TOP}
    if height is not None:
        layout["height"] = height
    if layout.get("legend", {}).get("orientation") != "h":  # a legend at the side leaves a phone no plot
        layout["legend"] = {**layout.get("legend", {}), **TOP_LEGEND}
    return {**plain_form, "layout": layout}


def _legend_names(plain_form: dict) -> list[str]:
    """The names a chart's legend lists, in order."""
    if plain_form["layout"].get("showlegend") is False:
        return []
    return [
        trace["name"]
        for trace in plain_form.get("data", [])
        if trace.get("name") and trace.get("showlegend", True) is not False
    ]


def _same_plot_heights(charts: list[dict]) -> list[dict]:
    """Panels side by side whose legends differ, each with the same plot height.

    Plotly fits a plot above its legend, and a legend wraps into as many rows as the panel's
    width makes it: panels with different legends had plots of different heights side by side.
    Here every legend lists one entry per row under its plot, in room kept for the longest, so
    the plots are the same height at any width (a shorter legend leaves room below it)."""
    if len(charts) < 2:  # a single chart: nothing beside it to match
        return charts
    names = [_legend_names(chart) for chart in charts]
    lengths = [[len(name) for name in n] for n in names]
    if all(n == lengths[0] for n in lengths):  # legends of alike labels wrap alike
        return charts
    rows = max(len(n) for n in names)
    out = []
    for chart in charts:
        layout = dict(chart["layout"])
        margin = layout.get("margin", {})
        top, height = margin.get("t", UNTITLED_TOP), layout.get("height") or PLOTLY_HEIGHT
        bottom = UNDER_THE_PLOT_PX + rows * LEGEND_ROW_PX + LEGEND_PADDING_PX
        height += bottom - USUAL_BOTTOM_PX  # the plot keeps the height it has beside a short legend
        below = UNDER_THE_PLOT_PX / (height - top - bottom)  # the legend's top, in plot heights
        layout.update(
            height=height,
            margin={**margin, "b": bottom},
            legend={**layout.get("legend", {}), **dict(LISTED_BELOW, y=-below)},
        )
        out.append({**chart, "layout": layout})
    return out


def _axis_suffixes(layout: dict) -> list[str]:
    """'' for xaxis, '2' for xaxis2, ... in the order of their domains, left to right."""
    names = [name for name in layout if re.fullmatch(r"xaxis\d*", name)]
    names.sort(key=lambda name: _domain(layout[name])[0])
    return [name[len("xaxis") :] for name in names]


def _domain(axis: dict | None) -> tuple[float, float]:
    return tuple((axis or {}).get("domain") or (0, 1))


def _panels(whole: dict) -> list[dict] | None:
    layout, traces = whole["layout"], whole.get("data", [])
    suffixes = _axis_suffixes(layout)
    if not 2 <= len(suffixes) <= MAX_PANELS or any(
        _domain(layout.get(f"yaxis{s}")) != (0, 1) for s in suffixes
    ):
        return None
    ranges = {axis: _shared_ranges(layout, traces, axis, suffixes) for axis in ("x", "y")}
    in_legend = {t.get("name") for t in traces if t.get("name") and t.get("showlegend") is not False}
    base = {
        name: value
        for name, value in layout.items()
        if not re.fullmatch(r"[xy]axis\d*", name) and name not in ("annotations", "shapes", "title", "images")
    }
    panels = []
    for s in suffixes:
        domain = _domain(layout[f"xaxis{s}"])
        panel = dict(base)
        for axis in ("x", "y"):
            settings = dict(layout.get(f"{axis}axis{s}", {}))
            for drop in ("domain", "anchor", "matches", "scaleanchor", "overlaying"):
                settings.pop(drop, None)
            if settings.get("showticklabels") is False:  # hidden where it shared its neighbour's
                del settings["showticklabels"]
            if s in ranges[axis]:
                settings["range"] = ranges[axis][s]
            panel[f"{axis}axis"] = settings
        title, notes = _panel_annotations(layout, s, domain)
        panel["annotations"] = notes
        panel["shapes"] = [
            _moved(shape, s, domain) for shape in layout.get("shapes", []) if _belongs(shape, s, domain, "x0")
        ]
        if title:
            panel["title"] = {"text": title}
        panels.append({"data": _panel_traces(traces, s, in_legend), "layout": panel})
    return panels


def _panel_traces(traces: list[dict], s: str, in_legend: set[str]) -> list[dict]:
    """The traces of panel `s`, on the panel's own axes; each panel its own legend, so that the
    panels stay the same size, stacked or not."""
    named: set[str] = set()
    kept = []
    for trace in traces:
        if (trace.get("xaxis") or "x") != f"x{s}":
            continue
        settings = {**trace, "xaxis": "x", "yaxis": "y"}
        name = trace.get("name")
        if name in in_legend and name not in named:
            settings["showlegend"] = True
            named.add(name)
        elif name in named:
            settings["showlegend"] = False
        kept.append(settings)
    return kept


def _shared_ranges(
    layout: dict, traces: list[dict], axis: str, suffixes: list[str]
) -> dict[str, list[float]]:
    """The range each matched axis must keep: that of all the axes it matches, with a margin."""
    groups: dict[str, list[str]] = {}
    for s in suffixes:
        matches = layout.get(f"{axis}axis{s}", {}).get("matches")
        if matches:
            groups.setdefault(matches[len(axis) :], [matches[len(axis) :]]).append(s)
    ranges = {}
    for members in groups.values():
        values = [
            v
            for trace in traces
            if (trace.get(f"{axis}axis") or axis)[len(axis) :] in members
            for v in _numbers(trace.get(axis))
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


def _belongs(item: dict, s: str, domain: tuple[float, float], at: str) -> bool:
    """Whether an annotation (placed `at` "x") or a shape (at "x0") belongs to panel `s`."""
    if item.get("xref") == "paper":
        return _in_domain(item.get(at), domain)
    return _refers_to(item.get("xref"), s, "x")


def _panel_annotations(layout: dict, s: str, domain: tuple[float, float]) -> tuple[str, list[dict]]:
    """The panel's subplot title (a paper annotation on top of its domain) and its other notes."""
    title, notes = "", []
    for note in layout.get("annotations", []):
        if not _belongs(note, s, domain, "x"):
            continue
        on_top = note.get("xref") == "paper" and note.get("yref") == "paper" and (note.get("y") or 0) >= 1
        if on_top and not title:
            title = note.get("text") or ""
            continue
        notes.append(_moved(note, s, domain))
    return title, notes


def _moved(item: dict, s: str, domain: tuple[float, float]) -> dict:
    """An annotation or shape of panel `s`, referring to the panel's own axes."""
    settings = dict(item)
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
