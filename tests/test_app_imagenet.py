"""The CNN page's optional ImageNet comparison: offered only with ResNet-18's weights on disk.

The weights file is one the test writes itself (an untrained ResNet-18's state dict under the
ImageNet file's name): the page's loading and probing code runs for real, nothing is downloaded.
"""

from __future__ import annotations

import pytest
import torch
from test_app_pages import PATH, failures, fast, open_page

import tl_core
from tl_app import controls
from tl_core import backbones
from tl_core.demos import cnn

pytestmark = pytest.mark.slow  # each test builds a ResNet-18 page


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(backbones.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


@pytest.fixture
def weights(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    path = tmp_path / backbones.RESNET18_FILE
    torch.save(resnet18(weights=None).state_dict(), path)
    monkeypatch.setenv(backbones.WEIGHTS_ENV, str(path))
    return path


def imagenet_panel(at):
    return next(e for e in at.expander if "ImageNet" in e.label)


def test_without_the_weights_the_panel_says_in_one_line_how_to_get_them(no_weights):
    at = open_page(PATH["cnn"], fast("cnn"))
    assert not failures(at), failures(at)
    panel = imagenet_panel(at)
    words = " ".join(c.value for c in panel.caption)
    assert controls.escape(backbones.RESNET18_URL) in words and "never downloads" in words
    assert not panel.button, "nothing to run without the weights"


def test_with_the_weights_on_disk_the_page_compares_imagenet_features(weights):
    at = open_page(PATH["cnn"], fast("cnn"))
    assert not failures(at), failures(at)
    assert "ResNet-18 (ImageNet) features" not in " ".join(m.value for m in at.markdown)
    at.button(key="run_imagenet").click().run()
    assert not failures(at), failures(at)
    config = tl_core.make_config("cnn", **fast("cnn"))
    probe = cnn.imagenet_feature_extraction(config)
    result = tl_core.run("cnn", config=config)
    line = next(m.value for m in imagenet_panel(at).markdown if "ResNet-18 (ImageNet)" in m.value)
    assert f"**{100 * probe['target_accuracy']:.0f}%**" in line
    assert f"{100 * result.strategy('feature_extraction').target_metric:.0f}% from the source" in line
    at.run()  # the comparison stays while the settings stay the same
    assert any("ResNet-18 (ImageNet)" in m.value for m in imagenet_panel(at).markdown)


def test_on_uploaded_images_resnet_reads_them_in_colour_at_224(weights):
    from test_app_user_data import own_data, page, shapes_zip, upload

    from tl_core import userdata

    raw = shapes_zip()
    at = upload(own_data(page("cnn", {"n_target": "2"})), "cnn", "shapes.zip", raw)
    panel = imagenet_panel(at)
    assert "your images in colour at 224x224" in " ".join(m.value for m in panel.markdown)
    at.button(key="run_imagenet").click().run()
    assert not failures(at), failures(at)
    config = tl_core.make_config("cnn", **{**fast("cnn"), "n_target": 2})
    probe = cnn.imagenet_feature_extraction(config, data=userdata.read("images", raw, "shapes.zip"))
    line = next(m.value for m in imagenet_panel(at).markdown if "ResNet-18 (ImageNet)" in m.value)
    assert f"**{100 * probe['target_accuracy']:.0f}%** on {probe['n_target_test']} test" in line
