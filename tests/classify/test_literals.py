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


def test_scanning_from_the_leading_words_finds_what_finditer_finds() -> None:
    rules = [(rule, leads) for _, _, rule, _, leads in _RULES if leads is not None]
    assert len(rules) >= 5  # the rules that start with a choice of words
    matched = 0
    for text in texts(20261206, 2000):
        for rule, leads in rules:
            expected = spans(rule.finditer(text))
            assert spans(literals.finditer(rule, text, leads)) == expected, (rule, text)
            matched += len(expected)
    assert matched > 1000  # the texts exercise the rules, not just their absence


def test_a_pattern_ruled_out_by_its_required_text_has_no_match() -> None:
    patterns = [rule for _, _, rule, _, _ in _RULES]
    patterns += [regex for _, regex, _, _ in Classifier.from_config()._matcher._compiled]
    checked = skipped = 0
    for text in texts(7, 3000):
        for pattern in patterns:
            needs = literals.required(pattern)
            if needs is None:
                continue
            checked += 1
            if not any(need in text for need in needs):
                skipped += 1
                assert pattern.search(text) is None, (pattern.pattern, text)
    assert checked > 10_000 and skipped > 1_000


@pytest.mark.parametrize(
    ("pattern", "required", "leading"),
    [
        (r"[1-9]\d{1,2} ?mm\b", ("mm",), None),
        (r"f(?<!\wf) ?/ ?\d", ("/",), ("f",)),
        (r"(?:says|reads|read)\s+(?P<t>\w+)", ("says", "reads", "read"), ("says", "read")),
        (r"the\s+number\s+\d", ("number",), ("the",)),
        (r"(?:ab)?cd", ("cd",), None),
        (r"x(?:ab|\d)y", ("x",), ("x",)),
        (r"\bword", ("word",), None),
        (r"(?i)word", None, None),
        (r"\d+", None, None),
        (r"(?:ab)+", ("ab",), None),
        (r"[1-9]\d ?(?:毫米|ミリ)", ("毫米", "ミリ"), None),
    ],
)
def test_what_every_match_must_hold(
    pattern: str, required: tuple[str, ...] | None, leading: tuple[str, ...] | None
) -> None:
    compiled = re.compile(pattern)
    assert literals.required(compiled) == required
    assert literals.leading(compiled) == leading


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
