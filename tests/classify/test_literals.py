"""The shortcuts around the classifier's regexes never change what they find: a pattern
skipped because its required text is absent has no match, scanning from its leading words finds
exactly what ``finditer`` finds, and a long ASCII prompt splits into the regex's tokens."""

from __future__ import annotations

import random
import re

import pytest

from gateway.classify import Classifier, literals
from gateway.classify.normalize import _ASCII_TOKEN, fold_nfkc, tokenize
from gateway.classify.textspans import _RULES

# Fragments around the rules' and patterns' words: words inside words ("essays"), repeats,
# colons, numbers, CJK cues and cues at the very start and end of the text.
FRAGMENTS = [
    "says", "essays", " says ", "reads", "read", " read ", "said", "spells", "states",
    "reading", " saying ", "spelling out", "stating", "the words", "the text", "the title",
    "titled", "captioned", "with", " with the words", "written on it", "printed on",
    "writing", " on ", ":", " : ", "hello", "open late", "a sign", "que dice", "con el texto",
    "mit der aufschrift", "с надписью", "写着", "上面写", "印着", "文字是", "标题为", "生日快乐",
    "と書かれた", "85mm", "50 mm", "f/1.8", "f 2.8", "f1.4", "iso 400", "1/250s", "listing",
    "lists", "labelled", "labeled", "a, b, c and d", "毫米", "ミリ", " ", ", ", "\n", "1", "0",
]  # fmt: skip


def texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14))) for _ in range(count)]


def spans(found: object) -> list[tuple[int, int]]:
    return [m.span() for m in found]  # type: ignore[attr-defined]


def finders() -> list[literals.Finder]:
    patterns = [finder.pattern for _, _, finder, _ in _RULES]
    patterns += [finder.pattern for _, finder, _ in Classifier.from_config()._matcher._compiled]
    # Anchored a bounded distance into the match, and after a lookbehind.
    patterns += [re.compile(r"[0-9]{1,3} ?mm"), re.compile(r"(?<=a)\w{2,4}(?:ld|ed)\b")]
    return [literals.Finder.of(pattern) for pattern in patterns]


def test_finders_find_what_finditer_finds() -> None:
    found = finders()
    assert sum(f.anchors is not None for f in found) >= 7  # the shortcuts are in use
    assert sum(f.anchors is not None and f.most > 0 for f in found) >= 3
    matched = from_leading_words = 0
    for text in texts(20261206, 2000):
        for finder in found:
            expected = spans(finder.pattern.finditer(text))
            assert spans(finder.finditer(text)) == expected, (finder.pattern, text)
            matched += len(expected)
            if finder.anchors is not None and finder.most == 0 and text.isascii():
                from_leading_words += len(expected)
    # The texts exercise the patterns, not just their absence, and the scan from leading
    # words (used on ASCII text) too.
    assert matched > 1000 and from_leading_words > 200


def test_a_pattern_ruled_out_by_its_required_text_has_no_match() -> None:
    found = finders()
    checked = skipped = 0
    for text in texts(7, 2000):
        for finder in found:
            if not finder.needs:
                continue
            checked += 1
            if any(not any(need in text for need in needs) for needs in finder.needs):
                skipped += 1
                assert finder.pattern.search(text) is None, (finder.pattern, text)
    assert checked > 10_000 and skipped > 1_000


@pytest.mark.parametrize(
    ("pattern", "required", "leading", "anchored"),
    [
        (r"[1-9]\d{1,2} ?mm\b", ("mm",), None, (("mm",), 2, 4)),
        (r"f(?<!\wf) ?/ ?\d", ("/",), ("f",), (("f",), 0, 0)),
        (
            r"(?:says|reads|read)\s+(?P<t>\w+)",
            ("says", "reads", "read"),
            ("says", "read"),
            (("says", "reads", "read"), 0, 0),
        ),
        (r"the\s+number\s+\d", ("number",), ("the",), (("the",), 0, 0)),
        (r"(?:ab)?cd", ("cd",), None, (("cd",), 0, 2)),
        (r"x(?:ab|\d)y", ("x",), ("x",), (("x",), 0, 0)),
        (r"\bword", ("word",), None, (("word",), 0, 0)),
        (r"(?i)word", None, None, None),
        (r"\d+", None, None, None),
        (r"(?:ab)+", ("ab",), None, None),
        (r"[1-9]\d ?(?:毫米|ミリ)", ("毫米", "ミリ"), None, (("毫米", "ミリ"), 2, 3)),
        (r"\w+ says", (" says",), None, None),
    ],
)
def test_what_every_match_must_hold(
    pattern: str,
    required: tuple[str, ...] | None,
    leading: tuple[str, ...] | None,
    anchored: tuple[tuple[str, ...], int, int] | None,
) -> None:
    compiled = re.compile(pattern)
    assert literals.required(compiled) == required
    assert literals.leading(compiled) == leading
    assert literals.anchored(compiled) == anchored


def test_a_pattern_needs_each_literal_its_top_level_holds() -> None:
    """The text rule for "reads: …" needs one of its words and a colon; prompts with the word
    and no colon skip it."""
    pattern = re.compile(r"(?:says|reads|saying)\s?:\s?(?P<t>\w+)")
    assert literals.required_all(pattern) == (("says", "reads", "saying"), (":",))
    finder = literals.Finder.of(pattern)
    assert list(finder.finditer("a sign that says open")) == []
    assert [m.group("t") for m in finder.finditer("a sign that says: open")] == ["open"]


def test_spaced_digits_are_joined_as_before() -> None:
    """The spaced-digit check is led by the space now; what it joins is unchanged."""
    old = re.compile(r"\d \d")
    rng = random.Random(3)
    for _ in range(5000):
        text = "".join(rng.choice("12 a.x٣") for _ in range(rng.randint(1, 10)))
        joined = re.sub(r"(?<=\b\d) (?=\d\b)", "", text) if old.search(text) else text
        assert fold_nfkc(text) == joined, repr(text)
    assert fold_nfkc("kodak portra 4 0 0, 1 9 8 8") == "kodak portra 400, 1988"


def test_long_ascii_texts_split_into_the_regex_tokens() -> None:
    """Long ASCII prompts are tokenised by translate-and-split; the tokens are the regex's."""
    rng = random.Random(11)
    alphabet = [chr(i) for i in range(128)] + ["ab", "12", "hello", " ", " , ", "\n"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(150, 600)))
        assert tokenize(text) == _ASCII_TOKEN.findall(text), repr(text)


@pytest.mark.parametrize(
    ("pattern", "touches"),
    [
        (r"[1-9](?<!\w[1-9])\d{1,2} ?mm\b(?! (?:film|movie))", False),
        (r"f(?<!\wf) ?/ ?\d{1,2}(?:\.\d)?\b", False),
        (r"[\w/]+", False),
        (r"listing [^,.;:]{1,40}(?:, [^,.;:]{1,40}){2,8}", True),  # a comma, literally
        (r"[^a]", True),  # a negated class holds the comma
        (r"\W", True),
        (r"a.b", True),
        (r"(?<=,)x", True),  # a lookbehind on the comma
        (r"^foo", True),  # where the text begins: a piece begins elsewhere
        (r"x$", True),
        (r"(?i)abc", True),  # unsure: no answer
    ],
)
def test_which_patterns_a_comma_can_reach(pattern: str, touches: bool) -> None:
    """A pattern that does not touch a comma finds, in a tag list, what it finds in each piece:
    its hits are memoised by piece."""
    assert literals.touches(re.compile(pattern), ",") is touches
