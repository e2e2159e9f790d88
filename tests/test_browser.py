"""End to end in a real browser: `streamlit run app.py`, driven by Debian's Chromium via Playwright.

Visits every page, moves a slider where the page has one and waits for the charts to redraw,
checks that no Streamlit exception is on screen, and saves a screenshot of each page under
artifacts/screenshots/ (look at them: a page a student would find confusing is not done): at
1400 px wide, at a projector's 1280x720 and a laptop's 1440x900 (the first screen), and on a
390x844 phone.

Chromium comes from the system (`apt-get install chromium`); Playwright never downloads one.
Without /usr/bin/chromium the test is skipped on a developer's machine, and fails in CI (CI=true).
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import chromium  # tests/chromium.py
import pytest

import tl_core
from tl_app.catalog import DEMO_PAGES
from tl_core.limits import Limits
from tl_core.runtime import memory_bytes, room_for_workers, share_of_cores

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
PAGE_TIMEOUT_MS = 240_000  # the first run of a torch demo on a slow CI box trains its source model
WIDTH = 1400

chromium.require()

from playwright.sync_api import Page, sync_playwright  # noqa: E402  (after the skip: CI has it)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A host's environment: without the test process's own TL_TRAIN_IN_PROCESSES=0 (tests/conftest.py),
# so that the server chooses as it does for a teacher.
SERVER_ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "TL_TRAIN_IN_PROCESSES"}


@contextmanager
def running_app(log_name: str, env: dict[str, str] | None = None):
    """`streamlit run app.py` on a free localhost port, as a teacher starts it: (url, process)."""
    port = free_port()
    (ROOT / "artifacts").mkdir(exist_ok=True)
    log = open(ROOT / "artifacts" / log_name, "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**SERVER_ENVIRONMENT, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start; see {log.name}")
            time.sleep(0.5)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def served():
    """The app with the default caps (on a 2-core machine: one thread per run): (url, process)."""
    with running_app("streamlit.log") as running:
        yield running


@pytest.fixture(scope="module")
def server(served):
    return served[0]


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium.PATH, args=chromium.ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": WIDTH, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def wait_until_idle(page: Page) -> None:
    """Wait for the script run to finish (Streamlit marks its app element "notRunning")."""
    page.get_by_text("Computing on").wait_for(timeout=PAGE_TIMEOUT_MS)  # app.py's last line
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=PAGE_TIMEOUT_MS
    )
    # The run is over, but a fresh browser fetches each kind of element's code on first use and
    # shows a placeholder until then (on a loaded machine, seconds): wait for every element drawn.
    page.wait_for_function(DRAWN, timeout=PAGE_TIMEOUT_MS)
    page.wait_for_timeout(500)  # plotly draws after the run's last message


DRAWN = """() => !document.querySelector('[data-testid="stSkeleton"]')
             && [...document.querySelectorAll('[data-testid="stPlotlyChart"]')]
                  .every(chart => chart.querySelector('.main-svg'))"""


def charts_data(page: Page) -> str:
    return page.evaluate("""() => JSON.stringify([...document.querySelectorAll('.js-plotly-plot')]
                                                 .map(p => p.data))""")


def no_exception(page: Page) -> None:
    """No Streamlit exception on screen, nor the message app.py shows in place of one (a visitor
    never sees a traceback), and the app's frame (app.py) ran around the page."""
    errors = page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]')
    assert errors.count() == 0, errors.first.inner_text()
    assert page.get_by_text("Computing on").count() == 1, "the page ran without app.py's frame"
    assert page.get_by_role("link", name="Linear regression").count() >= 1, "the app's menu"


