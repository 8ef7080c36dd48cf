"""Literal text the image must render: quoted spans and unquoted "that says …" spans.

A quoted phrase counts when a render cue is near it (``says``, ``written``, ``the text``,
``title``…) or the prompt is about a text-bearing object (a sign, poster, logo, menu…), and not
when it is a title being referred to (``a still from "Akira"``). Unquoted spans come from cue
patterns (``a sign that says open late``, ``with the words happy birthday``, ``写着生日快乐``).
Every regex here is linear: bounded repetitions and no nested quantifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.classify import literals
from gateway.classify.normalize import count_cjk
from gateway.classify.textcues import (
    ANY_QUOTE,
    LEADING_NOUNS,
    QUOTES,
    REFERENCE_PHRASES,
    REFERENCE_WORDS,
    RENDER_CUE_CJK,
    RENDER_CUE_WORDS,
    STOP_WORDS,
    TEXT_OBJECT_CJK,
    TEXT_OBJECT_WORDS,
    UNQUOTED_RULES,
)

_ASCII_WORD = re.compile(r"[a-z]+")
_CUE_WINDOW_BEFORE = 48
_CUE_WINDOW_AFTER = 32
_WORD = re.compile(r"[^\W_]+")
_MAX_UNQUOTED_WORDS = 16


#: UNQUOTED_RULES with their ASCII triggers apart (an ASCII prompt cannot hold the others) and
#: their finders: a rule that starts with a choice of words is tried only where one begins.
_RULES = tuple(
    (triggers, tuple(t for t in triggers if t.isascii()), literals.Finder.of(rule), before)
    for triggers, rule, before in UNQUOTED_RULES
)


@dataclass(frozen=True, slots=True)
class TextSpan:
    """A piece of literal text the image must render."""

    text: str
    token_count: int
    word_count: float
    quoted: bool


@dataclass(frozen=True, slots=True)
class RawSpan:
    """A span before token counting: text and its character range in the prompt."""

    text: str
    start: int
    end: int
    quoted: bool


def word_count(text: str, cjk_chars_per_word: float) -> float:
    """Words in ``text``; Chinese/Japanese characters count ``1/cjk_chars_per_word`` each."""
    if text.isascii():
        return float(len(_WORD.findall(text)))
    cjk = count_cjk(text)
    if not cjk:
        return float(len(_WORD.findall(text)))
    latin = len(_WORD.findall(re.sub(r"[^\x00-\u2fff]", " ", text)))
    return latin + cjk / cjk_chars_per_word


def _has_render_cue(window: str) -> bool:
    if not RENDER_CUE_WORDS.isdisjoint(_ASCII_WORD.findall(window.lower())):
        return True
    return not window.isascii() and any(cue in window for cue in RENDER_CUE_CJK)


def _is_reference(before: str) -> bool:
    lowered = before[-30:].lower().rstrip(" \t,:")
    if lowered.endswith(REFERENCE_PHRASES):
        return True
    words = lowered.rsplit(None, 2)[-2:]
    if words and words[-1] == "the":
        words = words[:-1]
    return bool(words) and words[-1].strip("\"'(,") in REFERENCE_WORDS


def _quote_counts(prompt: str, start: int, end: int, has_text_object: bool) -> bool:
    before = prompt[max(0, start - _CUE_WINDOW_BEFORE) : start]
    if _is_reference(before) and not _has_render_cue(before[-16:]):
        return False
    return (
        has_text_object
        or _has_render_cue(before)
        or _has_render_cue(prompt[end : end + _CUE_WINDOW_AFTER])
    )


def _word_before(text: str, index: int) -> str:
    """The lower-case word that ends right before ``index`` (skipping spaces)."""
    head = text[max(0, index - 24) : index].rstrip()
    parts = head.rsplit(None, 1)
    return parts[-1] if parts else ""


def _trim_unquoted(text: str) -> str:
    text = LEADING_NOUNS.sub("", text.strip())
    words = text.split()
    kept: list[str] = []
    for word in words[:_MAX_UNQUOTED_WORDS]:
        if kept and word.lower() in STOP_WORDS:
            break
        kept.append(word)
    return " ".join(kept)


def piece_rules(pieces: list[str]) -> list[frozenset[int]]:
    """For each piece of a normalised prompt, the unquoted-text rules (indexes into
    ``_RULES``) it could trigger. Normalising keeps every trigger a lowered prompt holds (it
    lowers ASCII and leaves the CJK triggers as they are; what it adds can only trigger
    more), and no trigger holds a comma: so over a prompt's comma-separated pieces, these
    are all the rules its lowered text triggers, and perhaps a few that then find nothing.

    The triggers are looked for once in all the pieces joined (a few C-speed scans), and
    only the rules found there are looked for piece by piece.
    """
    joined = ",".join(pieces)
    present = [
        (index, triggers)
        for index, (triggers, _, _, _) in enumerate(_RULES)
        if any(map(joined.__contains__, triggers))
    ]
    if not present:
        return [frozenset()] * len(pieces)
    return [
        frozenset(index for index, triggers in present if any(map(piece.__contains__, triggers)))
        for piece in pieces
    ]


def find_text_spans(
    prompt: str, words: frozenset[str] | set[str], rules: frozenset[int] | None = None
) -> list[RawSpan]:
    """Literal-text spans in ``prompt`` (NFKC-normalised, original case), in order.

    ``words`` are the prompt's normalised tokens (to spot text-bearing objects cheaply);
    ``rules``, if given, the unquoted-text rules worth running (``piece_rules``): the others'
    triggers are not looked for.
    """
    spans: list[RawSpan] = []
    has_text_object: bool | None = None
    quoted = ANY_QUOTE.search(prompt) is not None
    for m in QUOTES.finditer(prompt) if quoted else ():
        group = m.lastgroup
        if group is None:
            continue
        text = m.group(group).strip(" \t,.;:")
        if not text or not _WORD.search(text):
            continue
        if has_text_object is None:
            has_text_object = not TEXT_OBJECT_WORDS.isdisjoint(words) or any(
                w in prompt for w in TEXT_OBJECT_CJK
            )
        if _quote_counts(prompt, m.start(), m.end(), has_text_object):
            spans.append(RawSpan(text, m.start(), m.end(), True))
            has_text_object = True  # a prompt that quotes text to render keeps doing so
    lowered = prompt.lower()
    same_length = len(lowered) == len(prompt)
    ascii_only = lowered.isascii()
    for index, (triggers, ascii_triggers, rule, before) in enumerate(_RULES):
        if rules is not None:
            if index not in rules:
                continue
        elif not any(map(lowered.__contains__, ascii_triggers if ascii_only else triggers)):
            continue
        for m in rule.finditer(lowered):
            if before is not None and _word_before(lowered, m.start()) not in before:
                continue
            start, end = m.span("t")
            if any(s.start <= start < s.end or start <= s.start < end for s in spans):
                continue
            found = prompt[start:end] if same_length else m.group("t")
            text = (
                found.strip()
                if found[:1].isdigit() or not found.isascii()
                else (_trim_unquoted(found))
            )
            if text and _WORD.search(text):
                spans.append(RawSpan(text, start, end, False))
    spans.sort(key=lambda s: s.start)
    return spans
