"""The package as a user gets it: `pip install` of the checkout (not editable), then the command and
the imports from a folder outside the checkout, with nothing of the checkout on the path."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import CHECKOUT

import tl_core

pytestmark = pytest.mark.slow  # a package build, and an app server started


@pytest.fixture
def elsewhere(installed_package, tmp_path, monkeypatch) -> Path:
    """An empty folder outside the checkout, from which only the installed package is importable."""
    monkeypatch.setenv("PYTHONPATH", str(installed_package))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*command) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=600)


def test_the_installed_command_runs_a_demo_from_another_folder(installed_package, elsewhere):
    transfer_lab = installed_package / "bin" / "transfer-lab"
    shown = run(transfer_lab, "--help")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("usage: transfer-lab")
    assert all(command in shown.stdout for command in ("run", "sweep", "bench", "prepare", "app"))

    ran = run(transfer_lab, "run", "linear", "--json")
    assert ran.returncode == 0, ran.stderr
    numbers = json.loads(ran.stdout)
    expected = tl_core.run("linear")
    assert numbers["demo"] == "linear" and numbers["config"] == expected.config
    assert [(r["strategy"], r["target_metric"]) for r in numbers["results"]] == [
        (s.strategy, s.target_metric) for s in expected.strategies
    ]

    imported = run(sys.executable, "-c", "import tl_core, tl_app.launch; print(tl_core.__file__)")
    assert imported.returncode == 0, imported.stderr
    assert Path(imported.stdout.strip()).is_relative_to(installed_package)


def test_every_module_and_the_app_files_are_installed(installed_package):
    """A package or page added to the checkout but not to pyproject.toml would be missing here."""

    def files(folder: Path, pattern: str = "*.py") -> set[str]:
        return {str(p.relative_to(folder)) for p in folder.rglob(pattern) if "__pycache__" not in p.parts}

    for package in ("tl_core", "tl_app"):
        assert files(CHECKOUT / package) <= files(installed_package / package), package
    app = installed_package / "tl_app" / "streamlit_app"
    for name in [
        "app.py",
        ".streamlit/config.toml",
        *(f"app_pages/{f}" for f in files(CHECKOUT / "app_pages")),
    ]:
        assert (app / name).read_bytes() == (CHECKOUT / name).read_bytes(), name


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_transfer_lab_app_serves_the_installed_app_with_the_projects_settings(installed_package, elsewhere):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TL_MAX_JOBS"}
    server = subprocess.Popen(
        [installed_package / "bin" / "transfer-lab", "app", "--server.port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, health = time.monotonic() + 180, None
        while health != "ok" and time.monotonic() < deadline and server.poll() is None:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=5) as answer:
                    health = answer.read().decode()
            except OSError:
                pass
        assert health == "ok", "the app answers its health check"
        # Streamlit took over the command's process: what runs is the installed app, with the
        # settings of .streamlit/config.toml, for one local user.
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")
        assert str(installed_package / "tl_app" / "streamlit_app" / "app.py") in command
        for setting in (
            "--client.showErrorDetails=none",
            "--theme.primaryColor=#d62728",
            "--server.headless=true",
        ):
            assert setting in command
        assert command[-2:] == ["--server.port", str(port)]
        assert "TL_MAX_JOBS=1" in Path(f"/proc/{server.pid}/environ").read_bytes().decode().split("\0")
    finally:
        server.terminate()
        server.wait(timeout=60)
