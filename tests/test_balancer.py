"""The balancer of `transfer-lab app --replicas N`: each browser stays on one app server.

Against small stand-in servers on loopback ports (each answers which one it is, then echoes
every byte it gets, as a websocket after its upgrade carries any bytes): a new session gets the
cookie of the server it reached, and the page's other requests set none and are not kept alive
(a later request of the browser, with its cookie, must not reuse a connection dealt to another
server); a browser with the cookie always reaches that server; new sessions go to the server
with the fewest, even when they arrive together; bytes pass unchanged both ways; a server that
is down is passed over; a head too large is refused. tests/test_load.py runs real browsers
through it against the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tl_app import launch
from tl_app.balancer import COOKIE, MAX_HEAD, Balancer, closing, opens_session, replica_named, with_cookie


def head(*headers: str, path: str = "/") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: lab\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n").encode()


def session(*headers: str) -> bytes:
    """The head of a websocket's handshake, as a browser opens Streamlit's session."""
    return head("Upgrade: websocket", "Connection: Upgrade", *headers, path="/_stcore/stream")


# ------------------------------------------------------------------------- the request's head
def test_the_cookie_names_the_replica_among_other_cookies():
    request = head(f"Cookie: _streamlit_xsrf=2|ab|cd; {COOKIE}=1; theme=dark")
    assert replica_named(request, 2) == 1
    assert replica_named(head(f"cookie: {COOKIE}=0"), 2) == 0  # header names ignore case


@pytest.mark.parametrize(
    "cookie",
    [None, f"{COOKIE}=2", f"{COOKIE}=-1", f"{COOKIE}=abc", f"{COOKIE}=", "other=1", '"broken'],
)
def test_no_cookie_or_one_naming_no_replica_names_none(cookie):
    """A browser from before a restart with fewer replicas, or a hand-made cookie, is a new one."""
    request = head(f"Cookie: {cookie}") if cookie else head()
    assert replica_named(request, 2) is None


def test_a_websocket_handshake_opens_a_session_and_nothing_else_does():
    assert opens_session(session()) and opens_session(head("upgrade:  WebSocket"))
    assert not opens_session(head()) and not opens_session(head("X-Upgrade: websocket"))


def test_the_first_response_gains_the_cookie_before_its_blank_line():
    response = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"
    changed = with_cookie(response, 1)
    assert changed.startswith(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n")
    assert changed.endswith(f"Set-Cookie: {COOKIE}=1; Path=/; HttpOnly; SameSite=Lax\r\n\r\n".encode())


def test_a_response_not_to_be_reused_says_connection_close_once():
    for response in (
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\ncontent-length: 2\r\n\r\n",
    ):
        assert closing(response) == b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nConnection: close\r\n\r\n"


# ------------------------------------------------------------------- through stand-in servers
async def stand_in(index: int) -> asyncio.Server:
    """A server that answers a request's head with its index, then echoes every byte."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(f"HTTP/1.1 200 OK\r\nX-Replica: {index}\r\n\r\n".encode())
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", 0)


