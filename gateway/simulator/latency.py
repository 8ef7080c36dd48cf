"""Simulated generation latency: a log-normal distribution per profile, pure."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from gateway.simulator.config import Profile

MEDIAN_LATENCY_S: Final[Mapping[Profile, float]] = MappingProxyType(
    {"flagship": 9.0, "efficient": 7.0}
)
"""Median seconds per image request at ``latency_scale`` 1.0 (efficient is ~22% faster)."""

LATENCY_SIGMA: Final = 0.25
"""Sigma of the underlying normal: about two thirds of draws fall within x0.78..x1.28."""


def sample_latency_s(profile: Profile, latency_scale: float, rng: random.Random) -> float:
    """One latency draw in seconds; exactly 0.0 when ``latency_scale`` is 0."""
    if latency_scale < 0:
        raise ValueError("latency_scale must not be negative")
    if latency_scale == 0:
        return 0.0
    median = MEDIAN_LATENCY_S[profile]
    return latency_scale * rng.lognormvariate(math.log(median), LATENCY_SIGMA)
