"""Classifier latency: p50/p99 microseconds over the dev prompts and synthetic prompts.

Run: ``python bench/classify_bench.py [--dataset CSV] [--repeat N]``. Each prompt is timed
``--repeat`` times and its median kept (the box may be shared; medians resist noise); the table
gives p50/p99 over prompts. Synthetic prompts (seeded, up to 1,000 characters) mix photo, anime,
design and quoted-text vocabulary so every code path runs.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.classify import Classifier
from gateway.classify.evaluate import load_dataset

DEV = Path("/work/shared/eval/prompts_dev.csv")
PIECES = [
    "a portrait of an old fisherman", "85mm f/1.4", "shot on Kodak Portra 400", "bokeh",
    "anime style", "1girl, solo, long hair", "in the style of Studio Ghibli", "cel shaded",
    "a landing page UI for a bakery", "minimal flat icon", 'a sign that says "Open Late"',
    'the headline reads "Summer Sale — Everything Must Go Today Only"', "no text",
    "octane render, unreal engine, 8k", "oil painting", "photgraph of a harbor at dawn",
    "写着生日快乐", "アニメ風の少女", "fotografía de la ciudad", "with the words happy birthday",
    "trending on artstation", "highly detailed, sharp focus", "a cozy reading nook",
]  # fmt: skip


def synthetic_prompts(count: int, max_chars: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(count):
        target = rng.randint(20, max_chars)
        parts: list[str] = []
        while sum(len(p) + 2 for p in parts) < target:
            parts.append(rng.choice(PIECES))
        prompts.append(", ".join(parts)[:max_chars])
    return prompts


def measure(classifier: Classifier, prompts: list[str], repeat: int) -> tuple[float, float, float]:
    for prompt in prompts:  # warm-up: regex caches, token memo
        classifier.classify(prompt)
    per_prompt = []
    for prompt in prompts:
        runs = []
        for _ in range(repeat):
            start = time.perf_counter_ns()
            classifier.classify(prompt)
            runs.append((time.perf_counter_ns() - start) / 1000)
        per_prompt.append(statistics.median(runs))
    per_prompt.sort()
    p50 = per_prompt[len(per_prompt) // 2]
    p99 = per_prompt[min(len(per_prompt) - 1, round(0.99 * (len(per_prompt) - 1)))]
    return p50, p99, per_prompt[-1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=DEV)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    classifier = Classifier.from_config()
    suites: list[tuple[str, list[str]]] = []
    if args.dataset.is_file():
        suites.append(
            (f"dev prompts ({args.dataset.name})", [r.prompt for r in load_dataset(args.dataset)])
        )
    suites.append(("synthetic <= 1,000 chars", synthetic_prompts(500, 1000)))
    suites.append(
        ("synthetic 900-1,000 chars", [p for p in synthetic_prompts(800, 1000) if len(p) >= 900])
    )
    print("| prompts | n | p50 us | p99 us | max us |")
    print("|---|---:|---:|---:|---:|")
    for name, prompts in suites:
        p50, p99, worst = measure(classifier, prompts, args.repeat)
        print(f"| {name} | {len(prompts)} | {p50:.0f} | {p99:.0f} | {worst:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
