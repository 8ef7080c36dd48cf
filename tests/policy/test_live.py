"""LivePolicy against real files: what counts as a change, and what a failed reload keeps."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from gateway.policy.live import LivePolicy, read_policy_file
from tests.conftest import policy_dict


def live_at(path: Path) -> LivePolicy[int]:
    policy, text = read_policy_file(path)
    builds = iter(range(1, 100))
    return LivePolicy(policy, lambda _: next(builds), path=path, text=text)


def test_a_configmap_symlink_swap_is_a_change(tmp_path: Path) -> None:
    # Kubernetes mounts a ConfigMap as policy.yaml -> ..data/policy.yaml, ..data -> ..v1, and
    # updates it by pointing ..data at a new directory: the file itself is never written.
    raw = policy_dict()
    for version, price in (("..v1", 19.5), ("..v2", 25.0)):
        (tmp_path / version).mkdir()
        raw["tiers"]["efficient"]["pricing"]["image_output_per_mtok"] = price
        (tmp_path / version / "policy.yaml").write_text(yaml.safe_dump(raw))
    os.symlink("..v1", tmp_path / "..data")
    os.symlink("..data/policy.yaml", tmp_path / "policy.yaml")
    live = live_at(tmp_path / "policy.yaml")
    assert not live.changed_on_disk()

    os.symlink("..v2", tmp_path / "..data_tmp")
    os.replace(tmp_path / "..data_tmp", tmp_path / "..data")
    assert live.changed_on_disk()
    assert live.reload("watch").status == "reloaded"
    assert live.current.policy.tiers["efficient"].pricing.image_output_per_mtok == 25
    assert live.current.parts == 2  # built once at start, once for the swap


def test_a_broken_file_keeps_the_policy_and_an_unchanged_one_does_nothing(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy_dict()))
    live = live_at(path)
    first = live.current
    assert live.reload("admin").status == "unchanged"
    assert live.current is first

    path.write_text("teams: {}\nrouting: {default_tier: nowhere}\n")
    result = live.reload("signal")
    assert result.status == "failed" and live.current is first
    assert live.last_error is not None and live.last_error.trigger == "signal"
    assert any(line.startswith("tiers:") for line in live.last_error.errors)
    assert live.reloads == {"ok": 0, "failed": 1}

    path.write_text(yaml.safe_dump(policy_dict()))  # the original again: the error clears
    assert live.reload("watch").status == "unchanged"
    assert live.last_error is None
