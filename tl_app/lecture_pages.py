"""Draw the lecture grid's pages once, so that a class finds their charts drawn.

`python -m tl_core prepare` computes the lecture grid's results into the store; `transfer-lab
prepare` then opens each of those pages here, as a visitor's link would open it (each scenario's
defaults, each main control moved alone to each stop of its slider, their stored sweeps with them;
the Compare page), with Streamlit's own headless runner (streamlit.testing). Each chart a page
draws is kept on disk (tl_app.chart_store), where every server process and replica on the machine
finds it. Nothing trains here that `prepare` has not computed: a page whose results are missing is
left out, and said so.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import tl_core
from tl_app.catalog import COMPARE, DEMO_BY_NAME
from tl_app.controls import to_text
from tl_core import diskcache, lecture, store

PAGE_SECONDS = 300  # a page read from the store takes about a second


def link_fields(config) -> dict[str, str]:
    """The link of a page at `config`: the settings that differ from the defaults, and the seed."""
    default = type(config)().to_dict()
    fields = {k: v for k, v in config.to_dict().items() if v != default[k] or k == "seed"}
    return {k: to_text(v) for k, v in fields.items()}


def draw(app: Path, demos: Sequence[str] = (), report: Callable[[str], None] = print) -> int:
    """Open every page of the lecture grid of `demos` (default: all), then the Compare page, in
    the app whose frame is the file `app` (app.py); return how many pages were drawn.
    ValueError when the store is off (nothing would be kept)."""
    if diskcache.cache_dir() is None or not store.enabled():
        raise ValueError("the store of results is off (TL_CACHE_DIR, TL_RESULT_STORE): nothing would be kept")
    # Streamlit warns at each page that a script outside a server has no session: true, and noise
    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(
        _no_context_warning
    )
    drawn = sum(_draw_grid(app, demo, report) for demo in demos or tl_core.available_demos())
    if (not demos or set(demos) >= set(tl_core.available_demos())) and _open(app, COMPARE[0], {}, report):
        drawn += 1
        report("compare: its page drawn")
    return drawn


def _draw_grid(app: Path, demo: str, report: Callable[[str], None]) -> int:
    """Open the pages of `demo`'s lecture grid whose results are stored; how many drew."""
    started = time.perf_counter()
    grid = lecture.grid(tl_core.get_demo(demo))
    configs = [c for c in grid.runs if tl_core.api.stored_run(demo, config=c) is not None]
    drawn = sum(_open(app, DEMO_BY_NAME[demo].path, link_fields(c), report) for c in configs)
    missing = len(grid.runs) - len(configs)
    left_out = f"; {missing} left out, their results not prepared" if missing else ""
    report(
        f"{demo}: {drawn} pages of the lecture grid drawn ({time.perf_counter() - started:.1f} s{left_out})"
    )
    return drawn


def _no_context_warning(record: logging.LogRecord) -> bool:
    return "missing ScriptRunContext" not in record.getMessage()


def _open(app: Path, path: str, link: dict[str, str], report: Callable[[str], None]) -> bool:
    """Run the page at `path` with `link`; whether it ran without an error (else report it)."""
    from streamlit.testing.v1 import AppTest

    page = AppTest.from_file(str(app), default_timeout=PAGE_SECONDS)
    page.switch_page(path)
    for name, value in link.items():
        page.query_params[name] = value
    page.run()
    errors = [e.message for e in page.exception] + [e.body for e in page.error]
    if errors:
        report(f"{path} {link}: the page failed, its charts are not kept: {errors[0][:300]}")
    return not errors
