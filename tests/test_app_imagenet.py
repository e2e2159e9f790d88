"""The CNN page's optional ImageNet comparison: offered only with ResNet-18's weights on disk.

The weights file is one the test writes itself (an untrained ResNet-18's state dict under the
ImageNet file's name): the page's loading and probing code runs for real, nothing is downloaded.
"""

from __future__ import annotations

import pytest
import torch
from test_app_pages import PATH, failures, fast, open_page

import tl_core
from tl_app import imagenet
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


def test_without_the_weights_a_visitor_reads_one_plain_sentence_and_no_server_path(no_weights):
    at = open_page(PATH["cnn"], fast("cnn"))
    assert not failures(at), failures(at)
    panel = imagenet_panel(at)
    (sentence,) = [c.value for c in panel.caption]
    assert sentence == imagenet.NOT_OFFERED
    assert str(backbones.hub_weights_path().parent.parent) not in sentence and "/" not in sentence
    assert not panel.button, "nothing to run without the weights"


def test_prepare_imagenet_fetches_the_weights_with_torchvisions_download(no_weights, tmp_path, monkeypatch):
    """`python -m tl_core prepare --imagenet` asks torchvision for the weights, which its hub
    download keeps where the page looks (faked here: the tests never reach the network)."""
    from torchvision.models import resnet18

    from tl_core import cli

    asked = []

    def download(url, dst, hash_prefix=None, progress=True):  # torch.hub's own, minus the network
        asked.append((url, hash_prefix))
        torch.save(resnet18(weights=None).state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    monkeypatch.setattr(tl_core.api, "prepare", lambda *a, **k: [])
    monkeypatch.setenv("TL_CACHE_DIR", str(tmp_path / "cache"))
    assert cnn.imagenet_unavailable() is not None
    assert cli.main(["prepare", "--imagenet"]) == 0
    assert asked == [(backbones.RESNET18_URL, "f37072fd")], "torchvision's own URL, its hash checked"
    assert cnn.imagenet_unavailable() is None, "the page now offers the comparison"
    assert cli.main(["prepare", "--imagenet"]) == 0 and len(asked) == 1, "once per machine"


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
