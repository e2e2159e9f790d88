"""The charts a demo page draws, kept in page order for the Export panel's one HTML file."""

from __future__ import annotations

from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from tl_app import figures, glossary


class Charts:
    """The charts a page drew in this run, in page order, with the sentence under each: the
    Export panel offers them together as one HTML file. `context` names what every chart of the
    page is made from (demo, settings, data): with a chart's key, what it shows. `on_disk`: keep
    the drawn charts on disk for every process (tl_app.chart_store); never for a visitor's own
    data, whose charts (their images, their values) stay in this server's memory only."""

    def __init__(self, context: str, on_disk: bool = True) -> None:
        self.context = context
        self.on_disk = on_disk
        self.drawn: list[tuple[go.Figure, str]] = []

    def show(
        self,
        build: Callable[[], go.Figure],
        key: str,
        sentence: str = "",
        height: int | None = None,
        strategies=(),
        content: str = "",
    ) -> None:
        """Draw the figure `build()` makes (made once for this chart of this context and
        `content`: anything else it is made from), then the sentence under it; `strategies`:
        those its legend names, whose meanings a popover beside it gives."""
        drawn = figures.Drawn.of(f"{key}|{self.context}|{content}", build, height, self.on_disk)
        figures.show(drawn, key)
        glossary.strategies_popover(strategies, key=f"{key}_strategies")
        if sentence:
            st.markdown(sentence)
        self.drawn.append((drawn.figure, sentence))
