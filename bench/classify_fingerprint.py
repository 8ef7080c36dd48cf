"""Every classifier output on a fixed set of prompts, as one line each, to compare two commits.

Run: ``python bench/classify_fingerprint.py > after.txt``; then copy this file into a worktree
of the commit before (``git worktree add /tmp/base HEAD~1``) and run that copy, which classifies
with the worktree's package (``classify_bench`` puts its own checkout first on the path):
``python /tmp/base/bench/classify_fingerprint.py > before.txt; diff before.txt after.txt``.
A speed change to the classifier must leave the file unchanged:
categories, scores, evidence, text spans and the learned model's probability, on the dev set,
the probe sets, every ``classify_bench`` suite (its seeded variants included) and generated tag
lists with negations, quotes, numbers, spaced digits and CJK text.
"""

from __future__ import annotations

import csv
import hashlib
import os
import random
import sys
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import classify_bench as bench  # noqa: E402  (puts this checkout first on sys.path)

from gateway.classify import Classifier, ClassifierConfig  # noqa: E402

PROBES = HERE.parent / "tests" / "classify" / "data"
EXTRA = [
    "no text, 1girl, solo, a sign that says OPEN, 50mm, f/1.8, iso 400, 1/250 s",
    "tags, 1 9 8 8, portra 4 0 0, shot on 35 mm, (masterpiece:1.2), lists a, b, c and d",
    "a poster that reads: Summer Sale, essays on art, titled Dawn, the number 42",
    "menu listing coffee, tea, cake, and pie, with the words grand opening written on it",
    "海报上写着“夏日特惠”，8k分辨率，50毫米",
    "看板に「営業中」と書かれた小さな食堂、50ミリ",
    "una tienda con un letrero que dice abierto, mit der aufschrift willkommen",
]


def prompts() -> list[str]:
    found: list[str] = []
    dev = bench.DEV
    if dev.is_file():
        with dev.open(newline="", encoding="utf-8") as f:
            found += [row["prompt"] for row in csv.DictReader(f)]
    for path in sorted(PROBES.glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            found += [row["prompt"] for row in csv.DictReader(f) if row.get("prompt")]
    rng = random.Random(17)
    for name, suite in bench.suites(dev).items():
        variant = bench.variant_of(name)
        found += [variant(p, rng) if variant else p for p in suite]
    for _ in range(300):
        tags = bench.tag_prompt(rng, 200, 2000).split(", ")
        for _ in range(rng.randint(1, 4)):
            tags.insert(rng.randrange(len(tags) + 1), rng.choice(EXTRA))
        found.append(", ".join(tags))
    return found + EXTRA


def main() -> int:
    classifier = Classifier.from_config(ClassifierConfig(learned_model=True))
    digest = hashlib.sha256()
    for prompt in prompts():
        c = classifier.classify(prompt)
        line = repr(
            (
                sorted(c.categories),
                sorted((k, round(v, 12)) for k, v in c.scores.items()),
                sorted(c.evidence.items()),
                c.text_spans,
                None if c.flagship_p is None else round(c.flagship_p, 12),
            )
        )
        digest.update(line.encode())
        print(line)
    print(f"sha256 {digest.hexdigest()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
