"""Seed usage through the store contract (reserve + settle with ledger and aggregates), and
sum ledger events the way a warehouse would, to check reports against."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from gateway.budget.store import Aggregates, BudgetStore, ReserveRequest
from gateway.usage import RETENTION_SECONDS, day_bucket, success_increments

PROMPT_MIX = (
    # tier, categories, reasons, image tokens per image
    ("flagship", ("photorealism",), ("photorealism:term_dslr",), 1056),
    ("flagship", ("anime",), ("anime:term_manga",), 1056),
    ("efficient", ("headline",), ("headline:quoted_text_2_tokens",), 1056),
    ("efficient", ("mockup",), ("mockup:term_wireframe",), 272),
    ("efficient", ("general",), ("default",), 1056),
)


async def seed_requests(
    store: BudgetStore, team: str, count: int, now: datetime, rng: random.Random
) -> None:
    """`count` settled requests at `now` (the memory store stamps ledger ids with it)."""
    now_ms = int(now.timestamp() * 1000)
    for i in range(count):
        tier, categories, reasons, per_image = rng.choice(PROMPT_MIX)
        n = rng.choice((1, 1, 1, 2, 4))
        text_tokens = rng.randint(8, 60)
        image_tokens = per_image * n
        price = 33 if tier == "flagship" else 19.5
        cost = int(5 * text_tokens + price * image_tokens + 0.5)
        baseline = int(5 * text_tokens + 33 * image_tokens + 0.5)
        latency_ms = rng.uniform(300, 9000) * (1.25 if tier == "flagship" else 1.0)
        downgraded = tier == "efficient" and rng.random() < 0.08
        rid = f"seed-{team}-{now_ms}-{i}-{rng.getrandbits(48):x}"
        await store.reserve(
            ReserveRequest(
                team=team,
                reservation_id=rid,
                estimate_micros=cost,
                windows=(),
                rate_limits=(),
                now_ms=now_ms,
                deadline_ms=now_ms + 60_000,
            )
        )
        increments = success_increments(
            tier=tier,
            images=n,
            cost_micros=cost,
            baseline_micros=baseline,
            text_tokens=text_tokens,
            image_tokens=image_tokens,
            latency_ms=latency_ms,
            categories=categories,
            reasons=reasons,
            downgraded=downgraded,
            fallback=False,
        )
        ledger = {
            "ts_ms": str(now_ms),
            "request_id": rid,
            "team": team,
            "key_id": f"{team}-1",
            "tier": tier,
            "model": tier,
            "classified_tier": "flagship" if downgraded else tier,
            "categories": ";".join(categories),
            "reasons": ",".join(reasons),
            "size": "1024x1024",
            "quality": "medium",
            "n": str(n),
            "status": "ok",
            "text_tokens": str(text_tokens),
            "image_tokens": str(image_tokens),
            "cost_micros": str(cost),
            "baseline_cost_micros": str(baseline),
            "latency_ms": f"{latency_ms:.1f}",
            "usage": "reported",
            "attempts": "1",
            "fallback": "0",
        }
        await store.settle(
            team,
            rid,
            cost,
            now_ms,
            ledger=ledger,
            aggregates=Aggregates(day_bucket(now), increments, RETENTION_SECONDS),
        )


def spend_micros(event: Mapping[str, str]) -> int:
    """How much one ledger event changed spend."""
    if event.get("outcome") == "corrected_after_reap":
        return int(event["actual_micros"]) - int(event["estimate_micros"])
    return int(event.get("cost_micros", "0"))


@dataclass
class LedgerSums:
    cost_micros: int = 0
    baseline_micros: int = 0
    images: int = 0
    requests: int = 0
    tier_cost: Counter[str] = field(default_factory=Counter)
    day_cost: Counter[date] = field(default_factory=Counter)


def ledger_sums(events: Iterable[Mapping[str, str]]) -> LedgerSums:
    """Warehouse-style sums of exported ledger events (each with its `ledger_id`)."""
    sums = LedgerSums()
    for event in events:
        spent = spend_micros(event)
        day = datetime.fromtimestamp(int(event["ledger_id"].split("-")[0]) / 1000, UTC).date()
        sums.cost_micros += spent
        sums.tier_cost[event["tier"]] += spent
        sums.day_cost[day] += spent
        if event.get("outcome") != "corrected_after_reap":
            sums.requests += 1
            sums.images += int(event.get("n", "1"))
            sums.baseline_micros += int(event.get("baseline_cost_micros", "0"))
    return sums
