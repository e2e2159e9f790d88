"""Debian's Chromium, which the browser tests drive: skipped without it on a developer's machine,
and a failure in CI (CI=true), where .ci/run installs it. Never a browser a tool downloads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PATH = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require() -> None:
    """Call at a browser test module's top: skips the module without Chromium, but not in CI."""
    if Path(PATH).exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{PATH} is missing; CI must install chromium (see .ci/run)", pytrace=False)
    pytest.skip(f"{PATH} is missing (apt-get install chromium); required in CI", allow_module_level=True)
