"""``tiergate eval --verify``: how often each tier draws a dataset's prompt text right.

Every prompt of the CSV (a ``prompt`` column; other columns are ignored) that asks for
text is sent to every tier of the policy, straight to the tier (no budget, no routing:
with real vendors it costs what the calls cost), and each image is read back and scored as
a verified request would be. The table gives the pass rate per tier and category, so an
operator can see whether a category's text is safe on the cheaper tier.
``--start-simulators`` runs the two built-in simulators for it, on free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_simulators() -> list[subprocess.Popen[bytes]]:
    """Both profiles on free ports, named in TIERGATE_SIM_*_PORT for the demo policy."""
    from gateway.commands import wait_http_ok

    procs = []
    for profile in ("efficient", "flagship"):
        port = _free_port()
        os.environ[f"TIERGATE_SIM_{profile.upper()}_PORT"] = str(port)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.simulator",
                "--profile",
                profile,
                "--port",
                str(port),
                "--latency-scale",
                "0",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout_s=60, proc=proc)
    return procs


async def measure(
    prompts: list[str], policy_path: Path | None, concurrency: int = 8
) -> dict[str, Any]:
    from gateway.api.models import ImageGenerationRequest
    from gateway.app import build_backend
    from gateway.classify import Classifier
    from gateway.pipeline.service import upstream_call
    from gateway.policy.loader import load_policy
    from gateway.settings import Settings
    from gateway.verify.check import TextCheck
    from gateway.verify.ocr import OcrReader
    from gateway.verify.plan import requested_text

    policy = load_policy(policy_path)
    classifier = Classifier.from_config(policy.classifier)
    backend = build_backend(Settings(), policy)
    check = TextCheck(OcrReader())
    text = policy.routing.verify.text
    threshold = text.min_similarity if text is not None else 0.85
    checked: Counter[tuple[str, str]] = Counter()
    passed: Counter[tuple[str, str]] = Counter()
    limit = asyncio.Semaphore(concurrency)
    with_text = 0

    async def one(prompt: str, tier: str, categories: list[str], expected: str) -> None:
        async with limit:
            call = upstream_call(policy, tier, ImageGenerationRequest(prompt=prompt))
            result = await backend.generate(call)
            score, _ = await check.score(result, expected)
        for category in categories:
            checked[(tier, category)] += 1
            passed[(tier, category)] += score >= threshold

    jobs = []
    for prompt in prompts:
        classification = classifier.classify(prompt)
        expected = requested_text(classification)
        if not expected.strip():
            continue
        with_text += 1
        categories = ["all", *sorted(str(c) for c in classification.categories)]
        jobs += [one(prompt, tier, categories, expected) for tier in policy.tiers]
    await asyncio.gather(*jobs)
    close = getattr(backend, "aclose", None)
    if close is not None:
        await close()
    check.reader.close()
    rows = [
        {
            "tier": tier,
            "category": category,
            "checked": checked[(tier, category)],
            "passed": passed[(tier, category)],
            "pass_rate": round(passed[(tier, category)] / checked[(tier, category)], 4),
        }
        for tier, category in sorted(checked)
    ]
    return {
        "prompts": len(prompts),
        "with_text": with_text,
        "min_similarity": threshold,
        "rows": rows,
    }


def verify_command(args: argparse.Namespace) -> int:
    with Path(args.dataset).open(encoding="utf-8", newline="") as handle:
        prompts = [row["prompt"] for row in csv.DictReader(handle)]
    if args.limit:
        prompts = prompts[: args.limit]
    saved = {
        k: os.environ.get(k) for k in ("TIERGATE_SIM_EFFICIENT_PORT", "TIERGATE_SIM_FLAGSHIP_PORT")
    }
    children = start_simulators() if args.start_simulators else []
    try:
        result = asyncio.run(measure(prompts, args.policy))
    finally:
        for proc in children:
            proc.terminate()
            proc.wait(timeout=10)
        for name, value in saved.items():  # the ports named the simulators just stopped
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"{result['with_text']} of {result['prompts']} prompts ask for text; pass = similarity "
        f">= {result['min_similarity']}"
    )
    print(f"{'tier':<12}{'category':<14}{'checked':>8}{'passed':>8}{'pass rate':>11}")
    for row in result["rows"]:
        print(
            f"{row['tier']:<12}{row['category']:<14}{row['checked']:>8}{row['passed']:>8}"
            f"{row['pass_rate']:>11.1%}"
        )
    return 0
