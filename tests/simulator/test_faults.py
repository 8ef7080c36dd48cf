from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.simulator.config import FaultSettings, SimulatorConfig
from gateway.simulator.faults import FaultController, FaultKind, choose_fault

LAID_OUT = FaultSettings(
    error_rate=0.1,
    rate_limit_rate=0.1,
    hang_rate=0.1,
    slow_body_rate=0.1,
    malformed_rate=0.1,
    reset_rate=0.1,
)


@pytest.mark.parametrize(
    ("draw", "kind"),
    [
        (0.0, FaultKind.ERROR),
        (0.099, FaultKind.ERROR),
        (0.1, FaultKind.RATE_LIMIT),
        (0.25, FaultKind.HANG),
        (0.35, FaultKind.SLOW_BODY),
        (0.45, FaultKind.MALFORMED),
        (0.55, FaultKind.RESET),
        (0.6, FaultKind.NONE),
        (0.999, FaultKind.NONE),
    ],
)
def test_choose_fault_lays_the_rates_end_to_end(draw: float, kind: FaultKind) -> None:
    assert choose_fault(LAID_OUT, draw) is kind


def test_zero_rates_never_fault_and_a_full_rate_always_does() -> None:
    assert choose_fault(FaultSettings(), 0.0) is FaultKind.NONE
    assert choose_fault(FaultSettings(reset_rate=1.0), 0.9999) is FaultKind.RESET


def test_rates_must_fit_in_one_draw() -> None:
    with pytest.raises(ValidationError, match=r"sum to 1\.2"):
        FaultSettings(error_rate=0.7, hang_rate=0.5)


def test_unknown_fault_fields_are_refused() -> None:
    with pytest.raises(ValidationError, match="extra"):
        FaultSettings.model_validate({"eror_rate": 0.5})


def test_fail_next_counts_down_before_any_random_fault() -> None:
    faults = FaultController(FaultSettings(fail_next=2, rate_limit_rate=1.0))
    assert [faults.next_fault() for _ in range(3)] == [
        FaultKind.FAIL_NEXT,
        FaultKind.FAIL_NEXT,
        FaultKind.RATE_LIMIT,
    ]
    assert faults.settings.fail_next == 0


def test_a_seed_makes_the_draws_repeatable_and_reset_restarts_them() -> None:
    faults = FaultController(FaultSettings(error_rate=0.5, fault_seed=42))
    first = [faults.next_fault() for _ in range(50)]
    assert FaultKind.ERROR in first and FaultKind.NONE in first
    faults.reset()
    assert [faults.next_fault() for _ in range(50)] == first
    again = FaultController(FaultSettings(error_rate=0.5, fault_seed=42))
    assert [again.next_fault() for _ in range(50)] == first


def test_update_is_partial_and_validated() -> None:
    faults = FaultController(FaultSettings(error_rate=0.2))
    assert faults.update({"retry_after_s": 3}).error_rate == 0.2
    assert faults.settings.retry_after_s == 3
    with pytest.raises(ValidationError):
        faults.update({"error_rate": 2.0})
    assert faults.settings.error_rate == 0.2  # unchanged after a bad update
    faults.update({"error_rate": 0.0})
    assert faults.next_fault() is FaultKind.NONE
    assert faults.reset() == FaultSettings(error_rate=0.2)


def test_a_new_seed_reseeds() -> None:
    faults = FaultController(FaultSettings(error_rate=0.5, fault_seed=1))
    faults.update({"fault_seed": 9})
    seeded = [faults.next_fault() for _ in range(30)]
    fresh = FaultController(FaultSettings(error_rate=0.5, fault_seed=9))
    assert [fresh.next_fault() for _ in range(30)] == seeded


def test_simulator_config_starts_from_its_fault_fields() -> None:
    config = SimulatorConfig(profile="efficient", error_rate=0.25, fail_next=1)
    assert config.fault_settings() == FaultSettings(error_rate=0.25, fail_next=1)
    with pytest.raises(ValidationError):
        SimulatorConfig(latency_scale=-1)
