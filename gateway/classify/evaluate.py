"""Score a classifier on a labelled CSV: tier accuracy, recall, per-category F1, cost, latency.

``python -m gateway.classify.evaluate --dataset CSV [--policy P] [--json]`` (also mounted as
``tiergate eval``). Metrics on ``ambiguous=no`` rows unless the key ends in ``_all``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gateway.classify.categories import Category
from gateway.classify.classification import Classification
from gateway.classify.classifier import Classifier, _encoding
from gateway.classify.config import ClassifierConfig
from gateway.classify.learned import FlagshipModel, routing_score

FLAGSHIP = "flagship"
EFFICIENT = "efficient"
#: One 1024x1024 medium image: 1056 image tokens at $33/M (flagship) or $19.50/M (efficient).
DEFAULT_IMAGE_PRICE_MICROS: Mapping[str, float] = {FLAGSHIP: 1056 * 33.0, EFFICIENT: 1056 * 19.5}
#: Prompt text tokens at $5/M on both tiers, in micro-dollars per token.
DEFAULT_TEXT_MICROS_PER_TOKEN: Mapping[str, float] = {FLAGSHIP: 5.0, EFFICIENT: 5.0}


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled prompt."""

    id: str
    prompt: str
    categories: frozenset[Category]
    tier: str
    ambiguous: bool


@dataclass(frozen=True, slots=True)
class CategoryScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class EvalReport:
    """Every metric ``tiergate eval`` prints; ``to_json_dict`` is the ``--json`` output."""

    n: int
    n_unambiguous: int
    tier_accuracy: float
    tier_accuracy_all: float
    flagship_recall: float
    flagship_precision: float
    efficient_recall: float
    flagship_recall_all: float
    per_category: Mapping[Category, CategoryScore]
    macro_f1: float
    cost_saving_vs_all_flagship: float
    oracle_cost_saving: float
    classify_us_p50: float
    classify_us_p99: float

    def to_json_dict(self) -> dict[str, object]:
        return {
            "n": self.n,
            "n_unambiguous": self.n_unambiguous,
            "tier_accuracy": round(self.tier_accuracy, 4),
            "tier_accuracy_all": round(self.tier_accuracy_all, 4),
            "flagship_recall": round(self.flagship_recall, 4),
            "flagship_precision": round(self.flagship_precision, 4),
            "efficient_recall": round(self.efficient_recall, 4),
            "flagship_recall_all": round(self.flagship_recall_all, 4),
            "per_category": {
                c.value: {
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "support": s.support,
                }
                for c, s in self.per_category.items()
            },
            "macro_f1": round(self.macro_f1, 4),
            "cost_saving_vs_all_flagship": round(self.cost_saving_vs_all_flagship, 4),
            "oracle_cost_saving": round(self.oracle_cost_saving, 4),
            "classify_us_p50": round(self.classify_us_p50, 1),
            "classify_us_p99": round(self.classify_us_p99, 1),
        }


def default_tier_of(classification: Classification) -> str:
    """Shipped routing: flagship iff a flagship category fired, or the learned model's
    probability reaches its default threshold."""
    return tier_at(classification, None)


def tier_at(classification: Classification, score_threshold: float | None) -> str:
    """Flagship or efficient at a routing-score threshold (None: the model's default)."""
    rules = classification.rules_flagship
    if classification.flagship_p is None:
        return FLAGSHIP if rules else EFFICIENT
    if score_threshold is None:
        score_threshold = FlagshipModel.builtin().default_score_threshold
    score = routing_score(rules, classification.flagship_p)
    return FLAGSHIP if score >= score_threshold else EFFICIENT


def load_dataset(path: Path | str) -> list[Row]:
    """Read ``id,prompt,source,source_label,categories,tier,ambiguous`` rows."""
    rows: list[Row] = []
    with Path(path).open(encoding="utf-8", newline="") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            try:
                categories = frozenset(
                    Category(c.strip()) for c in record["categories"].split(";") if c.strip()
                )
                tier = record["tier"].strip()
                if tier not in (FLAGSHIP, EFFICIENT):
                    raise ValueError(f"tier must be flagship or efficient, got {tier!r}")
                ambiguous = record["ambiguous"].strip().lower()
                if ambiguous not in ("yes", "no"):
                    raise ValueError(f"ambiguous must be yes or no, got {ambiguous!r}")
            except (KeyError, ValueError) as exc:
                raise ValueError(f"{path}:{number}: {exc}") from exc
            rows.append(Row(record["id"], record["prompt"], categories, tier, ambiguous == "yes"))
    return rows


