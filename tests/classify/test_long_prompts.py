"""Long prompts of tags: scanning them piece by piece (memoised) never changes a
classification against scanning the whole prompt."""

from __future__ import annotations

import random

import pytest

from gateway.classify import Classifier
from gateway.classify import classifier as classifier_module

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
    " iso 400", " 1/250s", " 50毫米", " 35mm", " a menu listing tea", " coffee", " cake and pie",
]  # fmt: skip


def tag_prompt(rng: random.Random) -> str:
    return ",".join(rng.choice(PIECES) for _ in range(rng.randint(1, 60)))


def as_tuple(classifier: Classifier, prompt: str) -> object:
    c = classifier.classify(prompt)
    return (c.categories, dict(c.scores), dict(c.evidence), c.text_spans)


def test_scanning_by_pieces_never_changes_a_classification(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(20261203)
    prompts = [tag_prompt(rng) for _ in range(1500)]
    cold = [as_tuple(Classifier.from_config(), p) for p in prompts[:200]]  # empty memo
    fast = [as_tuple(classifier, p) for p in prompts]
    assert fast[:200] == cold
    # The reference scans every prompt whole, repeats and all.
    monkeypatch.setattr(classifier_module, "_MIN_PIECES", 10**9)
    reference = [as_tuple(classifier, p) for p in prompts]
    differing = [p for p, a, b in zip(prompts, fast, reference, strict=True) if a != b]
    assert differing == []
    # The set exercises what matters: negated text, spans, several categories.
    assert sum(bool(r[3]) for r in reference) > 100  # type: ignore[index]
    assert len({frozenset(r[0]) for r in reference}) > 5  # type: ignore[index]


def test_fast_nfkc_is_nfkc() -> None:
    import unicodedata

    from gateway.classify.normalize import nfkc

    rng = random.Random(7)
    # ASCII, CJK punctuation and kana (with combining marks), full-width forms, ideographs,
    # combining accents, Latin letters with accents, enclosed alphanumerics.
    pools = [
        range(0x20, 0x7F), range(0x3000, 0x3100), range(0xFF00, 0xFFF0), range(0x4E00, 0x4E80),
        range(0x300, 0x370), range(0xC0, 0x180), range(0x2460, 0x24FF),
    ]  # fmt: skip
    for _ in range(20_000):
        text = "".join(chr(rng.choice(rng.choice(pools))) for _ in range(rng.randint(1, 12)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)


def test_text_hits_memoised_by_piece_count_as_on_the_whole_prompt(
    classifier: Classifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Patterns and CJK terms found piece by piece count once per occurrence of the piece, as
    on the whole text; a pattern that spans pieces (a list of items) is still found."""
    tags = ["masterpiece", "best quality", "1girl", "solo", "long hair", "smile", "outdoors"]
    pieces = [*tags, "a menu listing tea", "coffee", "cake and pie", "85mm", "iso 400"]
    prompts = [
        ", ".join(pieces),
        ", ".join([*pieces, "85mm", "写着生日快乐", "85mm", "写着生日快乐"]),
        ", ".join([*tags, "50毫米", "f/2.8", "1/250s", "50毫米", "no text", "85mm film"]),
    ]
    fast = [as_tuple(classifier, p) for p in prompts]
    assert any("listing:" in e for e in fast[0][2]["typography"])  # type: ignore[index]
    monkeypatch.setattr(classifier_module, "_MIN_PIECES", 10**9)
    assert fast == [as_tuple(classifier, p) for p in prompts]
