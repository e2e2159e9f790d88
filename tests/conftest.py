"""What every test module shares: a disk cache of its own, and one torch thread where asked for."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from tl_core import diskcache, store

# Generated data sets go to a folder of this test session (subprocesses, such as the app's server
# in the browser tests, inherit it): tests neither read a developer's cache nor fill it.
SESSION_CACHE = None
if diskcache.ENV not in os.environ:
    SESSION_CACHE = os.environ[diskcache.ENV] = tempfile.mkdtemp(prefix="transfer-lab-tests-")


# Tests compare computations (a sweep's point and a single run, a page and the core): a result
# read back from the store of results would make them compare a result with itself. The store is
# off unless a test turns it on (tests/test_store.py, the pages' stored sweeps).
os.environ.setdefault(store.ENV, diskcache.OFF)


@pytest.fixture
def result_store(monkeypatch, tmp_path):
    """The store of results on, in a disk cache of this test alone."""
    monkeypatch.setenv(store.ENV, "on")
    monkeypatch.setenv(diskcache.ENV, str(tmp_path / "disk-cache"))
    return tmp_path / "disk-cache"


def pytest_sessionfinish(session, exitstatus):
    if SESSION_CACHE:
        shutil.rmtree(SESSION_CACHE, ignore_errors=True)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two cores shared with other jobs: these small models train faster and steadier on one
    thread than on two. Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def empty_disk_cache(tmp_path, monkeypatch):
    """A disk cache of this test alone: nothing generated or trained before is found there."""
    folder = tmp_path / "disk-cache"
    monkeypatch.setenv(diskcache.ENV, str(folder))
    return folder