def screenshot(page: Page, name: str, width: int = WIDTH, height: int = 900) -> Path:
    """The whole page: Streamlit scrolls inside its main block, so grow the window to fit it."""
    full = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        return main ? main.scrollHeight : document.body.scrollHeight }""")
    page.set_viewport_size({"width": width, "height": min(max(int(full), height), 16000)})
    page.wait_for_timeout(1500)  # plotly redraws at the new size
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": width, "height": height})
    return path


def slider_value(page: Page, label: str) -> str:
    """What a slider shows as its value (a slider on stops counts its stops underneath)."""
    return (
        page.locator('[data-testid="stSlider"]', has_text=label)
        .get_by_test_id("stSliderThumbValue")
        .inner_text()
    )


def move_slider(page: Page, label: str, presses: int) -> str:
    """Move a slider with the keyboard, as a student using arrows would; the value it shows."""
    slider = page.locator('[data-testid="stSlider"]', has_text=label).get_by_role("slider")
    slider.focus()
    for _ in range(presses):
        slider.press("ArrowRight")
    return slider_value(page, label)


@pytest.mark.parametrize("demo_page", DEMO_PAGES, ids=lambda p: p.demo)
def test_demo_page_redraws_when_a_slider_moves(server, page, demo_page):
    page.goto(f"{server}/{demo_page.demo}", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    page.wait_for_selector('.js-plotly-plot, [data-testid="stException"]', timeout=PAGE_TIMEOUT_MS)
    no_exception(page)
    before = charts_data(page)
    n_target = move_slider(page, "Labelled target samples", presses=3)  # matters in every scenario
    page.wait_for_function(
        """before => JSON.stringify([...document.querySelectorAll('.js-plotly-plot')]
                                    .map(p => p.data)) !== before""",
        arg=before,
        polling=1000,
        timeout=PAGE_TIMEOUT_MS,
    )
    page.wait_for_url(f"**n_target={int(float(n_target))}&**", timeout=PAGE_TIMEOUT_MS)  # the link follows
    wait_until_idle(page)
    no_exception(page)
    screenshot(page, demo_page.demo)
    if demo_page.demo == "linear":  # the sweeps, on their buttons, drawn once
        for button in ("Run the data-efficiency sweep", "Run the gap sweep"):
            charts = page.locator(".js-plotly-plot").count()
            page.get_by_role("button", name=button).click()
            page.wait_for_function(
                f"() => document.querySelectorAll('.js-plotly-plot').length > {charts}",
                polling=500,
                timeout=PAGE_TIMEOUT_MS,
            )
            wait_until_idle(page)
        no_exception(page)
        screenshot(page, "linear_sweeps")


def test_home_theory_and_compare_pages(server, page):
    elsewhere = []  # requests to any host but the app's: a class offline, or on a closed network
    page.on(
        "request", lambda r: None if r.url.startswith((server, "data:", "blob:")) else elsewhere.append(r.url)
    )
    for name in ("home", "theory"):
        page.goto(f"{server}/{'' if name == 'home' else name}", timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
        no_exception(page)
        screenshot(page, name)
    demos = ",".join(d for d in tl_core.available_demos() if d in ("linear", "logistic"))
    page.goto(f"{server}/compare?demos={demos}&sweep_seeds=2", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    page.get_by_role("button", name="Run the label sweeps").click()
    page.wait_for_selector(".js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    screenshot(page, "compare")
    assert elsewhere == [], "the pages fetch nothing from another host"


def test_a_shared_link_opens_the_same_experiment(server, page):
    page.goto(
        f"{server}/linear?gap=0.8&n_target=12&seed=3&strategies=fine_tune,regularized",
        timeout=PAGE_TIMEOUT_MS,
    )
    wait_until_idle(page)
    no_exception(page)
    assert slider_value(page, "Gap between") == "0.8"
    assert page.get_by_text("With 12 labelled target samples").count() >= 1
    # exports: the page's charts as one standalone HTML file (made on click) and the notebook
    page.get_by_text("Export", exact=True).click()
    html = downloaded(page, "charts of this page in one HTML file").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>") and "Fine-tune" in html
    assert html.count("Plotly.newPlot") >= 4, "every chart on the page"
    assert 1_000_000 < len(html) < 6_000_000, "plotly.js inside once: opens offline, and not once per chart"
    page.get_by_text("Reproduce in a notebook", exact=True).click()
    notebook = json.loads(downloaded(page, "Download as a Jupyter notebook").read_text())
    code = "".join("".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code")
    assert "gap=0.8" in code and "n_target=12" in code and "seed=3" in code
    page.goto(f"{server}/linear?gap=banana&nonsense=1", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    assert page.locator('[data-testid="stAlertContentWarning"]').count() >= 2
    screenshot(page, "linear_bad_link")


def downloaded(page: Page, button: str) -> Path:
    """Click the download button named `button`, as a student would, and return its file. When no
    file comes, the failure says what the browser saw: the message Streamlit shows under the
    button for a few seconds, the answers to its file requests, and the console's errors."""
    seen, arrived = [], []

    def on_response(response) -> None:
        if "/media/" in response.url:
            seen.append(f"{response.status} {response.url}")

    def on_console(message) -> None:
        if message.type in ("error", "warning"):
            seen.append(f"console {message.type}: {message.text[:300]}")

    def on_failed(request) -> None:
        if "/media/" in request.url:
            seen.append(f"failed {request.url}: {request.failure}")

    def on_download(download) -> None:
        arrived.append(download)

    listeners = {
        "response": on_response,
        "requestfailed": on_failed,
        "console": on_console,
        "download": on_download,
    }
    for event, listener in listeners.items():
        page.on(event, listener)
    error = page.locator('[data-testid="stDownloadButtonError"]')
    try:
        page.get_by_role("button", name=button).click()
        deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
        while not arrived and time.monotonic() < deadline:
            if error.count():  # the button gave up: no file will come
                seen += [f"under the button: {text}" for text in error.all_inner_texts()]
                break
            page.wait_for_timeout(250)
    finally:
        for event, listener in listeners.items():
            page.remove_listener(event, listener)
    assert arrived, f"no file from {button!r}; the browser saw: {sorted(set(seen)) or 'nothing'}"
    assert arrived[0].failure() is None, f"{button!r}: {arrived[0].failure()}; {seen}"
    return Path(arrived[0].path())


