"""A host's caps hold on a real server (`streamlit run app.py`, as the README starts it).

Each test starts its own server on a free loopback port with the caps it checks, and visits it
the way a browser does, without drawing: Streamlit's own protocol over its websocket (ask for a
page with its link; read every element until the script run ends), plus plain HTTP for the upload
endpoint. What is checked is what a hostile visitor tried:

- a file sent straight to the upload endpoint, over TL_MAX_UPLOAD_MB, is refused by the server;
- a run whose settings would train for half an hour is stopped at TL_MAX_RUN_SECONDS with a
  message saying why, and the worker slot it held goes to the next visitor;
- a training process killed (SIGKILL) in the middle of a run: the run is trained again in a new
  process and the page says so, the next run trains, nothing is left in the temporary folder.
"""

from __future__ import annotations

import asyncio
import http.client
import importlib.util
import os
import signal
import sys
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.slow  # each test starts an app server and trains in it
ROOT = Path(__file__).resolve().parent.parent
TIMEOUT_S = 300  # generous: a loaded 2-core machine; a passing test never waits this long


def load_test_module():
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def serve(tmp_path):
    """serve(**env) starts `streamlit run app.py` with these environment variables (caps), its
    temporary folder and disk cache in this test's own folders; stopped after the test."""
    servers = []

    def start(**env):
        scratch = tmp_path / "tmp"
        scratch.mkdir(exist_ok=True)
        env = {"TMPDIR": str(scratch), **{k: str(v) for k, v in env.items()}}
        servers.append(load_test_module().start_server(env, log=tmp_path / "streamlit.log"))
        servers[-1].scratch = scratch
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@dataclass
class Page:
    """What one visit's script run showed."""

    session_id: str = ""
    progress: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    headline: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def visit(url: str, page: str, query: dict, on_progress=None, page_out: Page | None = None) -> Page:
    """Open `page` with the link's `query` as a browser would; every element of the run.
    `on_progress(text)` hears each progress bar's text as it comes."""
    import websockets
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    shown = page_out or Page()
    started = time.perf_counter()
    async with websockets.connect(
        url.replace("http://", "ws://") + "/_stcore/stream",
        subprotocols=["streamlit"],
        max_size=None,
        origin=url,
    ) as socket:
        ask = BackMsg()
        ask.rerun_script.query_string = urlencode(query)
        ask.rerun_script.page_name = page
        await socket.send(ask.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(await asyncio.wait_for(socket.recv(), TIMEOUT_S))
            kind = message.WhichOneof("type")
            if kind == "new_session":
                shown.session_id = message.new_session.initialize.session_id
            if kind == "script_finished":
                break
            if kind != "delta" or message.delta.WhichOneof("type") != "new_element":
                continue
            element = message.delta.new_element
            what = element.WhichOneof("type")
            if what == "progress":
                shown.progress.append(element.progress.text)
                if on_progress:
                    on_progress(element.progress.text)
            elif what == "metric":
                shown.headline.append(element.metric.body)
            elif what == "exception":
                shown.errors.append(element.exception.message)
            elif what == "alert":
                by_format = {
                    Alert.ERROR: shown.errors,
                    Alert.WARNING: shown.warnings,
                    Alert.INFO: shown.infos,
                }
                by_format.get(element.alert.format, []).append(element.alert.body)
    shown.seconds = time.perf_counter() - started
    return shown


def run(coroutine):
    return asyncio.run(coroutine)


# ----------------------------------------------------------------------------------------------
# The upload cap


def put_upload(url: str, session_id: str, size: int) -> int:
    """PUT a file of `size` bytes straight to Streamlit's upload endpoint, with the XSRF cookie and
    header a browser sends; the HTTP status."""
    with urllib.request.urlopen(url + "/_stcore/health", timeout=60) as health:  # sets the cookie
        cookies = health.headers.get_all("Set-Cookie") or []
    [xsrf] = [c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf=")]
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + b"1" * size
        + f"\r\n--{boundary}--\r\n".encode()
    )
    host = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(host.hostname, host.port, timeout=120)
    connection.putrequest("PUT", f"/_stcore/upload_file/{session_id}/{uuid.uuid4().hex}")
    for name, value in {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(body)),
        "X-Xsrftoken": xsrf,
        "Cookie": f"_streamlit_xsrf={xsrf}",
    }.items():
        connection.putheader(name, value)
    connection.endheaders()
    try:
        connection.send(body)
    except (BrokenPipeError, ConnectionResetError):  # refused before the body was all sent
        pass
    try:
        return connection.getresponse().status
    finally:
        connection.close()


