"""Four students open their links at once on one server: no cross-talk between their sessions.

The small version of benchmarks/load_test.py (which times 10 pages and prints figures): a fresh
`streamlit run app.py`, four headless Chromium pages at once (then four sessions of its socket
client; then four pages through two app servers behind the app's balancer), one per demo, each
with its own seed, gap and number of target labels (short torch training). Every page must
finish without an error, and the results it exports must equal `tl_core.run` for the same config
and seed run alone, number for number, as must its headline. Nothing here is timed.

Chromium comes from the system, as in test_browser.py: skipped without /usr/bin/chromium on a
developer's machine, a failure in CI (CI=true).
"""

import importlib.util
import sys
from pathlib import Path

import chromium  # tests/chromium.py
import pytest

import tl_core

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
chromium.require()


def load_test_module():
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("client", "replicas"), [("chromium", 1), ("socket", 1), ("chromium", 2)])
def test_four_sessions_at_once_each_get_their_own_numbers(client, replicas):
    """In browsers, and through the benchmark's socket client, which sizes a server in the README
    (it reads the headline and fetches the JSON export as a browser does when its button is
    pressed: the file is made on request); and in browsers through `transfer-lab app --replicas
    2`, where each browser's websocket and download must reach its own app server."""
    load_test = load_test_module()
    log = ROOT / "artifacts" / f"load_test_{client}_{replicas}.log"
    report = load_test.load_test(
        4,
        cheap=True,
        timeout_s=400,
        log=log,
        client=client,
        replicas=replicas,
    )
    demos = {o.visit.demo for o in report.outcomes}
    assert len(demos) == min(4, len(tl_core.available_demos())), "one page per demo"
    for outcome in report.outcomes:
        assert outcome.completed, f"{outcome.visit.label()}: {outcome.error}"
        assert outcome.same_numbers, f"{outcome.visit.label()}: {outcome.why_not}"
    assert len({o.visit.fields["seed"] for o in report.outcomes}) == 4, "four different experiments"
    assert report.healthy_after, "the server still answers its health check"
    if replicas > 1:  # the balancer spread the browsers out, each kept on its server
        assert {o.replica for o in report.outcomes} == set(range(replicas))
        # ...and the host was shown one address to give out, the balancer's, not the replicas'
        addresses = [line for line in log.read_text().splitlines() if "http://127.0.0.1:" in line]
        assert len(addresses) == 1 and addresses[0].startswith("Transfer Lab:"), addresses


def test_a_lecture_run_refuses_a_store_that_lacks_its_pages(tmp_path, monkeypatch):
    """Results are keyed by the code: in a folder prepared before tl_core changed, every lecture
    page would train, and the figures printed under the lecture path's name would be another's.
    The run stops before starting a server and says what to do; a folder holding the pages'
    results passes."""
    load_test = load_test_module()
    refused = r"4 of 4 lecture pages are not in the store .* transfer-lab prepare"
    with pytest.raises(SystemExit, match=refused):
        load_test.load_test(4, lecture=True, prepared=tmp_path / "empty", client="socket")
    visits = load_test.lecture_plan(3, ("linear",))
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "prepared"))
    monkeypatch.setenv("TL_RESULT_STORE", "on")
    for visit in visits[:2]:
        tl_core.run(visit.demo, **visit.fields)  # kept in the store, as prepare keeps them
    assert load_test.not_prepared(visits, tmp_path / "prepared") == visits[2:]
