"""An optional ImageNet backbone: torchvision's ResNet-18 as a frozen feature extractor.

Nothing is ever downloaded. The backbone is offered only when its weights file is already on
disk: a path given by the caller, else the file named by the environment variable
``TL_RESNET18_WEIGHTS`` (set by whoever runs the server, never by a visitor), else torch hub's
cache (``~/.cache/torch/hub/checkpoints/resnet18-f37072fd.pth``, where
``torchvision.models.resnet18(weights="DEFAULT")`` puts it). Otherwise
:func:`resnet18_unavailable` says in one line how to get it.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = f"https://download.pytorch.org/models/{RESNET18_FILE}"
WEIGHTS_ENV = "TL_RESNET18_WEIGHTS"
# ImageNet's channel means and standard deviations, which the weights were trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def hub_weights_path() -> Path:
    """Where torch hub keeps ResNet-18's ImageNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE


def resnet18_weights_path(path: str | os.PathLike | None = None) -> Path | None:
    """The weights file to use, or None when none is on disk."""
    candidates = [path] if path is not None else [os.environ.get(WEIGHTS_ENV), hub_weights_path()]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def resnet18_unavailable(path: str | os.PathLike | None = None) -> str | None:
    """None when the weights are on disk; else one line saying how to get them."""
    if resnet18_weights_path(path) is not None:
        return None
    where = str(path) if path is not None else str(hub_weights_path())
    return (
        f"ImageNet ResNet-18 weights not found at {where}: download {RESNET18_URL} there "
        f"(or set {WEIGHTS_ENV} to the file); Transfer Lab never downloads."
    )


def fetch_resnet18_weights() -> Path:
    """Download ResNet-18's ImageNet weights with torchvision's own download into torch hub's
    cache (checked against the file's published hash), where the pages find them. For a host's
    `python -m tl_core prepare --imagenet`, on a machine with the network; the app never calls it."""
    from torchvision.models import ResNet18_Weights

    if resnet18_weights_path() is None:
        ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=True, check_hash=True)
    found = resnet18_weights_path()
    if found is None:
        raise ValueError(
            f"torchvision's download did not leave {RESNET18_FILE} in {hub_weights_path().parent}"
        )
    return found


class ResNet18Features(nn.Module):
    """Frozen ImageNet ResNet-18 up to its pooled 512 features.

    Input: [N, 1, H, W] grey ink in 0..1 (copied to three channels) or [N, 3, H, W] RGB in 0..1,
    resized to `size` x `size` (bilinear) and normalised with ImageNet's statistics.
    Output: [N, 512].
    """

    def __init__(self, resnet: nn.Module, size: int = 32):
        super().__init__()
        resnet.fc = nn.Identity()
        self.resnet = resnet.eval()
        for p in self.resnet.parameters():
            p.requires_grad_(False)
        self.size = size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        x = (x.expand(-1, 3, -1, -1) - self.mean) / self.std
        return self.resnet(x)

    def train(self, mode: bool = True) -> ResNet18Features:
        # Stays in eval mode: BatchNorm keeps ImageNet's running statistics.
        return super().train(False)


def load_resnet18(path: str | os.PathLike | None = None, size: int = 32) -> ResNet18Features:
    """The frozen ImageNet feature extractor, from a weights file already on disk.

    Raises FileNotFoundError with :func:`resnet18_unavailable`'s message when there is none.
    The file is read with ``torch.load(..., weights_only=True)``: tensors only, no code.
    """
    from torchvision.models import resnet18

    found = resnet18_weights_path(path)
    if found is None:
        raise FileNotFoundError(resnet18_unavailable(path))
    model = resnet18(weights=None)
    state = torch.load(found, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return ResNet18Features(model, size)


@torch.inference_mode()
def extract_features(backbone: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Backbone features of `x`, computed in chunks so memory stays bounded."""
    backbone.eval()
    return torch.cat([backbone(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
