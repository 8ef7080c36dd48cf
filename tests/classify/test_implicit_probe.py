"""Held-out-style probe: prompts whose intent is implicit (names, jargon, other languages).

``data/implicit_probe.csv`` was written by hand for this test from domain knowledge, following
the labelling rules of the eval README (including its conventions for tag-style prompts, other
languages, CJK text and look-alikes); none of it comes from the dev set or its sources. It
stands in for held-out traffic, so the classifier must clear the held-out targets on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.classify import Category, Classifier
from gateway.classify.evaluate import EvalReport, evaluate, load_dataset

PROBE = Path(__file__).parent / "data" / "implicit_probe.csv"


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return evaluate(load_dataset(PROBE), Classifier.from_config())


def test_probe_covers_the_implicit_groups() -> None:
    rows = load_dataset(PROBE)
    assert len(rows) >= 120
    assert sum(not r.ambiguous for r in rows) >= 110
    for category in Category:
        assert sum(category in r.categories for r in rows) >= 8, category


def test_tier_accuracy(report: EvalReport) -> None:
    assert report.tier_accuracy >= 0.90


def test_flagship_recall(report: EvalReport) -> None:
    assert report.flagship_recall >= 0.90


def test_macro_f1(report: EvalReport) -> None:
    assert report.macro_f1 >= 0.80
