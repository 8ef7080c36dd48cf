"""`tiergate batch submit --wait`, `status` and `results` against a real deployment, and the
README's batch example against `tiergate demo`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.batch.commands import png_name
from tests.batch.conftest import Deployment, jsonl, request_line
from tests.conftest import TEAM_KEYS
from tests.support import REPO, Server, free_port

pytestmark = [pytest.mark.redis, pytest.mark.slow]

PNG = b"\x89PNG\r\n\x1a\n"


def tiergate(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_submit_wait_then_results_writes_one_png_per_custom_id(
    deploy: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = deploy(workers=1)
    rows = [
        request_line("banner/summer", 'A banner with the headline "Summer"'),
        request_line("icon 2", "a flat icon of a paper plane"),
        request_line("bad", "a cat", size="1x1"),
    ]
    source = tmp_path / "campaign.jsonl"
    source.write_bytes(jsonl(rows))
    env = {"TIERGATE_API_KEY": TEAM_KEYS["alpha"]}
    base = ["--base-url", deployment.gateway.url + "/v1"]
    submitted = tiergate("batch", *base, "submit", str(source), "--wait", env=env)
    assert submitted.returncode == 0, submitted.stderr
    batch_id = re.search(r"batch (batch_\w+)", submitted.stdout).group(1)  # type: ignore[union-attr]
    assert "completed" in submitted.stdout and "total 3" in submitted.stdout

    status = tiergate("batch", *base, "status", batch_id, env=env)
    assert "completed 2" in status.stdout and "failed 1" in status.stdout

    out = tmp_path / "images"
    results = tiergate("batch", *base, "results", batch_id, "-o", str(out), env=env)
    assert results.returncode == 0, results.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["banner_summer.png", "icon_2.png", "errors.jsonl"])
    assert all((out / n).read_bytes().startswith(PNG) for n in names if n.endswith(".png"))
    assert '"bad"' in (out / "errors.jsonl").read_text()

    no_key = tiergate("batch", *base, "status", batch_id, env={"TIERGATE_API_KEY": ""})
    assert no_key.returncode == 2 and "TIERGATE_API_KEY" in no_key.stderr
    other_team = tiergate(
        "batch", *base, "status", batch_id, env={"TIERGATE_API_KEY": TEAM_KEYS["demo"]}
    )
    assert other_team.returncode != 0 and "404" in other_team.stderr


def test_png_names_never_leave_the_directory() -> None:
    assert png_name("../../etc/passwd", 0, 1) == "etc_passwd.png"
    assert png_name("a", 1, 3) == "a-2.png"
    assert png_name("...", 0, 1) == "item.png"


def readme_batch_example() -> str:
    text = (REPO / "README.md").read_text()
    after = text.split("A 20-line batch against the demo:", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_batch_example_runs_against_the_demo(tmp_path: Path) -> None:
    port = free_port()
    demo = Server(
        [sys.executable, "-m", "gateway.cli", "demo", "--port", str(port), "--latency-scale", "0"],
        port,
        env={"TIERGATE_STORE": "memory://", "TIERGATE_BLOB_STORE": f"file://{tmp_path}/blobs"},
    )
    with demo:
        script = readme_batch_example().replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        ran = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    assert ran.returncode == 0, ran.stderr
    assert "completed" in ran.stdout and "completed=20, failed=0, total=20" in ran.stdout
    assert "20 images;" in ran.stdout and "'tier': 'efficient'" in ran.stdout
