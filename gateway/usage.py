"""What one request adds to its team's daily usage aggregates (pure).

The aggregates are integer counters in one Redis hash per team and UTC day,
updated atomically with the settle. Reports read them; field names are:

    requests, images, cost_micros, baseline_micros, text_tokens, image_tokens
    tier:<tier>:requests|images|cost_micros|latency_ms_sum
    tier:<tier>:latency_le:<bound_ms>   (histogram; bounds in LATENCY_BUCKETS_MS, then "inf")
    cat:<category>:requests
    reason:<code>                        (routing reason codes, e.g. photorealism:term_dslr;
                                          model:flagship_p without its value)
    downgraded, fallbacks, unsettled, unsettled_micros
    source:<source>:requests|images|cost_micros   (background work, e.g. source:batch:…;
                                                   live calls are the rest)
    rejected:budget, rejected:rate, rejected:upstream, rejected:other
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

LATENCY_BUCKETS_MS: tuple[int, ...] = (
    100,
    250,
    500,
    1000,
    2000,
    4000,
    6000,
    8000,
    10000,
    12000,
    16000,
    24000,
    32000,
    60000,
)
RETENTION_SECONDS = 400 * 86_400


def day_bucket(now: datetime) -> str:
    return now.astimezone(UTC).date().isoformat()


def latency_bucket(latency_ms: float) -> str:
    for bound in LATENCY_BUCKETS_MS:
        if latency_ms <= bound:
            return str(bound)
    return "inf"


def success_increments(
    *,
    tier: str,
    images: int,
    cost_micros: int,
    baseline_micros: int,
    text_tokens: int,
    image_tokens: int,
    latency_ms: float,
    categories: Iterable[str],
    reasons: Iterable[str],
    downgraded: bool,
    fallback: bool,
    source: str | None = None,
) -> dict[str, int]:
    fields = {
        "requests": 1,
        "images": images,
        "cost_micros": cost_micros,
        "baseline_micros": baseline_micros,
        "text_tokens": text_tokens,
        "image_tokens": image_tokens,
        f"tier:{tier}:requests": 1,
        f"tier:{tier}:images": images,
        f"tier:{tier}:cost_micros": cost_micros,
        f"tier:{tier}:latency_ms_sum": round(latency_ms),
        f"tier:{tier}:latency_le:{latency_bucket(latency_ms)}": 1,
    }
    for category in categories:
        fields[f"cat:{category}:requests"] = 1
    for reason in reasons:
        # "model:flagship_p=0.87" counts as "model:flagship_p": one counter, not one per value.
        if reason.startswith("model:"):
            reason = reason.split("=", 1)[0]
        fields[f"reason:{reason}"] = fields.get(f"reason:{reason}", 0) + 1
    if downgraded:
        fields["downgraded"] = 1
    if fallback:
        fields["fallbacks"] = 1
    if source is not None:
        fields[f"source:{source}:requests"] = 1
        fields[f"source:{source}:images"] = images
        fields[f"source:{source}:cost_micros"] = cost_micros
    return fields


def _estimated_increments(
    *, tier: str, images: int, estimate_micros: int, baseline_micros: int, categories: Iterable[str]
) -> dict[str, int]:
    """A request charged at its estimate: the actual usage is unknown."""
    fields = {
        "requests": 1,
        "images": images,
        "cost_micros": estimate_micros,
        "baseline_micros": baseline_micros,
        f"tier:{tier}:requests": 1,
        f"tier:{tier}:images": images,
        f"tier:{tier}:cost_micros": estimate_micros,
    }
    for category in categories:
        fields[f"cat:{category}:requests"] = 1
    return fields


def unsettled_increments(
    *, tier: str, images: int, estimate_micros: int, baseline_micros: int, categories: Iterable[str]
) -> dict[str, int]:
    """A reservation the reaper charged at its estimate (its replica died mid-call)."""
    fields = _estimated_increments(
        tier=tier,
        images=images,
        estimate_micros=estimate_micros,
        baseline_micros=baseline_micros,
        categories=categories,
    )
    fields.update(unsettled=1, unsettled_micros=estimate_micros)
    return fields


def cancelled_increments(
    *, tier: str, images: int, estimate_micros: int, baseline_micros: int, categories: Iterable[str]
) -> dict[str, int]:
    """A request cancelled mid-call (client gone, shutdown), charged at its estimate."""
    fields = _estimated_increments(
        tier=tier,
        images=images,
        estimate_micros=estimate_micros,
        baseline_micros=baseline_micros,
        categories=categories,
    )
    fields.update(cancelled=1, cancelled_micros=estimate_micros)
    return fields


def rejection_increments(kind: str) -> dict[str, int]:
    return {"rejected:" + kind: 1}
