"""The number of seeds behind each point of a sweep: a control of the demo pages and the Compare
page (a sweep's values are tl_core.lecture's, its chart tl_core.plots', its sentences
tl_core.narrate's)."""

from __future__ import annotations

from tl_core import lecture
from tl_core.config import FieldSpec
from tl_core.limits import LIMITS

SWEEP_SEEDS = FieldSpec(
    name="sweep_seeds",
    kind=int,
    default=min(lecture.SWEEP_SEEDS, LIMITS.max_seeds),
    help="seeds per point of the sweeps: each curve is their mean, its band ±1 standard deviation",
    low=1,
    high=min(10, LIMITS.max_seeds),
)
