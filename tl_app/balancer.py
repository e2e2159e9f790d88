"""One public port in front of several app servers on this machine, each browser kept on one.

Why: a Streamlit server runs every session's script in threads of one Python process, so it
uses one core however many the machine has (README, "What one 2-core server holds"). More
processes ("replicas") on the same machine use more cores. But a session lives in one process:
its websocket, and the files its page links to (images, downloads), are in that process's
memory. So every request of one browser must reach the same replica.

How: the balancer passes each TCP connection through, byte for byte, to one replica (a
websocket after its upgrade is just more bytes, compressed or not). It reads only the head of
the connection's first request. A request whose `tl_replica` cookie names a replica goes there.
A websocket without it (a new session) goes to the replica with the fewest sessions open, and
its handshake's answer sets the cookie: every later request of that browser (its downloads, its
images, a reconnection) reaches the same replica. Other requests without it (the page's HTML,
scripts and styles, the same on every replica) go to the least busy one and set nothing, so a
browser's cookie is set once, by its session. Their answer says `Connection: close`: a browser
reuses a kept-alive connection for later requests, and a later request of this browser (its
download, with the cookie) would pass through to the replica this one was dealt, not to its
session's. (A browser that refuses cookies keeps its
websocket on one replica, but its downloads may miss.) A replica that refuses connections (it
has stopped) is passed over: its browsers move to another one, with a fresh session that their
link restores.

Replicas share the disk cache (results, drawn charts, source models) through `TL_CACHE_DIR`,
and one cookie secret, so that Streamlit's XSRF cookie set by any replica is good on all.

    transfer-lab app --replicas 2 --server.port 8501    # two replicas behind port 8501
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.cookies
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

COOKIE = "tl_replica"
HEAD_END = b"\r\n\r\n"
MAX_HEAD = 64 * 1024  # bytes of a request's head; a larger one is refused
CHUNK = 256 * 1024


def _header(line: bytes) -> tuple[bytes, bytes]:
    """(name in lower case, value) of a header line."""
    name, _, value = line.partition(b":")
    return name.strip().lower(), value.strip()


def _headers(head: bytes):
    """(name in lower case, value) of each header line of a request head."""
    return (_header(line) for line in head.split(b"\r\n")[1:])


def replica_named(head: bytes, replicas: int) -> int | None:
    """The replica the request head's `tl_replica` cookie names, if it is one of `replicas`."""
    for name, value in _headers(head):
        if name != b"cookie":
            continue
        cookies = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):
            cookies.load(value.decode("latin-1"))
        if COOKIE in cookies and cookies[COOKIE].value.isdigit():
            index = int(cookies[COOKIE].value)
            return index if index < replicas else None
    return None


def with_cookie(head: bytes, replica: int) -> bytes:
    """A response head (ending in a blank line) with the cookie that keeps the browser on `replica`."""
    cookie = f"Set-Cookie: {COOKIE}={replica}; Path=/; HttpOnly; SameSite=Lax\r\n".encode()
    return head[: -len(b"\r\n")] + cookie + b"\r\n"


def closing(head: bytes) -> bytes:
    """A response head (ending in a blank line) that tells the browser not to reuse its connection:
    any `Connection` header it had is replaced by `Connection: close`."""
    lines = head[: -len(HEAD_END)].split(b"\r\n")
    kept = [lines[0], *(x for x in lines[1:] if _header(x)[0] != b"connection")]
    return b"\r\n".join([*kept, b"Connection: close"]) + HEAD_END


def opens_session(head: bytes) -> bool:
    """Whether the request asks for a websocket: a Streamlit session, which lives on its replica."""
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in _headers(head))


@dataclass
class Balancer:
    """Connections from browsers, passed through to `backends` ((host, port) of each replica)."""

    backends: list[tuple[str, int]]
    sessions: list[int] = field(init=False)  # websockets open to each replica

    def __post_init__(self) -> None:
        self.sessions = [0] * len(self.backends)

    def candidates(self, named: int | None) -> list[int]:
        """The replicas to try, in order, for a browser whose cookie names replica `named`
        (None: no cookie): that one, then the others, those with the fewest sessions first (a
        tie goes to the first)."""
        others = sorted((i for i in range(len(self.backends)) if i != named), key=self.sessions.__getitem__)
        return [named, *others] if named is not None else others

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(HEAD_END)
        except asyncio.LimitOverrunError:
            await _refuse(writer, b"431 Request Header Fields Too Large")
            return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        named, session = replica_named(head, len(self.backends)), opens_session(head)
        connected = await self.connect(named, session)
        if connected is None:
            await _refuse(writer, b"502 Bad Gateway")
            return
        replica, upstream_reader, upstream_writer = connected
        try:
            upstream_writer.write(head)
            await asyncio.gather(
                _pipe(reader, upstream_writer, half_close=True),
                _pipe(upstream_reader, writer, edit_head=_answer_edit(session, named, replica)),
            )
        finally:
            if session:
                self.sessions[replica] -= 1
            upstream_writer.close()

    async def connect(self, named: int | None, session: bool):
        """(replica, reader, writer) of a connection to the first replica that takes it, in the
        order of `candidates`; None if none does. A session counts from the moment its replica
        is chosen, so that sessions arriving together spread out."""
        for replica in self.candidates(named):
            self.sessions[replica] += session
            try:
                return (replica, *await asyncio.open_connection(*self.backends[replica]))
            except OSError:  # that replica has stopped: the next one
                self.sessions[replica] -= session
        return None

    async def serve(self, listener: socket.socket) -> None:
        """Serve the connections of a listening socket until cancelled."""
        server = await asyncio.start_server(self.handle, sock=listener, limit=MAX_HEAD)
        async with server:
            await server.serve_forever()


def _answer_edit(session: bool, named: int | None, replica: int) -> Callable[[bytes], bytes] | None:
    """How the first response head of a connection to `replica` changes, if it does."""
    if replica == named:  # the browser's own replica: every request may follow on this connection
        return None
    if session:  # a new session, or one whose replica went away: the answer sets the cookie
        return functools.partial(with_cookie, replica=replica)
    return closing  # dealt to any replica: not to be reused by the browser's later requests


async def _pipe(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    edit_head: Callable[[bytes], bytes] | None = None,
    half_close: bool = False,
) -> None:
    """Copy bytes until the reader's end; then close the writer, or with `half_close` only
    its sending side (the browser has sent all; the replica may still answer). With `edit_head`,
    the first response head is passed through it."""
    try:
        if edit_head is not None:
            writer.write(edit_head(await reader.readuntil(HEAD_END)))
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        half_close = False  # the other side went away: nothing more will pass
    finally:
        with contextlib.suppress(ConnectionError, RuntimeError, OSError):
            if half_close and writer.can_write_eof():
                writer.write_eof()
            else:
                writer.close()


async def _refuse(writer: asyncio.StreamWriter, status: bytes) -> None:
    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()
