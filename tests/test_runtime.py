"""One place picks the device, one place seeds."""

import random

import numpy as np
import pytest
import torch

from tl_core.runtime import pick_device, seed_everything


def test_explicit_device_wins_over_environment(monkeypatch):
    monkeypatch.setenv("TL_DEVICE", "cuda")
    assert pick_device("cpu") == "cpu"


def test_environment_overrides_auto(monkeypatch):
    monkeypatch.setenv("TL_DEVICE", "cpu")
    assert pick_device("auto") == "cpu"


def test_auto_prefers_cuda_when_present(monkeypatch):
    monkeypatch.delenv("TL_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert pick_device("auto") == expected


def test_bad_environment_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TL_DEVICE", "tpu")
    with pytest.raises(ValueError, match="TL_DEVICE must be one of auto, cpu, cuda, mps, got 'tpu'"):
        pick_device("auto")


def test_seeding_makes_python_numpy_and_torch_repeat():
    def draw():
        rng = seed_everything(7)
        return random.random(), np.random.rand(), torch.rand(1).item(), rng.random()

    assert draw() == draw()
