"""`transfer-lab`, the installed command: `python -m tl_core`'s commands, plus `transfer-lab app`.

    transfer-lab run linear --n_target 5      # as python -m tl_core run ...
    transfer-lab app                          # the Streamlit app on http://localhost:8501
    transfer-lab app --server.port 8502       # any `streamlit run` option passes on
    transfer-lab app --replicas 2             # two app servers behind one port (tl_app.balancer)

The app starts with the settings of the project's `.streamlit/config.toml` (theme, no tracebacks
on the page, headless), given to Streamlit as options: Streamlit reads that file only from the
folder it is started in, and `transfer-lab app` works from any folder. A checkout runs its own
app.py; an installed package (pip install, not editable) runs the copy of app.py, app_pages/ and
.streamlit/ that pyproject.toml puts in `tl_app/streamlit_app/`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from tl_core import cli
from tl_core.limits import Limits
from tl_core.runtime import memory_bytes, room_for_workers, share_of_cores

if TYPE_CHECKING:
    from tl_app.balancer import Balancer

INSTALLED_APP = Path(__file__).resolve().parent / "streamlit_app"
CHECKOUT = Path(__file__).resolve().parent.parent
RESTART_PAUSE_S = 5.0  # an app server that ends is started again, at most this often
PR_SET_PDEATHSIG = 1  # Linux prctl(2): the signal a process gets when its parent ends


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
    if args.replicas < 1:
        raise ValueError(f"--replicas must be at least 1, got {args.replicas}")
    # One user on their own machine, as `make run`: one training at a time gets every core. A
    # host sets its own caps (README, "Host it for a class").
    os.environ.setdefault("TL_MAX_JOBS", "1")
    if args.replicas > 1:
        serve_replicas(args.replicas, args.passed_on)
        return
    command = streamlit_command(args.passed_on)
    os.execv(command[0], command)  # Streamlit takes over this process: Ctrl+C stops it


def take_option(options: Sequence[str], name: str) -> tuple[str | None, list[str]]:
    """The value of `--name` in command-line options (as `--name v` or `--name=v`; the last one
    given wins, as in Streamlit), and the options without it."""
    value, rest, i = None, [], 0
    while i < len(options):
        option = options[i]
        if option == f"--{name}" and i + 1 < len(options):
            value, i = options[i + 1], i + 2
            continue
        if option.startswith(f"--{name}="):
            value = option.split("=", 1)[1]
        else:
            rest.append(option)
        i += 1
    return value, rest


def replica_threads(count: int) -> int:
    """CPU threads of each of `count` replicas' training, unless the host sets TL_TORCH_THREADS:
    the cores shared out, at least one. Each replica taking every core would start that many
    training processes (half a gigabyte each) that fight the other replicas' for the cores."""
    return share_of_cores(jobs=count)


def replicas_train_in_processes(count: int, env: dict[str, str]) -> str:
    """TL_TRAIN_IN_PROCESSES for `count` replicas with the caps in `env`: "1" where the memory
    holds them all with their training processes. Each replica alone would take the whole
    machine's memory for its own (tl_app.server.every_training_in_processes)."""
    limits = Limits.from_environment(env)
    workers = share_of_cores(limits.torch_threads, limits.max_jobs) * limits.max_jobs
    return "1" if room_for_workers(workers, memory_bytes(), servers=count) else "0"


def serve_replicas(count: int, passed_on: Sequence[str]) -> None:
    """`count` app servers on loopback ports, behind the balancer on the public address
    (`--server.address`, all interfaces by default, and `--server.port`, 8501): see
    tl_app.balancer. Each trains on its share of the cores (replica_threads); one that ends is
    started again (Replicas). Ctrl+C or SIGTERM stops them all."""
    from tl_app.balancer import Balancer

    port, options = take_option(passed_on, "server.port")
    address, options = take_option(options, "server.address")
    public = 8501 if port is None else int(port) if port.isdigit() else 0
    if not 1 <= public <= 65535:
        raise ValueError(f"--server.port must be a whole number from 1 to 65535, got {port!r}")
    try:  # the public port first: if it is taken, nothing starts
        listener = socket.create_server((address or "", public))
    except OSError as error:
        raise SystemExit(f"transfer-lab: error: cannot listen on port {public}: {error.strerror}") from None
    # One cookie secret (Streamlit takes it only from its environment or config file): a cookie
    # set by any replica is good on all.
    env = {"STREAMLIT_SERVER_COOKIE_SECRET": secrets.token_hex(16), **os.environ}
    env.setdefault("TL_TORCH_THREADS", str(replica_threads(count)))
    env.setdefault("TL_TRAIN_IN_PROCESSES", replicas_train_in_processes(count, env))
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: end the replicas too
    replicas = Replicas([free_port() for _ in range(count)], options, env)
    try:
        replicas.start()
        _wait_until_healthy(replicas.processes, replicas.ports)
        print(
            f"Transfer Lab: {count} app servers behind http://{address or 'localhost'}:{public}", flush=True
        )
        balancer = Balancer([("127.0.0.1", p) for p in replicas.ports])
        asyncio.run(_serve(balancer, listener, replicas))
    except KeyboardInterrupt:
        pass
    except RuntimeError as error:  # a replica that did not start: say why, no traceback
        raise SystemExit(f"transfer-lab: error: {error}") from None
    finally:
        replicas.stop()