def choose(page: Page, label: str, option: str) -> None:
    """Pick `option` in the selectbox labelled `label`, as a student clicking would."""
    page.locator('[data-testid="stSelectbox"]').filter(has=page.get_by_text(label, exact=True)).click()
    page.get_by_role("option", name=option).click()


def upload_file(page: Page, name: str, mime: str, raw: bytes) -> None:
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": name, "mimeType": mime, "buffer": raw}]
    )


@pytest.mark.parametrize(
    "demo, name, mime, make",
    [
        ("linear", "sales.csv", "text/csv", "sales_csv"),
        ("cnn", "shapes.zip", "application/zip", "shapes_zip"),
        ("rnn", "waves.csv", "text/csv", "waves_csv"),
    ],
)
def test_a_student_uploads_their_own_data(server, page, demo, name, mime, make):
    import test_app_user_data as files

    page.goto(f"{server}/{demo}?n_target=2&epochs=5", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    choose(page, "Data", "Your own data")
    page.get_by_text("Upload one above").wait_for(timeout=PAGE_TIMEOUT_MS)
    upload_file(page, name, mime, getattr(files, make)())
    page.get_by_text(f"Using {name}").wait_for(timeout=PAGE_TIMEOUT_MS)
    page.wait_for_selector(".js-plotly-plot", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    assert (
        page.locator(".st-key-source_vs_target_chart").count() == 1
        and page.get_by_test_id("stMetric").count()
    )
    assert "data=own" in page.url, "the link says the data was the student's own"
    screenshot(page, f"{demo}_own_data")


def training_processes(server_pid: int) -> dict[int, int]:
    """The server's training processes (tl_core.engine.processes), each with its CPU time so far in
    clock ticks (from /proc: Debian's Chromium makes these tests Linux-only anyway)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == server_pid and b"tl_core.engine.processes" in command:
            found[int(stat.parent.name)] = int(fields[11]) + int(fields[12])  # utime + stime
    return found


def idle_training_processes(server_pid: int, count: int) -> dict[int, int]:
    """Wait until the server has `count` training processes and they have finished starting
    (their CPU time stands still); their CPU times then."""
    deadline, before = time.monotonic() + 180, None
    while time.monotonic() < deadline:
        now = training_processes(server_pid)
        if len(now) == count and now == before:
            return now
        before = now
        time.sleep(1.5)
    raise AssertionError(f"expected {count} idle training processes, found {before}")


def test_a_server_with_two_threads_per_run_trains_in_its_training_processes(page):
    """A lecture laptop's app (one job at a time, both cores): the torch demos' groups train
    side by side in the two processes the server started, and the page shows the run."""
    with running_app("streamlit-two-threads.log", {"TL_MAX_JOBS": "1", "TL_TORCH_THREADS": "2"}) as (
        url,
        process,
    ):
        page.goto(url, timeout=PAGE_TIMEOUT_MS)  # the first page load starts them
        wait_until_idle(page)
        before = idle_training_processes(process.pid, 2)
        page.goto(f"{url}/rnn?epochs=3&seed=5", timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
        no_exception(page)
        assert page.get_by_text("2 CPU threads per run").count() == 1
        assert page.locator(".js-plotly-plot").count() >= 2
        screenshot(page, "rnn-two-threads")
        after = training_processes(process.pid)
        assert after.keys() == before.keys()  # the same two, kept
        assert all(after[pid] > before[pid] for pid in before), (before, after)  # both trained


def test_the_default_server_trains_even_a_one_thread_run_in_its_training_processes(served, page):
    """Where the memory allows, a server with the default caps (two trainings at once, on their
    share of the cores) starts a training process per slot and thread, and a run of one thread
    trains there too: not in the server's threads, where drawing pages would slow it."""
    url, process = served
    jobs = Limits().max_jobs
    workers = share_of_cores(0, jobs) * jobs
    assert room_for_workers(workers, memory_bytes()), "this machine is meant to have the memory"
    page.goto(url, timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    before = idle_training_processes(process.pid, workers)
    page.goto(f"{url}/rnn?epochs=3&seed=6", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    assert page.locator(".js-plotly-plot").count() >= 2
    after = training_processes(process.pid)
    assert after.keys() == before.keys()  # the same ones, kept
    assert any(after[pid] > before[pid] for pid in before), (before, after)  # the run trained there


# ----------------------------------------------------------------------------------------------
# A projector's first screen, a phone, and every download


FIRST_SCREENS = [(1280, 720), (1440, 900)]  # a projector, a laptop
PHONE = {"width": 390, "height": 844}
AVAILABLE_PAGES = [p for p in DEMO_PAGES if p.demo in tl_core.available_demos()]
MAIN_CONTROLS = ("gap", "n_target", "lam")  # what a lecture moves (widgets keyed by field name)
HANG_S = 120  # slider release to redrawn chart: printed; only a hang fails


def box(page: Page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def inside(rect: dict | None, width: int, height: int) -> bool:
    return (
        rect is not None
        and rect["x"] >= -1
        and rect["y"] >= -1
        and rect["x"] + rect["width"] <= width + 1
        and rect["y"] + rect["height"] <= height + 1
    )


def chart_spec(page: Page, key: str) -> str:
    return page.evaluate(
        """key => { const c = document.querySelector(`.st-key-${key} .js-plotly-plot`);
                    return c ? JSON.stringify(c.data) : '' }""",
        key,
    )


@pytest.mark.parametrize("demo_page", AVAILABLE_PAGES, ids=lambda p: p.demo)
def test_the_first_screen_holds_the_controls_the_headline_and_the_chart(server, browser, demo_page):
    """At 1280x720 and 1440x900, without scrolling: the main controls, the headline and the
    source-vs-target chart. Then a slider moved: the time from its release to the redrawn
    chart is printed (a benchmark's figure, not asserted here but for a hang)."""
    for width, height in FIRST_SCREENS:
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.goto(f"{server}/{demo_page.demo}", timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
        no_exception(page)
        page.screenshot(path=str(SCREENSHOTS / f"first_screen_{demo_page.demo}_{width}x{height}.png"))
        chart = box(page, ".st-key-source_vs_target_chart")
        assert inside(chart, width, height), f"the source-vs-target chart at {chart}, screen {width}x{height}"
        assert inside(box(page, '[data-testid="stMetric"]'), width, height), "the headline"
        for name in MAIN_CONTROLS:
            control = box(page, f".st-key-{name}")
            assert inside(control, width, height), f"{name} at {control}, screen {width}x{height}"
        if (width, height) == FIRST_SCREENS[0]:
            before = chart_spec(page, "source_vs_target_chart")
            slider = page.locator(".st-key-n_target").get_by_role("slider")
            slider.focus()
            started = time.perf_counter()
            slider.press("ArrowRight")  # a key press is a move and its release at once
            page.wait_for_function(
                """([key, before]) => { const c = document.querySelector(`.st-key-${key} .js-plotly-plot`);
                                        return c && JSON.stringify(c.data) !== before }""",
                arg=["source_vs_target_chart", before],
                polling="raf",
                timeout=HANG_S * 1000,
            )
            redrawn = time.perf_counter() - started
            print(f"\n{demo_page.demo}: slider release -> redrawn source-vs-target chart {redrawn:.2f} s")
            wait_until_idle(page)
            no_exception(page)
        context.close()


# The plot heights of the charts in each row of Streamlit columns that holds more than one chart
# (a figure's panels side by side).
PANEL_ROWS = """() => {
    const rows = new Map();
    for (const chart of document.querySelectorAll('[data-testid="stHorizontalBlock"] .js-plotly-plot')) {
        const row = chart.closest('[data-testid="stHorizontalBlock"]');
        const plot = chart.querySelector('.nsewdrag');
        if (plot) rows.set(row, [...(rows.get(row) || []), plot.getBoundingClientRect().height]);
    }
    return [...rows.values()].filter(heights => heights.length > 1);
}"""


@pytest.mark.parametrize("demo_page", AVAILABLE_PAGES, ids=lambda p: p.demo)
def test_panels_side_by_side_have_plots_of_one_height(server, browser, demo_page):
    """At 1280 px a figure's panels stand side by side (samples of both tasks, hidden-state
    paths, training curves), each with its own legend; their plots are the same height however
    the legends differ, so that a student compares like with like."""
    context = browser.new_context(viewport={"width": FIRST_SCREENS[0][0], "height": 3000})
    page = context.new_page()
    page.goto(f"{server}/{demo_page.demo}", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    rows = page.evaluate(PANEL_ROWS)
    assert rows, "the page has panels side by side"
    assert all(max(heights) - min(heights) <= 1 for heights in rows), rows
    context.close()


PAGE_PATHS = [("home", ""), ("theory", "theory"), ("compare", "compare")] + [
    (p.demo, p.demo) for p in AVAILABLE_PAGES
]
WIDER_THAN_SCREEN = """() => {
    const width = document.documentElement.clientWidth;
    const things = '[data-testid="stPlotlyChart"], .js-plotly-plot, [data-testid="stDataFrame"], '
        + '[data-testid="stGraphVizChart"], .katex-display, [data-testid="stMetric"], h1, h2, h3';
    return [...document.querySelectorAll(things)]
        .filter(e => !e.closest('[data-testid="stSidebar"]'))  // shut: off the screen on purpose
        .map(e => [e.getAttribute('data-testid') || e.className || e.tagName, e.getBoundingClientRect()])
        .filter(([_, r]) => r.width > 0 && (r.left < -1 || r.right > width + 1))
        .map(([what, r]) => `${String(what).slice(0, 40)} from ${r.left} to ${r.right}`) }"""


# Every chart's x axis title that a legend covers: on a short chart (a phone's), a legend placed at
# a share of the plot's height below it ran into the title.
TITLES_UNDER_A_LEGEND = """() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(plot => {
    const legend = plot.querySelector('g.legend');
    if (!legend) return [];
    const l = legend.getBoundingClientRect();
    return [...plot.querySelectorAll('g[class^="g-x"][class$="title"] text')]
        .map(t => [t.textContent, t.getBoundingClientRect()])
        .filter(([_, r]) => r.width > 0 && l.width > 0 && r.left < l.right && l.left < r.right
                && r.top < l.bottom && l.top < r.bottom)
        .map(([text, r]) => `x axis title "${text}" (${r.top} to ${r.bottom}) under the legend `
                            + `(${l.top} to ${l.bottom})`);
})"""


@pytest.mark.parametrize("name, path", PAGE_PATHS, ids=[name for name, _ in PAGE_PATHS])
def test_every_page_reads_on_a_phone(server, browser, name, path):
    """At 390x844: no chart, table, equation or title wider than the screen, no sideways scroll
    of the page, no legend over an axis title; the sidebar starts shut, and opened it takes the
    top of the screen while the page stays in view below it (it does not cover it). Screenshots:
    phone_<page>.png."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{server}/{path}", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    no_exception(page)
    assert page.evaluate(WIDER_THAN_SCREEN) == []
    main = page.locator('[data-testid="stMain"]')
    assert main.evaluate("m => m.scrollWidth <= m.clientWidth + 1"), "the page scrolls sideways"
    sidebar = page.locator('[data-testid="stSidebar"]')
    assert sidebar.get_attribute("data-collapsed") == "true", "the sidebar starts shut on a phone"
    page.locator('[data-testid="stExpandSidebarButton"]').click()
    page.wait_for_timeout(800)
    opened, under = sidebar.bounding_box(), main.bounding_box()
    assert opened["height"] <= 0.6 * PHONE["height"] and under["y"] >= opened["y"] + opened["height"] - 1, (
        opened,
        under,
    )
    page.screenshot(path=str(SCREENSHOTS / f"phone_{name}_menu.png"))
    page.locator(
        '[data-testid="stSidebarCollapseButton"] button, [data-testid="stSidebarCollapseButton"]'
    ).first.click()
    page.wait_for_timeout(500)
    screenshot(page, f"phone_{name}", width=PHONE["width"], height=PHONE["height"])
    assert page.evaluate(WIDER_THAN_SCREEN) == [], "at the full page's height too"
    assert page.evaluate(TITLES_UNDER_A_LEGEND) == []
    context.close()


FAST_CNN = "epochs=3&source_epochs=2&n_source=500&seed=4"


def test_every_download_works_after_reruns_and_the_export_panel_stays_open(server, page):
    """Every download button of a torch demo's page, clicked in a row (no waiting between the
    clicks) after controls moved, gives its file, and each file opens: the CSV as a table, the
    JSON as a result of the settings on screen, the charts' HTML, the weights, the notebook."""
    import nbformat
    import pandas as pd
    from safetensors.torch import load as load_safetensors

    from tl_core.result import RunResult

    page.goto(f"{server}/cnn?{FAST_CNN}", timeout=PAGE_TIMEOUT_MS)
    wait_until_idle(page)
    for _ in range(2):  # reruns with new results: each one replaces every button's file
        moved = int(float(move_slider(page, "Labelled target samples", presses=1)))
        page.wait_for_url(f"**n_target={moved}&**", timeout=PAGE_TIMEOUT_MS)
        wait_until_idle(page)
    page.get_by_text("Export", exact=True).click()
    page.get_by_text("Reproduce in a notebook", exact=True).click()
    buttons = {
        "csv": "Results as CSV",
        "json": "Results as JSON",
        "html": "charts of this page in one HTML file",
        "weights": "Trained target model weights",
        "notebook": "Download as a Jupyter notebook",
    }
    arrived = []
    page.on("download", lambda download: arrived.append(download))
    for name in buttons.values():
        page.get_by_role("button", name=name).click()
    deadline = time.monotonic() + PAGE_TIMEOUT_MS / 1000
    while len(arrived) < len(buttons) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert len(arrived) == len(buttons), f"{len(arrived)} of {len(buttons)} files arrived"
    files = {}
    for download in arrived:
        assert download.failure() is None, f"{download.suggested_filename}: {download.failure()}"
        files[Path(download.suggested_filename).suffix] = Path(download.path())
    table = pd.read_csv(files[".csv"])
    result = RunResult.from_json(files[".json"].read_text())
    html = files[".html"].read_text()
    weights = load_safetensors(files[".safetensors"].read_bytes())
    notebook = nbformat.reads(files[".ipynb"].read_text(), as_version=4)
    assert set(table.strategy) >= {"scratch", "fine_tune"} and (table.n_target == moved).all()
    assert result.config["n_target"] == moved and result.config["seed"] == 4, "the settings on screen"
    assert html.lower().lstrip().startswith("<!doctype html>") and html.count("Plotly.newPlot") >= 4
    assert weights and all(t.numel() for t in weights.values())
    assert any(f"n_target={moved}," in c.source for c in notebook.cells), "the notebook of the settings now"
    export = page.locator('[data-testid="stExpander"]', has_text="Results as CSV").locator("details")
    assert export.get_attribute("open") is not None, "the Export panel stays open across downloads"
    log = (ROOT / "artifacts" / "streamlit.log").read_text()
    assert "MediaFileStorageError" not in log and "Deferred file" not in log, log[-2000:]
    screenshot(page, "cnn_after_downloads")