def test_an_upload_over_the_cap_sent_straight_to_the_endpoint_is_refused_by_the_server(serve):
    server = serve(TL_MAX_UPLOAD_MB=1)

    async def session_and_puts() -> list[int]:
        holder = Page()
        # The session stays open (its socket) while the files are sent, as a browser's does.
        import websockets
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        async with websockets.connect(
            server.url.replace("http://", "ws://") + "/_stcore/stream",
            subprotocols=["streamlit"],
            max_size=None,
            origin=server.url,
        ) as socket:
            ask = BackMsg()
            ask.rerun_script.page_name = "linear"
            await socket.send(ask.SerializeToString())
            while True:
                message = ForwardMsg()
                message.ParseFromString(await asyncio.wait_for(socket.recv(), TIMEOUT_S))
                if message.WhichOneof("type") == "new_session":
                    holder.session_id = message.new_session.initialize.session_id
                if message.WhichOneof("type") == "script_finished":
                    break
            statuses = [
                await asyncio.to_thread(put_upload, server.url, holder.session_id, size)
                for size in (1024 * 1024 // 2, 3 * 1024 * 1024)
            ]
        return statuses

    under, over = run(session_and_puts())
    assert under == 204, "a file under the cap is taken (so the refusal below is the cap's)"
    assert over == 413, "Streamlit's default (200 MB) would have taken 3 MB"


# ----------------------------------------------------------------------------------------------
# The time cap of one run

HALF_AN_HOUR = {
    "hidden": "128",
    "layers": "3",
    "cell": "lstm",
    "quality": "full",
    "epochs": "200",
    "n_target": "100",
}
QUICK_RNN = {"epochs": "3", "hidden": "16", "n_target": "3", "seed": "4242"}


def test_a_run_over_the_time_cap_is_stopped_with_a_message_and_its_slot_serves_the_next(serve):
    cap = 12
    server = serve(TL_MAX_JOBS=1, TL_TORCH_THREADS=1, TL_MAX_RUN_SECONDS=cap)

    async def two_visitors() -> tuple[Page, Page]:
        training = asyncio.Event()

        def started(text: str) -> None:
            training.set()

        heavy = asyncio.create_task(visit(server.url, "rnn", HALF_AN_HOUR, on_progress=started))
        await asyncio.wait_for(training.wait(), TIMEOUT_S)
        waiting = Page()
        quick = asyncio.create_task(
            visit(server.url, "cnn", {"epochs": "2", "seed": "4343"}, page_out=waiting)
        )
        return await heavy, await quick

    heavy, quick = run(two_visitors())
    assert not heavy.errors and not heavy.headline
    (stopped,) = [w for w in heavy.warnings if "TL\\_MAX\\_RUN\\_SECONDS" in w]
    assert f"at most {cap} s" in stopped and "epochs 200 \\(default" in stopped
    assert heavy.seconds < cap + 60, "stopped within an epoch of the cap (a loaded machine: slack)"
    assert any("Waiting for a free worker" in i for i in quick.infos), "the quick run waited for the slot"
    assert quick.headline and not quick.errors, "then trained in the slot the stopped run gave back"


# ----------------------------------------------------------------------------------------------
# A training process killed during a run


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux's /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="finds the training processes in /proc")
def test_a_training_process_killed_during_a_run_is_trained_again_and_the_next_run_trains(serve):
    # Two threads per run: the runs train in training processes (tl_core.engine.processes).
    server = serve(TL_MAX_JOBS=1, TL_TORCH_THREADS=2)
    killed = []

    def kill_the_workers(text: str) -> None:
        if killed or "source" in text or text.endswith(("starting", "done")):
            return  # the source model trains in the server; its targets in the processes
        for pid in children(server.process.pid):
            if b"tl_core.engine.processes" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)  # the busy ones among them
                killed.append(pid)

    first = run(visit(server.url, "rnn", {**QUICK_RNN, "epochs": "150"}, on_progress=kill_the_workers))
    assert len(killed) == 2, "the two training processes were killed while the run trained"
    assert not first.errors and first.headline, "the run was trained again: the page has its results"
    assert any("again: the training process stopped unexpectedly" in p for p in first.progress)
    second = run(visit(server.url, "rnn", {**QUICK_RNN, "seed": "4244"}))
    assert second.headline and not second.errors, "the next run trains"
    assert not any("Waiting for a free worker" in i for i in second.infos), "no slot stayed taken"
    assert server.healthy()
    assert list(server.scratch.glob("pymp-*")) == [], "the killed process left no folder behind"