async def _serve(balancer: Balancer, listener: socket.socket, replicas: Replicas) -> None:
    await asyncio.gather(balancer.serve(listener), replicas.keep_running())


class Replicas:
    """The app servers behind the balancer, one on each loopback port: started, started again
    when one ends (out of memory, say: until then the balancer sends its browsers to the others,
    and their links restore their settings), and stopped together."""

    def __init__(self, ports: list[int], options: Sequence[str], env: dict[str, str]):
        self.ports, self.options, self.env = ports, list(options), env
        self.processes: list[subprocess.Popen] = []
        self.started: list[float] = []  # time.monotonic() of each one's latest start

    def start(self) -> None:
        for port in self.ports:
            self.processes.append(self._start(port))
            self.started.append(time.monotonic())

    def _start(self, port: int) -> subprocess.Popen:
        # A replica's loopback address is not one to give out (a browser sent there skips the
        # balancer): Streamlit's "You can now view your app" lines are left to the launcher.
        loopback = [f"--server.port={port}", "--server.address=127.0.0.1", "--logger.hideWelcomeMessage=true"]
        return subprocess.Popen(
            streamlit_command([*self.options, *loopback]),
            env=self.env,
            preexec_fn=_end_with_launcher if sys.platform == "linux" else None,
        )

    def restart_ended(self) -> list[int]:
        """Start again each replica whose server has ended, unless it started less than
        RESTART_PAUSE_S ago (one that cannot start is retried at that pace, not in a loop).
        Returns their indices."""
        now = time.monotonic()
        ended = [
            i
            for i, process in enumerate(self.processes)
            if process.poll() is not None and now - self.started[i] >= RESTART_PAUSE_S
        ]
        for i in ended:
            print(
                f"transfer-lab: the app server on port {self.ports[i]} {_how_it_ended(self.processes[i])}; "
                "starting it again",
                file=sys.stderr,
                flush=True,
            )
            self.started[i] = now
            try:
                self.processes[i] = self._start(self.ports[i])
            except OSError as error:  # no more processes allowed, say: the others serve; try later
                print(f"transfer-lab: it could not be started: {error}", file=sys.stderr, flush=True)
        return ended

    async def keep_running(self, every_s: float = 1.0) -> None:
        while True:
            self.restart_ended()
            await asyncio.sleep(every_s)

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _how_it_ended(process: subprocess.Popen) -> str:
    """How a process ended, in words: "was killed by SIGKILL", "ended with status 1" (Popen's
    returncode is minus the signal's number when a signal ended it)."""
    code = process.returncode
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"ended with status {code}"


def _end_with_launcher() -> None:
    """Run in a new app server before Streamlit starts (Linux): the kernel sends it SIGTERM when
    the launcher ends, even when it is killed (SIGKILL), so no server is left holding a port."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def free_port() -> int:
    """A TCP port on the loopback address that no one listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_healthy(replicas: list[subprocess.Popen], ports: list[int], timeout_s: float = 120) -> None:
    """Wait until every replica answers its health check; raise if one ends or none answers in time."""
    deadline = time.monotonic() + timeout_s
    waiting = list(zip(replicas, ports))
    while waiting:
        replica, port = waiting[0]
        if replica.poll() is not None:
            raise RuntimeError(f"an app server (port {port}) ended with status {replica.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as answer:
                if answer.read() == b"ok":
                    waiting.pop(0)
                    continue
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"an app server (port {port}) did not start within {timeout_s:.0f} s")
        time.sleep(0.3)


def _add_app_command(commands: argparse._SubParsersAction) -> None:
    app = commands.add_parser(
        "app",
        help="start the app in the browser (Streamlit, http://localhost:8501)",
        description="Start the Transfer Lab app with the project's Streamlit settings. Any "
        "`streamlit run` option passes on, e.g. --server.port 8502. One training at a time "
        "(TL_MAX_JOBS=1) unless TL_MAX_JOBS is set.",
    )
    app.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="app servers (processes) behind the one port, each browser kept on one of them: "
        "one per core serves a class faster (README, Host it for a class)",
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
