"""What every test module shares: a disk cache of its own, and one torch thread where asked for."""

from __future__ import annotations

import os
import tempfile

import pytest

from tl_core import diskcache

# Generated data sets go to a folder of this test session (subprocesses, such as the app's server
# in the browser tests, inherit it): tests neither read a developer's cache nor fill it.
if diskcache.ENV not in os.environ:
    os.environ[diskcache.ENV] = tempfile.mkdtemp(prefix="transfer-lab-tests-")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two cores shared with other jobs: these small models train faster and steadier on one
    thread than on two. Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
