"""Held-out-style probes: prompts whose intent is implicit (names, jargon, other languages).

Both CSVs under ``data/`` were written by hand from domain knowledge, following the labelling
rules of the eval README (including its conventions for tag-style prompts, other languages,
CJK text and look-alikes); none of it comes from the dev set or its sources, and the second
shares no prompt with the first. They stand in for held-out traffic, so the classifier must
clear the held-out targets on their unambiguous rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from gateway.classify import Category, Classifier
from gateway.classify.evaluate import EvalReport, evaluate, load_dataset

DATA = Path(__file__).parent / "data"


class Probe(NamedTuple):
    path: Path
    min_rows: int
    min_unambiguous: int
    min_per_category: int


PROBES = [
    Probe(DATA / "implicit_probe.csv", 120, 110, 8),
    Probe(DATA / "implicit_probe_2.csv", 80, 75, 5),
]


@pytest.fixture(scope="module", params=PROBES, ids=lambda p: p.path.stem)
def probe(request: pytest.FixtureRequest) -> Probe:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def report(probe: Probe) -> EvalReport:
    return evaluate(load_dataset(probe.path), Classifier.from_config())


def test_probe_covers_the_implicit_groups(probe: Probe) -> None:
    rows = load_dataset(probe.path)
    assert len(rows) >= probe.min_rows
    assert sum(not r.ambiguous for r in rows) >= probe.min_unambiguous
    for category in Category:
        assert sum(category in r.categories for r in rows) >= probe.min_per_category, category


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
