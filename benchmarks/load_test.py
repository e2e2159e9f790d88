"""Load test: N browser sessions open the app at once, each running its own experiment.

    python benchmarks/load_test.py                      # 10 pages at once on a fresh server
    python benchmarks/load_test.py --pages 4 --jobs 1   # TL_MAX_JOBS=1 on the server
    python benchmarks/load_test.py --train-in-processes 0  # TL_TRAIN_IN_PROCESSES=0 on the server
    python benchmarks/load_test.py --series 2,4,6,10    # a fresh server for each N; a summary table
    python benchmarks/load_test.py --warm               # source models trained before the clock starts
    python benchmarks/load_test.py --client socket      # no browser: the server's own share
    python benchmarks/load_test.py --plan lecture --prepared DIR --client socket --pages 40
                                                        # a class on the lecture path, prepared
    python benchmarks/load_test.py ... --replicas 2     # `transfer-lab app --replicas 2`: two
                                                        # servers behind the app's own balancer

Starts `streamlit run app.py` headless on a free localhost port, opens N pages in headless Chromium
at once (each its own browser context, so its own Streamlit session), each page a different demo
config given by its link: the four demos in turn, default settings with their own seed, gap and
number of target labels: off the lecture grid, so each trains (`--plan off-grid`, the default).
`--plan lecture` follows the lecture path instead: each page is a setting of the lecture grid
(tl_core.lecture: a scenario's defaults, or one main control moved to a stop of its slider),
which `transfer-lab prepare` has computed and drawn into the server's store of results (`--prepared
DIR`, the server's TL_CACHE_DIR; without it, this script prepares a new folder first and prints
how long that took). Prints:
- completion: pages whose charts and headline arrived with no error;
- time to charts: from opening the link to the page's run finished with its headline numbers and
  charts on screen (p50, p95 by linear interpolation between ranks, max; and per demo);
- the peak resident memory (VmHWM in /proc/<pid>/status) and the CPU time of the server and its
  training processes together; the peak sums the pages every process shares (torch's libraries)
  once per process, so the memory in use at the end is printed too with shared pages counted
  once (Pss in /proc/<pid>/smaps_rollup);
- no cross-talk: each page's exported results (its "Results as JSON" download: every strategy's
  source and target metric and loss, and the config) agree with `tl_core.run` for the same config
  in this process, computed afresh (not read from the store), with the server's CPU thread count
  (to rounding: a stored result was trained batched); and its headline numbers equal the reference's.

Chromium runs at a lower CPU priority (nice 10) than the server, as a class's browsers would run on
their own machines; `--no-nice` measures them competing as equals. On a small machine the browsers
themselves can take most of the time (Streamlit's page and every chart are drawn by each of them),
so `--client socket` replaces them by Streamlit's own protocol over the websocket: the same
requests, the same work on the server, nothing drawn. That is the figure that sizes a server. The
machine's other load (other users of a shared box) is not controlled: repeat a run before trusting
a figure.

Needs Debian's Chromium at /usr/bin/chromium and Playwright's Python package (never downloads a
browser). Only loopback addresses are used. tests/test_load.py runs a 4-page version as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tl_core  # noqa: E402
from tl_app import balancer  # noqa: E402
from tl_app.launch import free_port, replica_threads, replicas_train_in_processes  # noqa: E402
from tl_core import narrate  # noqa: E402
from tl_core.limits import Limits  # noqa: E402
from tl_core.result import RunResult  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEMO_ORDER = ("linear", "logistic", "cnn", "rnn")
NUMBERS = ("source_metric", "target_metric", "source_loss", "target_loss")
# Small settings for a quick correctness run (tests/test_load.py): short training on torch demos.
CHEAP = {"epochs": 3, "source_epochs": 2, "n_source": 500, "hidden": 16}

# The page is done: app.py's last line drawn, the run finished, headline numbers and charts there;
# or it failed (an exception element, or app.py's error message).
DONE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const failed = document.querySelector('[data-testid="stException"], [data-testid="stAlertContentError"]');
  const idle = app && app.getAttribute('data-test-script-state') === 'notRunning';
  const framed = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
                 .some(c => c.innerText.includes('Computing on'));
  const ready = document.querySelectorAll('[data-testid="stMetricValue"]').length > 0
                && document.querySelectorAll('.js-plotly-plot').length >= 2;
  return idle && framed && (ready || failed !== null);
}"""