class Connection:
    """A browser's connection through the balancer: its response head, and the echoed bytes."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes):
        self.reader, self.writer, self.response = reader, writer, response

    @property
    def replica(self) -> int:
        line = next(x for x in self.response.split(b"\r\n") if x.startswith(b"X-Replica"))
        return int(line.split(b":")[1])

    @property
    def kept_alive(self) -> bool:
        """Whether the browser may send its later requests on this connection."""
        return b"Connection: close" not in self.response.split(b"\r\n")

    @property
    def cookie(self) -> bytes | None:
        lines = [x for x in self.response.split(b"\r\n") if x.startswith(b"Set-Cookie")]
        return lines[0] if lines else None

    def close(self) -> None:
        self.writer.close()


async def connect(port: int, request: bytes) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    return Connection(reader, writer, await reader.readuntil(b"\r\n\r\n"))


def through_balancer(test, backends: int = 2, down: bool = False) -> None:
    """Run `test(port)` against a balancer on a free port in front of `backends` stand-ins (the
    last one's port closed again with `down`)."""

    async def main() -> None:
        servers = [await stand_in(i) for i in range(backends)]
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        if down:
            servers[-1].close()
            await servers[-1].wait_closed()
        balancer = Balancer([("127.0.0.1", p) for p in ports])
        listening = await asyncio.start_server(balancer.handle, "127.0.0.1", 0, limit=MAX_HEAD)
        try:
            await asyncio.wait_for(test(listening.sockets[0].getsockname()[1]), 30)
        finally:
            listening.close()
            for s in servers:
                s.close()

    asyncio.run(main())


def test_a_new_session_gets_the_cookie_of_its_replica_and_the_browser_keeps_reaching_it():
    async def test(port: int) -> None:
        first = await connect(port, session())
        assert (
            first.cookie == f"Set-Cookie: {COOKIE}={first.replica}; Path=/; HttpOnly; SameSite=Lax".encode()
        )
        held = [first]
        for request in (session, head) * 2:  # however busy its replica, the browser reaches it
            again = await connect(port, request(f"Cookie: {COOKIE}={first.replica}"))
            assert again.replica == first.replica and again.cookie is None
            held.append(again)
        for connection in held:
            connection.close()

    through_balancer(test)


def test_the_pages_other_requests_set_no_cookie():
    """The HTML, scripts and styles are the same on every replica: a browser's cookie is set once,
    by its session, not overwritten by whichever replica served a script."""

    async def test(port: int) -> None:
        for _ in range(3):
            page = await connect(port, head())
            assert page.cookie is None
            page.close()

    through_balancer(test)


def test_only_a_connection_to_the_browsers_own_replica_is_kept_alive():
    """A browser reuses a kept-alive connection for its later requests, whatever their cookie.
    One dealt to any replica (the page's first requests) must be closed after its answer, or
    the browser's download, asked for by its session, may reach another replica (a 404)."""

    async def test(port: int) -> None:
        script = await connect(port, head())
        new_session = await connect(port, session())
        named = f"Cookie: {COOKIE}={new_session.replica}"
        download, again = await connect(port, head(named)), await connect(port, session(named))
        assert not script.kept_alive
        assert new_session.kept_alive and download.kept_alive and again.kept_alive
        for connection in (script, new_session, download, again):
            connection.close()

    through_balancer(test)


def test_new_sessions_go_to_the_replica_with_the_fewest_sessions():
    async def test(port: int) -> None:
        first = await connect(port, session())
        second = await connect(port, session())  # the first session is still open
        assert {first.replica, second.replica} == {0, 1}
        scripts = [await connect(port, head()) for _ in range(3)]  # requests, not sessions
        second.close()
        await asyncio.sleep(0.2)  # the balancer sees it closed: its replica has no session now
        third = await connect(port, session())
        assert third.replica == second.replica, "the replica with no session"
        for connection in (first, third, *scripts):
            connection.close()

    through_balancer(test)


def test_sessions_arriving_together_spread_over_the_replicas():
    """A class pressing at once: each session counts from the moment its replica is chosen."""

    async def test(port: int) -> None:
        connections = await asyncio.gather(*(connect(port, session()) for _ in range(8)))
        assert sorted(c.replica for c in connections) == [0] * 4 + [1] * 4
        for connection in connections:
            connection.close()

    through_balancer(test)


def test_bytes_pass_both_ways_unchanged_after_the_head():
    payload = bytes(range(256)) * 8192  # 2 MB of every byte value, as a websocket's frames

    async def test(port: int) -> None:
        connection = await connect(port, session())
        connection.writer.write(payload)
        echoed = await connection.reader.readexactly(len(payload))
        assert echoed == payload
        connection.close()

    through_balancer(test)


def test_a_replica_that_is_down_is_passed_over_and_its_browsers_move():
    """A stopped replica has no open connections, the fewest: it must not draw every new
    browser; one whose cookie names it moves to another replica, with that one's cookie."""

    async def test(port: int) -> None:
        for _ in range(3):
            moved = await connect(port, session(f"Cookie: {COOKIE}=1"))  # replica 1 is down
            assert moved.replica == 0 and moved.cookie.startswith(f"Set-Cookie: {COOKIE}=0;".encode())
            new = await connect(port, session())
            assert new.replica == 0
            script = await connect(port, head(f"Cookie: {COOKIE}=1"))
            assert script.replica == 0 and script.cookie is None and not script.kept_alive
            for connection in (moved, new, script):
                connection.close()

    through_balancer(test, down=True)


def test_with_every_replica_down_a_browser_is_answered_502():
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head())
        assert (await reader.read()).startswith(b"HTTP/1.1 502 Bad Gateway")
        writer.close()

    through_balancer(test, backends=1, down=True)


