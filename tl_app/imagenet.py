"""The CNN page's optional comparison: features from a ResNet-18 trained on ImageNet.

Offered only when the weights file is already on disk (torch hub's cache, or the file the host
names in TL_RESNET18_WEIGHTS); otherwise the panel says in one plain sentence that this server
does not offer it. Where the file goes and how a host gets it is in the README ("ImageNet
comparison"), never on the page: a visitor has no use for the server's paths. Nothing is
downloaded. The work runs on a button, like a sweep, and stays on screen while the settings stay
the same.
"""

from __future__ import annotations

import streamlit as st

from tl_app import cached, controls
from tl_core import narrate
from tl_core.result import RunResult
from tl_core.userdata import UserData

NOT_OFFERED = (
    "This server does not offer the ImageNet comparison: the ResNet-18 weights it needs are "
    "not installed here (its host can add them, as the project's README says)."
)


def offered(module) -> bool:
    return module.OFFERS.imagenet is not None


def section(demo: str, module, config, result: RunResult, data: UserData | None) -> None:
    with st.expander("Compare: features from ImageNet (ResNet-18)", icon=":material/photo_library:"):
        if module.OFFERS.imagenet.unavailable():
            st.caption(NOT_OFFERED)
            return
        what = "your images in colour at 224x224" if data is not None else "the digits scaled to 32x32"
        st.markdown(
            "A ResNet-18 trained on ImageNet's photos, frozen, reads the same target "
            f"({what}); a logistic-regression head learns from the same labelled "
            "samples. Do photos' features carry over better than the source task's?"
        )
        work = repr(
            (
                "imagenet",
                demo,
                sorted(config.to_dict().items()),
                data.fingerprint if data is not None else None,
            )
        )
        if not controls.requested(work, "Run ResNet-18 feature extraction", key="run_imagenet"):
            return
        probe = cached.imagenet_probe(demo, config.to_dict(), **cached.with_data(data))
        st.markdown(comparison(probe, result))


def comparison(probe: dict, result: RunResult) -> str:
    """One sentence: ImageNet's features against the source model's own feature extraction."""
    ours = {s.strategy: s.target_metric for s in result.strategies}.get("feature_extraction")
    line = (
        "ResNet-18 (ImageNet) features: target accuracy "
        f"**{narrate.fmt(probe['target_accuracy'], 'accuracy')}** "
        f"on {probe['n_target_test']} test samples"
    )
    if ours is None:
        return line + "."
    return line + f", against {narrate.fmt(ours, 'accuracy')} from the source model's own features."