WAITING = "Waiting for a free worker"


@dataclass
class Visit:
    demo: str
    fields: dict[str, Any]

    def query(self) -> str:
        from tl_app.controls import to_text  # the app's own way of writing a value in a link

        return urlencode({k: to_text(v) for k, v in self.fields.items()}, safe=",")

    def label(self) -> str:
        return f"{self.demo}(" + ", ".join(f"{k}={v}" for k, v in self.fields.items() if k not in CHEAP) + ")"


@dataclass
class Outcome:
    visit: Visit
    seconds: float = math.nan
    completed: bool = False
    error: str = ""
    headline: list[str] = field(default_factory=list)
    exported: RunResult | None = None
    same_numbers: bool | None = None
    why_not: str = ""
    replica: int | None = None  # behind the app's balancer: the app server that served it


def replica_of(cookies: dict[str, str]) -> int | None:
    """The app server the balancer's cookie names (None: no balancer)."""
    value = cookies.get(balancer.COOKIE)
    return int(value) if value is not None else None


# ----------------------------------------------------------------------------------------------
# What each page runs


def plan(pages: int, cheap: bool = False, demos: tuple[str, ...] = DEMO_ORDER) -> list[Visit]:
    """`pages` different experiments: the demos in turn, each near its defaults (own seed, gap and
    number of target labels), all valid."""
    demos = [d for d in demos if d in tl_core.available_demos()]
    visits = []
    for i in range(pages):
        demo, round_ = demos[i % len(demos)], i // len(demos)
        Config = tl_core.get_demo(demo).Config
        gap, n_target = Config.field("gap"), Config.field("n_target")
        fields = {
            "seed": 100 + i,
            "gap": round(min(gap.high, max(gap.low, gap.default + 0.05 * (round_ % 3 - 1))), 4),
            "n_target": min(n_target.high, n_target.default + round_),
        }
        if cheap:
            fields.update({k: v for k, v in CHEAP.items() if k in Config.field_names()})
        Config.from_dict(fields)  # a valid experiment, or a clear error here
        visits.append(Visit(demo, fields))
    return visits


def lecture_plan(pages: int, demos: tuple[str, ...] = DEMO_ORDER, per_setting: int = 1) -> list[Visit]:
    """`pages` settings of the lecture grid, as a class following a lecture opens them: the
    demos in turn, each through its grid (defaults first, then one control moved at a time),
    each setting opened by `per_setting` students at once (a class moves together)."""
    from tl_core import lecture

    demos = tuple(d for d in demos if d in tl_core.available_demos())
    grids = {d: lecture.grid(tl_core.get_demo(d)).runs for d in demos}
    visits = []
    for i in range(pages):
        demo = demos[i % len(demos)]
        step = i // (len(demos) * per_setting)
        config = grids[demo][step % len(grids[demo])]
        default = type(config)()
        fields = {k: v for k, v in config.to_dict().items() if v != default.to_dict()[k]}
        visits.append(Visit(demo, {**fields, "seed": config.seed}))
    return visits


def not_prepared(visits: list[Visit], folder: Path) -> list[Visit]:
    """The visits whose results the store in `folder` lacks: prepared before tl_core changed
    (results are keyed by the code), or for other demos. Their pages would train, and the
    figures would not be the lecture path's."""
    from tl_core import diskcache, store

    with mock.patch.dict(os.environ, {diskcache.ENV: str(folder), store.ENV: "on"}):
        return [v for v in visits if store.stored_run(tl_core.make_config(v.demo, **v.fields)) is None]