def _ratio(numerator: int, denominator: int) -> float:
    return numerator / denominator if denominator else 0.0


def _percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _category_scores(
    pairs: Iterable[tuple[frozenset[Category], frozenset[Category]]],
) -> dict[Category, CategoryScore]:
    pairs = list(pairs)
    scores: dict[Category, CategoryScore] = {}
    for category in Category:
        tp = sum(1 for gold, pred in pairs if category in gold and category in pred)
        fp = sum(1 for gold, pred in pairs if category not in gold and category in pred)
        fn = sum(1 for gold, pred in pairs if category in gold and category not in pred)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        scores[category] = CategoryScore(precision, recall, f1, tp + fn)
    return scores


def evaluate(
    rows: Sequence[Row],
    classifier: Classifier,
    tier_of: Callable[[Classification], str] = default_tier_of,
    price_per_tier_micros: Mapping[str, float] = DEFAULT_IMAGE_PRICE_MICROS,
    text_micros_per_token: Mapping[str, float] = DEFAULT_TEXT_MICROS_PER_TOKEN,
) -> EvalReport:
    """Classify every row and score it (latency is the only impure part: it is measured)."""
    predicted: list[tuple[Row, Classification, str]] = []
    latencies_us: list[float] = []
    for row in rows:
        start = time.perf_counter_ns()
        classification = classifier.classify(row.prompt)
        latencies_us.append((time.perf_counter_ns() - start) / 1000)
        predicted.append((row, classification, tier_of(classification)))

    clear = [(r, c, t) for r, c, t in predicted if not r.ambiguous]
    flagship_clear = [t for r, _, t in clear if r.tier == FLAGSHIP]
    efficient_clear = [t for r, _, t in clear if r.tier == EFFICIENT]
    flagship_all = [t for r, _, t in predicted if r.tier == FLAGSHIP]
    predicted_flagship = [r.tier for r, _, t in clear if t == FLAGSHIP]
    per_category = _category_scores((r.categories, c.categories) for r, c, _ in clear)
    supported = [s.f1 for s in per_category.values() if s.support]

    encoding = _encoding(classifier.config.encoding)

    def cost(row: Row, tier: str) -> float:
        text_tokens = len(encoding.encode_ordinary(row.prompt))
        return price_per_tier_micros[tier] + text_micros_per_token[tier] * text_tokens

    all_flagship = sum(cost(r, FLAGSHIP) for r, _, _ in predicted)
    routed = sum(cost(r, t) for r, _, t in predicted)
    oracle = sum(cost(r, r.tier) for r, _, _ in predicted)
    return EvalReport(
        n=len(rows),
        n_unambiguous=len(clear),
        tier_accuracy=_ratio(sum(1 for r, _, t in clear if t == r.tier), len(clear)),
        tier_accuracy_all=_ratio(sum(1 for r, _, t in predicted if t == r.tier), len(predicted)),
        flagship_recall=_ratio(flagship_clear.count(FLAGSHIP), len(flagship_clear)),
        flagship_precision=_ratio(predicted_flagship.count(FLAGSHIP), len(predicted_flagship)),
        efficient_recall=_ratio(efficient_clear.count(EFFICIENT), len(efficient_clear)),
        flagship_recall_all=_ratio(flagship_all.count(FLAGSHIP), len(flagship_all)),
        per_category=per_category,
        macro_f1=statistics.fmean(supported) if supported else 0.0,
        cost_saving_vs_all_flagship=1 - routed / all_flagship if all_flagship else 0.0,
        oracle_cost_saving=1 - oracle / all_flagship if all_flagship else 0.0,
        classify_us_p50=_percentile(latencies_us, 0.50),
        classify_us_p99=_percentile(latencies_us, 0.99),
    )


