"""Held-out-style probes: prompts whose intent is implicit (names, jargon, other languages).

The CSVs under ``data/`` were written by hand from domain knowledge, following the labelling
rules of the eval README (including its conventions for tag-style prompts, other languages,
CJK text and look-alikes); none of it comes from the dev set or its sources, and none shares
a prompt with another. Nothing is trained on them (``training/classifier/train.py`` leaves
out any generated prompt that is one of them). They stand in for held-out traffic, so the classifier must
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
    min_accuracy: float = 0.90
    min_recall: float = 0.90
    min_macro_f1: float = 0.80


PROBES = [
    Probe(DATA / "implicit_probe.csv", 120, 110, 8),
    Probe(DATA / "implicit_probe_2.csv", 80, 75, 5),
    # Written before the learned model was trained, in nine languages, then read while the
    # model was designed. Rules and model: 94% / 91% (the misses are names that are ordinary
    # words, "Mob", "Catbus", and unquoted text the rules cut short).
    Probe(
        DATA / "implicit_probe_3.csv",
        150,
        150,
        5,
        min_accuracy=0.93,
        min_recall=0.90,
        min_macro_f1=0.75,
    ),
    # Written 2026-12-06 before the changes it measures, in ten languages; its even rows were
    # read once, at the end (docs/classifier.md). 97% / 95% with the model; 85% / 78% for
    # the rules as they were before it.
    Probe(
        DATA / "implicit_probe_4.csv",
        160,
        160,
        5,
        min_accuracy=0.95,
        min_recall=0.93,
        min_macro_f1=0.80,
    ),
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


def test_tier_accuracy(report: EvalReport, probe: Probe) -> None:
    assert report.tier_accuracy >= probe.min_accuracy


def test_flagship_recall(report: EvalReport, probe: Probe) -> None:
    assert report.flagship_recall >= probe.min_recall


def test_macro_f1(report: EvalReport, probe: Probe) -> None:
    # Categories are the rules' alone (the model says flagship or not, not which category).
    assert report.macro_f1 >= probe.min_macro_f1


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