def test_a_request_head_over_the_limit_is_refused():
    async def test(port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head("X-Padding: " + "a" * MAX_HEAD))
        assert (await reader.read()).startswith(b"HTTP/1.1 431")
        writer.close()

    through_balancer(test)


# ------------------------------------------------------------------------------ the command
def test_the_public_port_and_address_are_taken_from_streamlits_options():
    options = ["--server.port", "8600", "--theme.base=dark", "--server.address=0.0.0.0", "--server.port=8700"]
    port, rest = launch.take_option(options, "server.port")
    address, rest = launch.take_option(rest, "server.address")
    assert (port, address, rest) == ("8700", "0.0.0.0", ["--theme.base=dark"])  # the last one wins


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--replicas", "0"], "--replicas must be at least 1, got 0"),
        (
            ["--replicas", "2", "--server.port", "http"],
            "--server.port must be a whole number from 1 to 65535, got 'http'",
        ),
        (
            ["--replicas", "2", "--server.port=70000"],
            "--server.port must be a whole number from 1 to 65535, got '70000'",
        ),
    ],
)
def test_settings_that_cannot_serve_are_refused_with_a_message_before_anything_starts(
    options, message, capsys
):
    assert launch.main(["app", *options]) == 2
    assert message in capsys.readouterr().err


class Ended:
    """A stand-in for an app server's process that has already ended."""

    returncode = 1

    def poll(self) -> int:
        return self.returncode

    def terminate(self) -> None: ...

    def wait(self, timeout: float) -> int:
        return self.returncode


@pytest.mark.parametrize(("cores", "replicas", "threads"), [(2, 2, 1), (2, 3, 1), (8, 2, 4), (2, 1, 2)])
def test_each_replica_trains_on_its_share_of_the_cores_unless_the_host_says(
    monkeypatch, cores, replicas, threads
):
    """Replicas taking every core each would start that many training processes (half a
    gigabyte each) fighting over the cores; a host's TL_TORCH_THREADS is kept."""
    monkeypatch.setattr(launch.os, "cpu_count", lambda: cores)
    monkeypatch.delenv("TL_TORCH_THREADS", raising=False)
    environments = []

    def popen(command, env, **kwargs):
        environments.append(env)
        return Ended()

    monkeypatch.setattr(launch.subprocess, "Popen", popen)
    monkeypatch.setattr(launch.signal, "signal", lambda *args: None)  # this process's own SIGTERM
    for host_sets in (None, "3"):
        if host_sets:
            monkeypatch.setenv("TL_TORCH_THREADS", host_sets)
        environments.clear()
        with pytest.raises(SystemExit, match="ended with status 1"):
            launch.serve_replicas(replicas, ["--server.port", str(launch.free_port())])
        assert {env["TL_TORCH_THREADS"] for env in environments} == {host_sets or str(threads)}


