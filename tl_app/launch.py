"""`transfer-lab`, the installed command: `python -m tl_core`'s commands, plus `transfer-lab app`.

    transfer-lab run linear --n_target 5      # as python -m tl_core run ...
    transfer-lab app                          # the Streamlit app on http://localhost:8501
    transfer-lab app --server.port 8502       # any `streamlit run` option passes on

The app starts with the settings of the project's `.streamlit/config.toml` (theme, no tracebacks
on the page, headless), given to Streamlit as options: Streamlit reads that file only from the
folder it is started in, and `transfer-lab app` works from any folder. A checkout runs its own
app.py; an installed package (pip install, not editable) runs the copy of app.py, app_pages/ and
.streamlit/ that pyproject.toml puts in `tl_app/streamlit_app/`.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path

from tl_core import cli

INSTALLED_APP = Path(__file__).resolve().parent / "streamlit_app"
CHECKOUT = Path(__file__).resolve().parent.parent


def app_folder() -> Path:
    """The folder holding app.py, app_pages/ and .streamlit/config.toml."""
    return INSTALLED_APP if (INSTALLED_APP / "app.py").is_file() else CHECKOUT


def config_options(folder: Path) -> list[str]:
    """`.streamlit/config.toml` of `folder` as `streamlit run` options: --section.key=value."""
    with open(folder / ".streamlit" / "config.toml", "rb") as file:
        config = tomllib.load(file)
    return [
        f"--{section}.{key}={str(value).lower() if isinstance(value, bool) else value}"
        for section, options in config.items()
        for key, value in options.items()
    ]


def streamlit_command(passed_on: Sequence[str] = ()) -> list[str]:
    """The `streamlit run` command line of the app; options passed on come last, so they win."""
    folder = app_folder()
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(folder / "app.py"),
        *config_options(folder),
        *passed_on,
    ]


def _start_app(args: argparse.Namespace) -> None:
    # One user on their own machine, as `make run`: one training at a time gets every core. A
    # host sets its own caps (README, "Host it for a class").
    os.environ.setdefault("TL_MAX_JOBS", "1")
    command = streamlit_command(args.passed_on)
    os.execv(command[0], command)  # Streamlit takes over this process: Ctrl+C stops it


def _add_app_command(commands: argparse._SubParsersAction) -> None:
    app = commands.add_parser(
        "app",
        help="start the app in the browser (Streamlit, http://localhost:8501)",
        description="Start the Transfer Lab app with the project's Streamlit settings. Any "
        "`streamlit run` option passes on, e.g. --server.port 8502. One training at a time "
        "(TL_MAX_JOBS=1) unless TL_MAX_JOBS is set.",
    )
    app.set_defaults(handler=_start_app, passes_on=True)


def _prepare_and_draw(args: argparse.Namespace) -> None:
    cli.prepare_command(args)
    if not args.no_grid:
        from tl_app import lecture_pages

        started = time.perf_counter()
        drawn = lecture_pages.draw(app_folder() / "app.py", cli.prepare_demos(args))
        print(f"{drawn} pages drawn, their charts kept; {time.perf_counter() - started:.0f} s")


def _draw_pages_too(commands: argparse._SubParsersAction) -> None:
    """`transfer-lab prepare` also draws the lecture grid's pages: their charts are kept too."""
    prepare = commands.choices["prepare"]
    prepare.description += " Then open each page of the grid once, keeping its charts (tl_app.lecture_pages)."
    prepare.set_defaults(handler=_prepare_and_draw)


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, prog="transfer-lab", extra_commands=[_add_app_command, _draw_pages_too])


if __name__ == "__main__":  # python -m tl_app.launch: the same, without the installed script
    sys.exit(main())