def prepare(folder: Path, demos: tuple[str, ...]) -> float:
    """`transfer-lab prepare` of `demos` into `folder` (results and charts), as a host runs it;
    its seconds."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tl_app.launch", "prepare", "--demos", ",".join(demos)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "TL_CACHE_DIR": str(folder), "TL_RESULT_STORE": "on"},
    )
    return time.perf_counter() - started


def reference(visit: Visit) -> RunResult:
    """The single-session numbers: `tl_core.run` in this process, nothing else running,
    computed afresh (a result read from the store would be compared with itself)."""
    return tl_core.run(visit.demo, use_store=False, **visit.fields)


# A result from the store was trained batched with others (prepare), the reference alone: their
# kernels round differently in the last digits, while another session's numbers differ by far more.
AGREE_REL = 1e-5


def compare(outcome: Outcome, ref: RunResult) -> tuple[bool, str]:
    """Whether the page's exported result and headline agree with the reference (to rounding,
    AGREE_REL); why not if not."""
    got = outcome.exported
    if got is None:
        return False, f"no exported result ({outcome.error or 'no download'})"
    for name, value in outcome.visit.fields.items():
        if got.config.get(name) != value:
            return False, f"the page ran {name}={got.config.get(name)!r}, not {value!r}"
    if got.names() != ref.names():
        return False, f"strategies {got.names()} != {ref.names()}"
    for mine, theirs in zip(got.strategies, ref.strategies):
        for number in NUMBERS:
            a, b = getattr(mine, number), getattr(theirs, number)
            if not math.isclose(a, b, rel_tol=AGREE_REL, abs_tol=AGREE_REL):
                return False, f"{mine.strategy} {number}: page {a!r}, tl_core.run {b!r}"
    expected = expected_headline(ref)
    if outcome.headline != expected:
        return False, f"headline {outcome.headline} != {expected}"
    return True, ""


def expected_headline(ref: RunResult) -> list[str]:
    """The st.metric values the page shows for this result (see tl_app.demo_page.headline)."""
    metric, best = ref.metric_name, narrate.best_transfer(ref)
    if best is None:
        return [narrate.fmt(ref.strategy("scratch").target_metric, metric)]
    chosen = ref.strategy(best)
    return [narrate.fmt(chosen.target_metric, metric), narrate.fmt(chosen.source_metric, metric)]


# ----------------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    log: Path  # with replicas, `process` is the launcher; the app servers are its children

    def pids(self) -> list[int]:
        """The server's processes: the app server (or the balancer and its app servers) and
        the training processes each app server starts."""
        pids, i = [self.process.pid], 0
        while i < len(pids):
            with contextlib.suppress(OSError):  # a process that has just ended
                children = Path(f"/proc/{pids[i]}/task/{pids[i]}/children").read_text().split()
                pids.extend(map(int, children))
            i += 1
        return pids

    def status(self, key: str, file: str = "status") -> int:
        """A memory figure of the server's processes together in kB, from /proc/<pid>/`file`
        (status: VmHWM, peak resident; VmRSS, now. smaps_rollup: Pss, now, a page that several
        processes share split between them, so that the sum counts it once)."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):  # a process that has just ended
                total += _status(pid, key, file)
        return total

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server's processes so far."""
        total = 0
        for pid in self.pids():
            with contextlib.suppress(OSError):  # a process that has just ended
                parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(parts[11]) + int(parts[12])
        return total / os.sysconf("SC_CLK_TCK")

    def healthy(self) -> bool:
        try:
            return urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5).read() == b"ok"
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _status(pid: int, key: str, file: str = "status") -> int:
    for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def start_server(env: dict[str, str] | None = None, log: Path | None = None, replicas: int = 1) -> Server:
    """`streamlit run app.py` headless on a free loopback port, as a host starts it; with
    `replicas` > 1, `transfer-lab app --replicas N` (N app servers behind the app's balancer)."""
    port = free_port()
    log = log or ROOT / "artifacts" / "load_test_streamlit.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    run = (
        ["streamlit", "run", "app.py"]
        if replicas == 1
        else ["tl_app.launch", "app", f"--replicas={replicas}"]
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *run,
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
            "--server.fileWatcherType",
            "none",
        ],
        cwd=ROOT,
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 120
    while not server.healthy():
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"streamlit did not start; see {log}")
        time.sleep(0.3)
    return server


