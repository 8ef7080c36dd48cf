"""``tiergate report`` and ``tiergate export`` against a seeded Redis store."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from gateway.budget import open_store
from gateway.cli import main
from tests.conftest import policy_dict, write_policy
from tests.gateway_harness import delete_prefix
from tests.reports.agreement import today
from tests.reports.seed import ledger_sums, seed_requests
from tests.support import REDIS_URL, require_redis

pytestmark = pytest.mark.redis


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """A Redis store under a unique prefix holding usage of demo and alpha; yields the policy."""
    require_redis()
    prefix = "tgtest-" + uuid.uuid4().hex[:10]
    monkeypatch.setenv("TIERGATE_STORE", REDIS_URL)
    monkeypatch.setenv("TIERGATE_STORE_KEY_PREFIX", prefix)

    async def seed() -> None:
        store = open_store(REDIS_URL, key_prefix=prefix)
        try:
            rng, now = random.Random(3), datetime.now(UTC)
            await seed_requests(store, "demo", 30, now, rng)
            await seed_requests(store, "alpha", 7, now, rng)
        finally:
            await store.close()

    asyncio.run(seed())
    try:
        yield write_policy(tmp_path, yaml.safe_dump(policy_dict()))
    finally:
        asyncio.run(delete_prefix(prefix))


def test_export_writes_one_event_per_line_and_reports_agree(
    seeded: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ledger.jsonl"
    day = today().isoformat()
    assert main(["export", "--since", day, "--out", str(out), "--policy", str(seeded)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(events) == 37 and "exported 37 ledger events" in capsys.readouterr().err
    assert {e["team"] for e in events} == {"demo", "alpha"}
    ids = [e["ledger_id"] for e in events if e["team"] == "demo"]
    assert len(set(ids)) == 30 and ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))

    one = tmp_path / "alpha.jsonl"
    assert (
        main(
            [
                "export",
                "--since",
                day,
                "--until",
                day,
                "--team",
                "alpha",
                "--out",
                str(one),
                "--policy",
                str(seeded),
            ]
        )
        == 0
    )
    alpha = [json.loads(line) for line in one.read_text().splitlines()]
    assert alpha == [e for e in events if e["team"] == "alpha"]

    sums = ledger_sums(e for e in events if e["team"] == "demo")
    report = tmp_path / "demo.json"
    assert (
        main(
            [
                "report",
                "--team",
                "demo",
                "--from",
                day,
                "--to",
                day,
                "--format",
                "json",
                "--out",
                str(report),
                "--policy",
                str(seeded),
            ]
        )
        == 0
    )
    data = json.loads(report.read_text())
    assert data["totals"]["cost"]["micros"] == sums.cost_micros
    assert data["totals"]["baseline"]["micros"] == sums.baseline_micros


def test_report_all_teams_in_every_format(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = today().isoformat()
    args = ["report", "--all", "--from", day, "--to", day, "--policy", str(seeded)]
    assert main([*args, "--format", "json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert {r["team"]: r["totals"]["requests"] for r in reports} == {
        "demo": 30,
        "alpha": 7,
        "beta": 0,
    }

    assert main([*args, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    totals = {r["team"]: int(r["cost_micros"]) for r in rows if r["date"] == "total"}
    assert totals == {r["team"]: r["totals"]["cost"]["micros"] for r in reports}

    assert main([*args, "--format", "md"]) == 0
    assert capsys.readouterr().out.count("# tiergate report: team") == 3
    assert main([*args, "--format", "html"]) == 0
    assert capsys.readouterr().out.count("<section class='team'") == 3


def test_cli_errors(seeded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    day = today().isoformat()
    assert (
        main(["report", "--team", "nobody", "--from", day, "--to", day, "--policy", str(seeded)])
        == 2
    )
    assert "unknown team 'nobody'" in capsys.readouterr().err
    assert (
        main(
            [
                "report",
                "--team",
                "demo",
                "--from",
                day,
                "--to",
                "2000-01-01",
                "--policy",
                str(seeded),
            ]
        )
        == 2
    )
    assert main(["export", "--since", day, "--until", "2000-01-01", "--policy", str(seeded)]) == 2
    with pytest.raises(SystemExit):
        main(["report", "--team", "demo", "--from", "tomorrow", "--to", day])