@pytest.mark.parametrize(("gib", "switch"), [(8, "1"), (4, "0")])
def test_replicas_train_in_processes_only_where_the_memory_holds_them_all(monkeypatch, gib, switch):
    """Two replicas on two cores, one training process each: 2 x (2 + 0.5) GiB. Each replica alone
    would count the whole machine's memory as its own; the launcher counts for all. A host's
    TL_TRAIN_IN_PROCESSES is kept."""
    monkeypatch.setattr(launch.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(launch, "memory_bytes", lambda: gib * 2**30)
    monkeypatch.setenv("TL_MAX_JOBS", "1")
    monkeypatch.delenv("TL_TORCH_THREADS", raising=False)
    monkeypatch.setattr(launch.signal, "signal", lambda *args: None)  # this process's own SIGTERM
    environments = []

    def popen(command, env, **kwargs):
        environments.append(env)
        return Ended()

    monkeypatch.setattr(launch.subprocess, "Popen", popen)
    for host_sets in (None, "1"):
        if host_sets:
            monkeypatch.setenv("TL_TRAIN_IN_PROCESSES", host_sets)
        else:
            monkeypatch.delenv("TL_TRAIN_IN_PROCESSES", raising=False)
        environments.clear()
        with pytest.raises(SystemExit, match="ended with status 1"):
            launch.serve_replicas(2, ["--server.port", str(launch.free_port())])
        assert {env["TL_TRAIN_IN_PROCESSES"] for env in environments} == {host_sets or switch}


class Running(Ended):
    """A stand-in for an app server's process that is running."""

    returncode = None


def test_an_app_server_that_ends_is_started_again_on_its_port_and_the_others_are_left(monkeypatch, capsys):
    """Out of memory, say: its browsers go to the other replicas meanwhile (the balancer passes
    over a port that refuses), and come back to it by their cookie once it runs again."""
    started = []

    def popen(command, **kwargs):
        started.append((command, kwargs))
        return Running()

    clock = [100.0]
    monkeypatch.setattr(launch.subprocess, "Popen", popen)
    monkeypatch.setattr(launch.time, "monotonic", lambda: clock[0])
    replicas = launch.Replicas([9001, 9002], ["--server.maxUploadSize=5"], {"A": "1"})
    replicas.start()
    assert replicas.restart_ended() == []  # both running
    replicas.processes[1] = Ended()
    clock[0] += launch.RESTART_PAUSE_S / 2
    assert replicas.restart_ended() == []  # it started moments ago: it is not retried in a loop
    clock[0] += launch.RESTART_PAUSE_S
    assert replicas.restart_ended() == [1]
    assert "the app server on port 9002 ended with status 1; starting it again" in capsys.readouterr().err
    command, kwargs = started[-1]
    assert len(started) == 3 and isinstance(replicas.processes[1], Running)
    assert "--server.port=9002" in command and "--server.maxUploadSize=5" in command
    assert kwargs["env"] == {"A": "1"}
    if sys.platform == "linux":
        assert kwargs["preexec_fn"] is launch._end_with_launcher


def test_an_app_server_that_cannot_be_started_again_is_said_and_retried_later(monkeypatch, capsys):
    """No more processes allowed, say: the launcher keeps serving with the others."""
    clock = [100.0]
    monkeypatch.setattr(launch.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(launch.subprocess, "Popen", lambda command, **kwargs: Running())
    replicas = launch.Replicas([9001, 9002], [], {})
    replicas.start()
    replicas.processes[0] = Ended()

    def refused(command, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(launch.subprocess, "Popen", refused)
    clock[0] += launch.RESTART_PAUSE_S
    assert replicas.restart_ended() == [0]
    assert "could not be started: [Errno 11] Resource temporarily unavailable" in capsys.readouterr().err
    assert replicas.restart_ended() == []  # not again at once
    clock[0] += launch.RESTART_PAUSE_S
    assert replicas.restart_ended() == [0]  # but later


@pytest.mark.skipif(sys.platform != "linux", reason="prctl(PR_SET_PDEATHSIG) is Linux's")
def test_an_app_server_ends_when_its_launcher_is_killed():
    """SIGKILL gives the launcher no chance to stop its servers: the kernel does, so that none is
    left holding its port and memory."""
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; from tl_app import launch; "
            "server = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'], "
            "preexec_fn=launch._end_with_launcher); print(server.pid, flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    server = int(launcher.stdout.readline())
    launcher.kill()
    launcher.wait()
    deadline = time.monotonic() + 20
    while _running(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(server)


def _running(pid: int) -> bool:
    """Whether process `pid` exists and has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