# ----------------------------------------------------------------------------------------------
# The browsers


async def open_page(
    browser,
    url: str,
    visit: Visit,
    timeout_s: float,
    screenshots: Path | None,
    name: str,
    replica: int | None = None,
) -> Outcome:
    """One student: open the link, wait for the charts, read the headline, download the JSON.
    `replica`: the app server the balancer is to send this browser to (its cookie)."""
    outcome = Outcome(visit)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    if replica is not None:
        await context.add_cookies([{"name": balancer.COOKIE, "value": str(replica), "url": url}])
    page = await context.new_page()
    try:
        started = time.perf_counter()
        await page.goto(f"{url}/{visit.demo}?{visit.query()}", timeout=timeout_s * 1000)
        if screenshots:  # what a student sees while queued for a worker (if ever)
            await page.wait_for_function(
                f"() => document.body.innerText.includes({WAITING!r}) || ({DONE_JS})()",
                polling=100,
                timeout=timeout_s * 1000,
            )
            await page.screenshot(path=str(screenshots / f"{name}_busy.png"))
        await page.wait_for_function(DONE_JS, polling=100, timeout=timeout_s * 1000)
        outcome.seconds = time.perf_counter() - started
        failed = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
        if await failed.count():
            outcome.error = (await failed.first.inner_text())[:300]
            return outcome
        outcome.completed = True
        await page.get_by_text("Export", exact=True).click()
        async with page.expect_download(timeout=timeout_s * 1000) as download:
            await page.get_by_role("button", name="Results as JSON").click()
        path = await (await download.value).path()
        outcome.exported = RunResult.from_json(Path(path).read_text())
        outcome.headline = [
            t.strip()
            for t in await page.locator(  # read once the page has settled
                '[data-testid="stMetricValue"]'
            ).all_inner_texts()
        ]
        outcome.replica = replica_of({c["name"]: c["value"] for c in await context.cookies()})
        if screenshots:
            await page.screenshot(path=str(screenshots / f"{name}_done.png"))
    except Exception as error:  # a timeout or a closed page: this student did not get a result
        outcome.error = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
    finally:
        await context.close()
    return outcome


def niced_chromium(folder: str) -> str:
    """A launcher in `folder` that starts Chromium at nice 10: it yields the CPU to the server."""
    launcher = Path(folder) / "chromium"
    launcher.write_text(f'#!/bin/sh\nexec nice -n 10 {CHROMIUM} "$@"\n')
    launcher.chmod(0o700)
    return str(launcher)


async def open_all(
    url: str,
    visits: list[Visit],
    timeout_s: float,
    screenshots: Path | None,
    nice: bool,
    replica: int | None = None,
) -> list[Outcome]:
    """Every visit at once in Chromium (on app server `replica` behind a balancer, if given)."""
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory(prefix="tl_load_") as folder:  # removed however it ends
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=niced_chromium(folder) if nice else CHROMIUM, args=CHROMIUM_ARGS
            )
            try:
                return list(
                    await asyncio.gather(
                        *(
                            open_page(
                                browser,
                                url,
                                v,
                                timeout_s,
                                screenshots,
                                f"page{i:02d}_{v.demo}",
                                replica,
                            )
                            for i, v in enumerate(visits)
                        )
                    )
                )
            finally:
                await browser.close()


class AllShown:
    """Counts the sessions whose page run ended: the exports are fetched once every page is
    shown, so that making the files (CPU on the server) does not slow the pages being timed."""

    def __init__(self, sessions: int) -> None:
        self.left, self.event = sessions, asyncio.Event()

    def one_done(self) -> None:
        self.left -= 1
        if self.left <= 0:
            self.event.set()


