"""What every test module shares: one torch thread where asked for."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_torch_thread():
    """Two cores shared with other jobs: these small models train faster and steadier on one
    thread than on two. Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
