"""Long prompts of repeated tags: skipping repeated pieces never changes a classification."""

from __future__ import annotations

import random

import pytest

from gateway.classify import Classifier
from gateway.classify import classifier as classifier_module
from gateway.classify.classifier import distinct_pieces

# Pieces chosen to stress what a dropped repeat could change: negations, "no text" windows,
# phrases, text cues on either side of a comma, CJK terms and cues, weights and line breaks.
PIECES = [
    "masterpiece", " best quality", " (masterpiece:1.2)", " long hair", " long", " hair",
    " depth of field", " depth", " field", " no text", " text", " without any words",
    " text free", " free", " not a photo", " photo", " photograph of a harbour",
    " anime style", " not anime", ' a sign that says "Open Late"', " a sign that says",
    " open late", " with the words happy birthday", " written on it: hello there",
    " titled ", " the title", " poster", " logo", " no", " less", " 1girl", " solo",
    " 无文字", " 写着生日快乐", " 文字", " アニメ風の少女", " 看板に「営業中」と書かれた",
    "\n", " BREAK", " 85mm f/1.4", " bokeh", " ui mockup", " landing page", " headline",
    ' "Summer Sale"', " typography", " no words", " wordless", " minimal flat icon", "",
]  # fmt: skip


def tag_prompt(rng: random.Random) -> str:
    return ",".join(rng.choice(PIECES) for _ in range(rng.randint(1, 60)))


def as_tuple(classifier: Classifier, prompt: str) -> object:
    c = classifier.classify(prompt)
    return (c.categories, dict(c.scores), dict(c.evidence), c.text_spans)


def test_distinct_pieces_drops_only_repeats() -> None:
    prompt = "a, b, a, c, b, " + ", ".join(["x"] * 10)
    assert distinct_pieces(prompt) == "a, b, a, c, x"  # " a" is not "a": spaces are kept
    short = "a, a, a"
    assert distinct_pieces(short) is short  # too few pieces to bother
    unique = ",".join(str(i) for i in range(20))
    assert distinct_pieces(unique) is unique


def test_skipping_repeated_pieces_never_changes_a_classification(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261203)
    prompts = [tag_prompt(rng) for _ in range(1500)]
    fast = [as_tuple(classifier, p) for p in prompts]
    monkeypatch.setattr(classifier_module, "distinct_pieces", lambda text: text)
    reference = [as_tuple(classifier, p) for p in prompts]
    differing = [p for p, a, b in zip(prompts, fast, reference, strict=True) if a != b]
    assert differing == []
    # The set exercises what matters: negated text, spans, several categories.
    assert sum(bool(r[3]) for r in reference) > 100  # type: ignore[index]
    assert len({frozenset(r[0]) for r in reference}) > 5  # type: ignore[index]