async def open_socket(url: str, visit: Visit, timeout_s: float, all_shown: AllShown | None = None) -> Outcome:
    """One student without a browser: Streamlit's own protocol on its websocket, as the browser
    speaks it (ask for the page with its link; read every element until the run finishes). The
    server does the same work as for a browser; no time goes into drawing. The headline numbers
    are the metric elements; the exported result is the JSON download's file, which the page
    makes on request (a deferred download): asked for as the browser asks when it is pressed."""
    import websockets
    from streamlit.proto.Alert_pb2 import Alert
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    outcome, json_file, session = Outcome(visit), None, ""
    all_shown = all_shown or AllShown(1)
    counted = False
    try:
        started = time.perf_counter()
        async with websockets.connect(
            url.replace("http://", "ws://") + "/_stcore/stream",
            subprotocols=["streamlit"],
            max_size=None,
            origin=url,
        ) as socket:
            ask = BackMsg()
            ask.rerun_script.query_string = visit.query()
            ask.rerun_script.page_name = visit.demo
            await socket.send(ask.SerializeToString())
            while True:
                message = ForwardMsg()
                message.ParseFromString(await asyncio.wait_for(socket.recv(), timeout_s))
                kind = message.WhichOneof("type")
                if kind == "script_finished":
                    break
                if kind == "new_session":
                    session = message.new_session.initialize.session_id
                if kind != "delta" or message.delta.WhichOneof("type") != "new_element":
                    continue
                element = message.delta.new_element
                shown = element.WhichOneof("type")
                if shown == "metric":
                    outcome.headline.append(element.metric.body)
                elif shown == "download_button" and "JSON" in element.download_button.label:
                    json_file = element.download_button.deferred_file_id
                elif shown == "exception" or (shown == "alert" and element.alert.format == Alert.ERROR):
                    outcome.error = (
                        element.exception.message if shown == "exception" else element.alert.body
                    )[:300]
            outcome.seconds = time.perf_counter() - started
            counted = True
            all_shown.one_done()
            if not outcome.error and outcome.headline and json_file:
                outcome.completed = True
                await asyncio.wait_for(all_shown.event.wait(), timeout_s)
                json_url = url + await deferred_file_url(socket, session, json_file, timeout_s)
                # Behind a balancer the file is on this session's app server: its cookie says which.
                cookies = dict(
                    c.split(";")[0].split("=", 1) for c in socket.response.headers.get_all("Set-Cookie")
                )
                outcome.replica = replica_of(cookies)
                cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
                request = urllib.request.Request(json_url, headers={"Cookie": cookie} if cookie else {})
                data = await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=60).read())
                outcome.exported = RunResult.from_json(data.decode())
            elif not outcome.error:
                outcome.error = "the run finished without a headline or an export"
    except Exception as error:
        outcome.error = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
    finally:
        if not counted:
            all_shown.one_done()
    return outcome


async def deferred_file_url(socket, session: str, file_id: str, timeout_s: float) -> str:
    """The address of a deferred download's file: the server makes it when asked (as when its
    button is pressed) and answers with where to fetch it."""
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    ask = BackMsg()
    ask.backend_operation_request.request_id = file_id
    ask.backend_operation_request.session_id = session
    ask.backend_operation_request.deferred_file.file_id = file_id
    await socket.send(ask.SerializeToString())
    while True:
        message = ForwardMsg()
        message.ParseFromString(await asyncio.wait_for(socket.recv(), timeout_s))
        if message.WhichOneof("type") == "backend_operation_response":
            answer = message.backend_operation_response
            if answer.error_msg:
                raise RuntimeError(f"the JSON download failed: {answer.error_msg}")
            return answer.deferred_file.url


async def open_sockets(url: str, visits: list[Visit], timeout_s: float) -> list[Outcome]:
    """Every visit at once."""
    all_shown = AllShown(len(visits))
    return list(await asyncio.gather(*(open_socket(url, v, timeout_s, all_shown) for v in visits)))


# ----------------------------------------------------------------------------------------------
# One load test


