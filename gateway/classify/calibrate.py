"""``tiergate calibrate``: the routing-score threshold that sends a target share to the flagship.

Every prompt of a CSV (a sample of a team's own traffic; a ``prompt`` column, and a ``tier``
column if it is labelled) gets its routing score, ``(rules + p) / 2``; for each target share
the threshold is the score the top ``share`` of them reach. The printed threshold goes into
the policy as ``flagship_threshold``; ``flagship_share_target`` instead reads it off the
model's own reference set, whose mix of prompts may not be the team's.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.classify.classifier import Classifier
from gateway.classify.config import ClassifierConfig
from gateway.classify.learned import FlagshipModel, routing_score
from gateway.classify.learned.model import share_at, threshold_for_share

DEFAULT_TARGETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
FLAGSHIP = "flagship"


@dataclass(frozen=True, slots=True)
class Scored:
    score: float
    label: str | None  # "flagship" / "efficient" when the CSV is labelled


@dataclass(frozen=True, slots=True)
class Calibration:
    target: float
    threshold: float
    share: float  # on the dataset, at the threshold (ties can put it above the target)
    reference_share: float  # on the model's reference set, at the same threshold
    flagship_recall: float | None
    tier_accuracy: float | None

    def to_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "threshold": round(self.threshold, 4),
            "expected_share": round(self.share, 4),
            "reference_share": round(self.reference_share, 4),
            "flagship_recall": _round(self.flagship_recall),
            "tier_accuracy": _round(self.tier_accuracy),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def read_prompts(path: Path) -> list[tuple[str, str | None]]:
    """(prompt, tier or None) per row of a CSV with a ``prompt`` column."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or "prompt" not in reader.fieldnames:
            raise ValueError(f"{path}: needs a header with a 'prompt' column")
        labelled = "tier" in reader.fieldnames
        rows = []
        for number, record in enumerate(reader, start=2):
            prompt = (record.get("prompt") or "").strip()
            if not prompt:
                raise ValueError(f"{path}:{number}: empty prompt")
            tier = (record.get("tier") or "").strip() if labelled else None
            if tier is not None and tier not in (FLAGSHIP, "efficient"):
                raise ValueError(f"{path}:{number}: tier must be flagship or efficient")
            rows.append((prompt, tier))
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def score_rows(classifier: Classifier, rows: Sequence[tuple[str, str | None]]) -> list[Scored]:
    scored = []
    for prompt, label in rows:
        classification = classifier.classify(prompt)
        if classification.flagship_p is None:
            raise ValueError("the classifier's learned model is off (classifier.learned_model)")
        scored.append(
            Scored(routing_score(classification.rules_flagship, classification.flagship_p), label)
        )
    return scored


def calibrate(scored: Sequence[Scored], target: float, model: FlagshipModel) -> Calibration:
    scores = sorted(s.score for s in scored)
    threshold = threshold_for_share(scores, target)
    labelled = [s for s in scored if s.label is not None]
    recall = accuracy = None
    if labelled:
        flagship = [s for s in labelled if s.label == FLAGSHIP]
        hit = sum(s.score >= threshold for s in flagship)
        recall = hit / len(flagship) if flagship else None
        right = sum((s.score >= threshold) == (s.label == FLAGSHIP) for s in labelled)
        accuracy = right / len(labelled)
    return Calibration(
        target=target,
        threshold=threshold,
        share=share_at(scores, threshold),
        reference_share=model.share_at(threshold),
        flagship_recall=recall,
        tier_accuracy=accuracy,
    )


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", type=Path, required=True, help="CSV with a prompt column (tier optional)"
    )
    parser.add_argument(
        "--target",
        type=float,
        action="append",
        default=None,
        help="flagship share to calibrate for, in (0, 1); repeatable (default: 0.1 ... 0.7)",
    )
    parser.add_argument("--policy", type=Path, default=None, help="policy YAML (classifier)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def calibrate_command(args: argparse.Namespace) -> int:
    targets = tuple(args.target) if args.target else DEFAULT_TARGETS
    for target in targets:
        if not 0.0 < target < 1.0:
            raise ValueError(f"--target must be between 0 and 1 (exclusive), got {target}")
    config = ClassifierConfig()
    if args.policy is not None:
        from gateway.policy.loader import load_policy

        config = load_policy(args.policy).classifier
    if not config.learned_model:
        raise ValueError("the policy turns the learned model off (classifier.learned_model)")
    classifier = Classifier.from_config(config)
    rows = read_prompts(args.dataset)
    scored = score_rows(classifier, rows)
    model = FlagshipModel.builtin()
    results = [calibrate(scored, target, model) for target in targets]
    rules_share = sum(s.score >= 0.5 for s in scored) / len(scored)
    default = model.default_score_threshold
    default_share = share_at(sorted(s.score for s in scored), default)
    if args.json:
        payload = {
            "rows": len(scored),
            "rules_share": round(rules_share, 4),
            "default_threshold": default,
            "default_share": round(default_share, 4),
            "targets": [r.to_dict() for r in results],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(_table(len(scored), rules_share, default, default_share, results))
    return 0


def _table(
    rows: int,
    rules_share: float,
    default: float,
    default_share: float,
    results: Sequence[Calibration],
) -> str:
    pct = "{:.1%}".format
    labelled = results and results[0].tier_accuracy is not None
    lines = [
        f"rows: {rows}; the rules alone send {pct(rules_share)} to the flagship, the shipped "
        f"default (threshold {default:.4f}) {pct(default_share)}",
        "",
        "| target share | threshold | share here | share on reference"
        + (" | flagship recall | tier accuracy |" if labelled else " |"),
        "|---:|---:|---:|---:|" + ("---:|---:|" if labelled else ""),
    ]
    for r in results:
        line = (
            f"| {pct(r.target)} | {r.threshold:.4f} | {pct(r.share)} | {pct(r.reference_share)} |"
        )
        if labelled:
            recall = "" if r.flagship_recall is None else pct(r.flagship_recall)
            line += f" {recall} | {pct(r.tier_accuracy or 0.0)} |"
        lines.append(line)
    lines += [
        "",
        f"To route at a {pct(results[0].target)} target on traffic like this, put its "
        "threshold in the policy:",
        "  routing:",
        f"    flagship_threshold: {results[0].threshold:.4f}",
        "(0.5 and below only adds flagship prompts; above 0.5 also sends the rules' flagship "
        "prompts the model doubts to the cheaper tier)",
    ]
    return "\n".join(lines)