def format_table(report: EvalReport) -> str:
    """A readable summary of ``report``."""
    pct = "{:.1%}".format
    lines = [
        f"rows: {report.n} ({report.n_unambiguous} unambiguous)",
        "",
        "| metric | unambiguous | all rows |",
        "|---|---:|---:|",
        f"| tier accuracy | {pct(report.tier_accuracy)} | {pct(report.tier_accuracy_all)} |",
        f"| flagship recall | {pct(report.flagship_recall)} | {pct(report.flagship_recall_all)} |",
        f"| flagship precision | {pct(report.flagship_precision)} | |",
        f"| efficient recall | {pct(report.efficient_recall)} | |",
        f"| macro F1 | {report.macro_f1:.3f} | |",
        "",
        "| category | precision | recall | F1 | support |",
        "|---|---:|---:|---:|---:|",
    ]
    for category, s in report.per_category.items():
        lines.append(
            f"| {category.value} | {s.precision:.3f} | {s.recall:.3f} | {s.f1:.3f} | {s.support} |"
        )
    lines += [
        "",
        f"cost saving vs all-flagship: {pct(report.cost_saving_vs_all_flagship)} "
        f"(oracle {pct(report.oracle_cost_saving)})",
        f"classify latency: p50 {report.classify_us_p50:.0f} us, "
        f"p99 {report.classify_us_p99:.0f} us",
    ]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class _PolicyInputs:
    config: ClassifierConfig
    image_micros: Mapping[str, float]
    text_micros_per_token: Mapping[str, float]
    score_threshold: float | None = None


def _policy_inputs(policy_path: Path | None) -> _PolicyInputs:
    """Classifier config and per-tier prices from the lead's policy, or the shipped defaults.

    Isolated so the policy side can change without touching the metrics above.
    """
    defaults = _PolicyInputs(
        ClassifierConfig(), DEFAULT_IMAGE_PRICE_MICROS, DEFAULT_TEXT_MICROS_PER_TOKEN
    )
    if policy_path is None:
        return defaults
    try:
        from gateway.policy.loader import load_policy
    except ImportError:
        print("warning: policy loader unavailable; --policy ignored", file=sys.stderr)
        return defaults
    policy = load_policy(policy_path)
    image: dict[str, float] = dict(DEFAULT_IMAGE_PRICE_MICROS)
    text: dict[str, float] = dict(DEFAULT_TEXT_MICROS_PER_TOKEN)
    for name in (FLAGSHIP, EFFICIENT):
        tier = policy.tiers.get(name)
        if tier is None:
            continue
        tokens = tier.image_tokens.get("1024x1024", {}).get("medium")  # type: ignore[call-overload]
        if tokens is not None:
            image[name] = float(tier.pricing.image_output_per_mtok) * tokens
        text[name] = float(tier.pricing.text_input_per_mtok)
    from gateway.pipeline.routing import score_threshold

    return _PolicyInputs(policy.classifier, image, text, score_threshold(policy))


def add_eval_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``tiergate eval`` options."""
    parser.add_argument("--dataset", type=Path, required=True, help="labelled CSV")
    parser.add_argument(
        "--policy", type=Path, default=None, help="policy YAML (classifier, prices)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--rules-only", action="store_true", help="score the rules alone (no learned model)"
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="instead: send each prompt that asks for text to every tier and report how "
        "often its text reads back right, per tier and category",
    )
    parser.add_argument(
        "--start-simulators", action="store_true", help="with --verify: run both simulators"
    )
    parser.add_argument("--limit", type=int, default=0, help="with --verify: first N rows only")


def eval_command(args: argparse.Namespace) -> int:
    """Run ``tiergate eval``; returns the process exit code."""
    if args.verify:
        from gateway.verify.calibrate import verify_command

        return verify_command(args)
    inputs = _policy_inputs(args.policy)
    config = inputs.config
    if args.rules_only:
        config = config.model_copy(update={"learned_model": False})
    threshold = inputs.score_threshold
    report = evaluate(
        load_dataset(args.dataset),
        Classifier.from_config(config),
        tier_of=lambda c: tier_at(c, threshold),
        price_per_tier_micros=inputs.image_micros,
        text_micros_per_token=inputs.text_micros_per_token,
    )
    print(json.dumps(report.to_json_dict(), indent=2) if args.json else format_table(report))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.classify.evaluate")
    add_eval_arguments(parser)
    return eval_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
