"""`tiergate eval --verify`: pass rates per tier and category, from real simulator images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.cli import main

pytestmark = pytest.mark.slow


def test_eval_verify_reports_pass_rates_per_tier_and_category(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "prompts.csv"
    dataset.write_text(
        "prompt\n"
        'A banner with the headline "Summer Sale"\n'  # the efficient profile draws it right
        'A billboard headline "Fresh Coffee Daily"\n'  # ... and garbles this one
        "a photo of a cat on a sofa\n"  # no text: not sent
    )
    assert (
        main(["eval", "--verify", "--dataset", str(dataset), "--start-simulators", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert (result["prompts"], result["with_text"]) == (3, 2)
    rows = {(r["tier"], r["category"]): r for r in result["rows"]}
    assert rows[("flagship", "all")]["pass_rate"] == 1.0
    assert (rows[("efficient", "all")]["checked"], rows[("efficient", "all")]["passed"]) == (2, 1)
    assert rows[("efficient", "headline")]["pass_rate"] == 0.5
