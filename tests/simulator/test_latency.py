from __future__ import annotations

import random
import statistics

import pytest

from gateway.simulator.latency import MEDIAN_LATENCY_S, sample_latency_s


def _median_of_draws(profile: str, draws: int = 20_000) -> float:
    rng = random.Random(1234)
    return statistics.median(sample_latency_s(profile, 1.0, rng) for _ in range(draws))  # type: ignore[arg-type]


def test_medians_match_the_profiles() -> None:
    assert _median_of_draws("flagship") == pytest.approx(9.0, rel=0.02)
    assert _median_of_draws("efficient") == pytest.approx(7.0, rel=0.02)


def test_efficient_is_about_22_percent_faster_than_flagship() -> None:
    ratio = _median_of_draws("efficient") / _median_of_draws("flagship")
    assert 1 - ratio == pytest.approx(0.22, abs=0.02)
    assert MEDIAN_LATENCY_S["efficient"] / MEDIAN_LATENCY_S["flagship"] == pytest.approx(
        0.78, abs=0.01
    )


def test_spread_is_log_normal_with_sigma_about_a_quarter() -> None:
    rng = random.Random(7)
    draws = sorted(sample_latency_s("flagship", 1.0, rng) for _ in range(20_000))
    p16, p84 = draws[int(0.16 * len(draws))], draws[int(0.84 * len(draws))]
    # one sigma either side of the median: x exp(-0.25) .. x exp(0.25)
    assert p16 == pytest.approx(9.0 * 0.7788, rel=0.03)
    assert p84 == pytest.approx(9.0 * 1.2840, rel=0.03)


def test_latency_scale_multiplies_the_draw() -> None:
    plain = sample_latency_s("flagship", 1.0, random.Random(5))
    assert sample_latency_s("flagship", 0.01, random.Random(5)) == pytest.approx(plain * 0.01)


def test_zero_scale_is_exactly_zero_and_consumes_no_randomness() -> None:
    rng = random.Random(5)
    state = rng.getstate()
    assert sample_latency_s("efficient", 0.0, rng) == 0.0
    assert rng.getstate() == state


def test_negative_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        sample_latency_s("flagship", -1.0, random.Random(0))
