"""Second held-out-style probe of implicit intent (names, jargon, other languages, look-alikes).

``data/implicit_probe_2.csv`` was written by hand for this test from domain knowledge, following
the labelling rules of the eval README; it shares no prompt with the dev set, its sources or the
first probe. It stands in for held-out traffic, so the classifier must clear the held-out
targets on its unambiguous rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.classify import Category, Classifier
from gateway.classify.evaluate import EvalReport, evaluate, load_dataset

PROBE = Path(__file__).parent / "data" / "implicit_probe_2.csv"


@pytest.fixture(scope="module")
def report() -> EvalReport:
    return evaluate(load_dataset(PROBE), Classifier.from_config())


def test_probe_covers_the_implicit_groups() -> None:
    rows = load_dataset(PROBE)
    assert len(rows) >= 80
    assert sum(not r.ambiguous for r in rows) >= 75
    for category in Category:
        assert sum(category in r.categories for r in rows) >= 5, category


def test_tier_accuracy(report: EvalReport) -> None:
    assert report.tier_accuracy >= 0.90


def test_flagship_recall(report: EvalReport) -> None:
    assert report.flagship_recall >= 0.90


def test_macro_f1(report: EvalReport) -> None:
    assert report.macro_f1 >= 0.80


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("一张海报，上面写着夏日音乐节，七月二十日，城市公园，门票八十元", Category.TYPOGRAPHY),
        ("店の看板に営業中と書かれている", Category.HEADLINE),
        (
            "a notice board with a list written on it: no running, no diving, no glass bottles, children must be supervised",
            Category.TYPOGRAPHY,
        ),
    ],
)
def test_unquoted_text_rules(prompt: str, expected: Category) -> None:
    assert expected in Classifier.from_config().classify(prompt).categories
