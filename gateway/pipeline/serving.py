"""What serves requests under one policy (its key ring and image service), rebuilt on reload.

A request takes ``live.current`` once and uses that ``Active`` to the end, so a reload
never changes the policy under a request in flight. What outlives a policy (the budget
store, the journal, metrics, the OCR reader, the upstream pools, open circuits) is shared
by the old and the new ``Serving``: budgets and reservations carry over unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.auth import KeyRing
from gateway.classify import Classifier
from gateway.pipeline.service import ImageService
from gateway.policy.live import LivePolicy
from gateway.policy.schema import Policy


@dataclass(frozen=True, slots=True)
class Serving:
    keyring: KeyRing
    service: ImageService
    #: How long an idempotency claim may wait for the request that holds it.
    in_flight_seconds: float


def max_request_seconds(policy: Policy) -> float:
    """Longest a request can take upstream: every tier tried with all its retries."""
    return sum(
        tier.timeout_seconds * (tier.max_retries + 1)
        + tier.max_retry_after_seconds * tier.max_retries
        for tier in policy.tiers.values()
    )


def serving_builder(first: ImageService, grace_seconds: float) -> Callable[[Policy], Serving]:
    """Builds each policy's ``Serving`` from the previous one's service, ``first`` at start."""
    latest = first

    def build(policy: Policy) -> Serving:
        nonlocal latest
        previous = latest
        if policy is previous.policy:
            service = previous
        else:
            classifier = (
                previous.classifier
                if policy.classifier == previous.policy.classifier
                else Classifier.from_config(policy.classifier)
            )
            service = ImageService(
                policy,
                classifier,
                previous.caller.with_policy(policy),
                previous.admission.with_policy(policy),
                previous.clock,
                previous.text_check,
            )
        latest = service
        return Serving(KeyRing(policy), service, max_request_seconds(policy) + grace_seconds)

    return build


def live_serving(
    service: ImageService, grace_seconds: float, path: Path | str | None, text: str | None
) -> LivePolicy[Serving]:
    """The live policy for ``service`` (built on the policy read from ``path``, whose
    content is ``text``; no path when the policy was given as an object)."""
    return LivePolicy(service.policy, serving_builder(service, grace_seconds), path=path, text=text)


__all__ = ["Serving", "live_serving", "max_request_seconds", "serving_builder"]