@dataclass
class Report:
    pages: int
    jobs: int
    threads: int
    outcomes: list[Outcome]
    peak_rss_mb: float
    start_rss_mb: float
    end_pss_mb: float
    cpu_s: float
    wall_s: float
    healthy_after: bool
    client: str = "chromium"
    replicas: int = 1
    in_processes: bool = False  # every training in worker processes (TL_TRAIN_IN_PROCESSES)

    @property
    def completed(self) -> int:
        return sum(o.completed for o in self.outcomes)

    @property
    def same(self) -> int:
        return sum(bool(o.same_numbers) for o in self.outcomes)

    def times(self, demo: str | None = None) -> list[float]:
        return sorted(
            o.seconds for o in self.outcomes if o.completed and (demo is None or o.visit.demo == demo)
        )

    def summary(self) -> dict[str, float]:
        times = self.times()
        return {
            "pages": self.pages,
            "completed": self.completed,
            "same_numbers": self.same,
            "p50_s": percentile(times, 50),
            "p95_s": percentile(times, 95),
            "max_s": max(times) if times else math.nan,
            "peak_rss_mb": self.peak_rss_mb,
            "end_pss_mb": self.end_pss_mb,
            "cpu_s": self.cpu_s,
            "wall_s": self.wall_s,
        }


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between ranks (numpy's default), nan for no values."""
    if not values:
        return math.nan
    values = sorted(values)
    rank = (len(values) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return values[low] + (values[high] - values[low]) * (rank - low)


def warm_up(
    url: str, timeout_s: float, cheap: bool, demos: tuple[str, ...], replica: int | None = None
) -> None:
    """One page per demo, one after the other: source models trained, data generated, cached
    (on app server `replica` behind a balancer, if given)."""
    visits = [Visit(v.demo, {**v.fields, "seed": 0}) for v in plan(len(demos), cheap, demos)]
    for visit in visits:
        asyncio.run(open_all(url, [visit], timeout_s, None, nice=False, replica=replica))


def load_test(
    pages: int,
    jobs: int | None = None,
    cheap: bool = False,
    warm: bool = False,
    timeout_s: float = 600,
    screenshots: Path | None = None,
    nice: bool = True,
    log: Path | None = None,
    demos: tuple[str, ...] = DEMO_ORDER,
    client: str = "chromium",
    lecture: bool = False,
    prepared: Path | None = None,
    per_setting: int = 1,
    replicas: int = 1,
    in_processes: bool | None = None,
) -> Report:
    """Start a server, open `pages` pages at once, check their numbers; the figures.

    `client`: "chromium" (real browsers, drawing included) or "socket" (Streamlit's protocol
    without a browser: what the server alone takes). `lecture`: the pages follow the lecture
    grid, prepared in the server's disk cache `prepared`. `replicas`: that many app servers on
    this machine behind the app's own balancer (`transfer-lab app --replicas N`), sharing its
    disk cache; memory and CPU are theirs and the balancer's together."""
    if replicas > 1 and not jobs:
        jobs = 1  # as `transfer-lab app` starts its app servers, unless TL_MAX_JOBS is set
    env = {"TL_MAX_JOBS": str(jobs)} if jobs else {}
    if in_processes is not None:  # else the server's own choice, by its memory
        env["TL_TRAIN_IN_PROCESSES"] = str(int(in_processes))
    if replicas > 1 and "TL_TORCH_THREADS" not in os.environ:  # as the launcher shares the cores
        env["TL_TORCH_THREADS"] = str(replica_threads(replicas))
    if prepared is not None:
        env.update({"TL_CACHE_DIR": str(prepared), "TL_RESULT_STORE": "on"})
    if not lecture:  # off the grid every page trains, however often this test ran before
        env["TL_RESULT_STORE"] = "off"
    limits = Limits.from_environment({**os.environ, **env})
    visits = lecture_plan(pages, demos, per_setting) if lecture else plan(pages, cheap, demos)
    if lecture and prepared is not None and (missing := not_prepared(visits, prepared)):
        raise SystemExit(
            f"{len(missing)} of {len(visits)} lecture pages are not in the store prepared in {prepared} "
            f"(prepared before tl_core changed?): they would train, and the figures would not be the "
            f"lecture path's. Prepare it again: TL_CACHE_DIR={prepared} transfer-lab prepare"
        )
    if screenshots:
        screenshots.mkdir(parents=True, exist_ok=True)
    server = start_server(env, log, replicas)
    try:
        if warm:  # every app server, each reached through the balancer by its cookie
            for replica in range(replicas) if replicas > 1 else [None]:
                warm_up(server.url, timeout_s, cheap, demos, replica)
        start_rss = server.status("VmRSS") / 1024
        cpu_before, started = server.cpu_seconds(), time.perf_counter()
        outcomes = asyncio.run(
            open_all(server.url, visits, timeout_s, screenshots, nice)
            if client == "chromium"
            else open_sockets(server.url, visits, timeout_s)
        )
        wall = time.perf_counter() - started
        cpu = server.cpu_seconds() - cpu_before
        peak = server.status("VmHWM") / 1024
        in_use = server.status("Pss", "smaps_rollup") / 1024
        healthy = server.healthy()
    finally:
        server.stop()
    from tl_app.server import limit_cpu_threads  # the server's thread count, for equal numbers

    threads = limit_cpu_threads(limits)
    for outcome in outcomes:
        if outcome.completed:
            outcome.same_numbers, outcome.why_not = compare(outcome, reference(outcome.visit))
    return Report(
        pages,
        limits.max_jobs,
        threads,
        outcomes,
        peak,
        start_rss,
        in_use,
        cpu,
        wall,
        healthy,
        client,
        replicas,
        trains_in_processes(limits, threads, replicas, {**os.environ, **env}),
    )


def trains_in_processes(limits: Limits, threads: int, replicas: int, env: dict[str, str]) -> bool:
    """Whether the server trained every run in worker processes, as it chose (or the launcher
    for its replicas, where the host did not say)."""
    from tl_app.server import every_training_in_processes  # imports streamlit

    if replicas > 1 and "TL_TRAIN_IN_PROCESSES" not in env:
        return replicas_train_in_processes(replicas, env) == "1"
    return every_training_in_processes(threads * limits.max_jobs, limits)


def print_report(report: Report, warm: bool) -> None:
    mix = ", ".join(
        f"{d} {sum(o.visit.demo == d for o in report.outcomes)}"
        for d in DEMO_ORDER
        if any(o.visit.demo == d for o in report.outcomes)
    )
    clients = "Chromium pages" if report.client == "chromium" else "websocket sessions (no browser)"
    servers = (
        f"{report.replicas} app servers behind the app's balancer, sharing one disk cache; "
        if report.replicas > 1
        else ""
    )
    print(
        f"\n{report.pages} {clients} at once ({mix}); {servers}TL_MAX_JOBS={report.jobs}, "
        f"{report.threads} CPU thread(s) per training"
        f"{', every training in worker processes' if report.in_processes else ''}; "
        f"{'warm' if warm else 'cold'} server caches"
    )
    for i, o in enumerate(report.outcomes):
        state = (
            f"{o.seconds:6.1f} s  numbers {'agree' if o.same_numbers else 'DIFFER: ' + o.why_not}"
            if o.completed
            else f"   --    FAILED: {o.error}"
        )
        print(f"  page {i:2d} {o.visit.label():60.60} {state}")
    s = report.summary()
    print(
        f"completed {report.completed}/{report.pages}; "
        f"numbers agreeing with tl_core.run: {report.same}/{report.pages}"
    )
    print(f"time to charts: p50 {s['p50_s']:.1f} s, p95 {s['p95_s']:.1f} s, max {s['max_s']:.1f} s")
    per_demo = {d: report.times(d) for d in DEMO_ORDER if report.times(d)}
    medians = ", ".join(f"{d} {statistics.median(t):.1f} s" for d, t in per_demo.items())
    print("  median per demo: " + medians)
    if report.replicas > 1:
        served = [sum(o.replica == r for o in report.outcomes) for r in range(report.replicas)]
        print("  pages per app server: " + ", ".join(map(str, served)))
    print(
        f"server memory: {report.start_rss_mb:.0f} MB at the start, "
        f"peak {report.peak_rss_mb:.0f} MB (VmHWM), {report.end_pss_mb:.0f} MB in use at the end "
        f"(Pss, shared pages once); "
        f"CPU {report.cpu_s:.0f} s in {report.wall_s:.0f} s wall "
        f"({report.cpu_s / report.wall_s:.1f} cores busy), "
        f"{report.cpu_s / report.pages:.1f} CPU s per page"
    )
    print(f"server healthy afterwards: {report.healthy_after}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=10, help="pages opened at once (default 10)")
    parser.add_argument(
        "--series", help="comma-separated page counts, a fresh server for each (e.g. 2,4,6,10)"
    )
    parser.add_argument("--jobs", type=int, help="TL_MAX_JOBS for the server (default: its own, 2)")
    parser.add_argument("--warm", action="store_true", help="train the source models before timing")
    parser.add_argument(
        "--train-in-processes",
        type=int,
        choices=(0, 1),
        help="TL_TRAIN_IN_PROCESSES for the server, 1: every training in worker processes "
        "(default: the server's own choice, by its memory)",
    )
    parser.add_argument("--cheap", action="store_true", help="short torch training (the test's settings)")
    parser.add_argument(
        "--demos", default=",".join(DEMO_ORDER), help="demos to take turns (default: all four)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds a page may take (default 600)")
    parser.add_argument("--screenshots", type=Path, help="folder for a busy and a done screenshot per page")
    parser.add_argument("--no-nice", action="store_true", help="run Chromium at the server's CPU priority")
    parser.add_argument(
        "--plan",
        choices=("off-grid", "lecture"),
        default="off-grid",
        help="off-grid: each page its own experiment, trained (default); lecture: settings of the "
        "lecture grid, prepared beforehand",
    )
    parser.add_argument(
        "--per-setting",
        type=int,
        default=1,
        help="with --plan lecture: students opening each setting at once (default 1: every page "
        "another setting)",
    )
    parser.add_argument(
        "--prepared",
        type=Path,
        help="the server's TL_CACHE_DIR, where `python -m tl_core prepare` has run (with --plan "
        "lecture; without it, a new folder is prepared first)",
    )
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="app servers on this machine behind the app's own balancer, sharing its disk "
        "cache: `transfer-lab app --replicas N` (default 1: one `streamlit run`)",
    )
    parser.add_argument(
        "--client",
        choices=("chromium", "socket"),
        default="chromium",
        help="chromium: real browsers (default); socket: Streamlit's protocol, no browser "
        "(the server's own time, free of drawing)",
    )
    args = parser.parse_args(argv)
    if args.client == "chromium" and not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2
    counts = [int(n) for n in args.series.split(",")] if args.series else [args.pages]
    demos = tuple(args.demos.split(","))
    lecture, prepared = args.plan == "lecture", args.prepared
    with tempfile.TemporaryDirectory(prefix="tl_load_prepared_") as scratch:
        if lecture and prepared is None:
            prepared = Path(scratch)
            print(f"prepare (the lecture grid of {', '.join(demos)}): {prepare(prepared, demos):.0f} s")
        return _run_series(args, counts, demos, lecture, prepared)


def _run_series(args, counts: list[int], demos: tuple[str, ...], lecture: bool, prepared: Path | None) -> int:
    summaries = []
    for n in counts:
        report = load_test(
            n,
            args.jobs,
            args.cheap,
            args.warm,
            args.timeout,
            args.screenshots,
            nice=not args.no_nice,
            demos=demos,
            client=args.client,
            lecture=lecture,
            prepared=prepared,
            per_setting=args.per_setting,
            replicas=args.replicas,
            in_processes=args.train_in_processes,
        )
        print_report(report, args.warm)
        summaries.append(report.summary())
    if len(summaries) > 1:
        print("\npages  completed  equal  p50 s  p95 s  max s  peak MB  server CPU s/page")
        for s in summaries:
            print(
                f"{s['pages']:5d}  {s['completed']:9d}  {s['same_numbers']:5d}  {s['p50_s']:5.1f}  "
                f"{s['p95_s']:5.1f}  {s['max_s']:5.1f}  {s['peak_rss_mb']:7.0f}  "
                f"{s['cpu_s'] / s['pages']:17.1f}"
            )
        print(json.dumps(summaries))
    return 0 if all(s["completed"] == s["pages"] == s["same_numbers"] for s in summaries) else 1


if __name__ == "__main__":
    sys.exit(main())
