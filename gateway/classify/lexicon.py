"""Weighted term lexicons: the shipped data files, parsed, and what a match of one entry is.

File format (``lexicons/<category>.txt``), one entry a line::

    # comment
    [0.9]                 weight of the terms that follow, in [-1, 1]
    photograph            a word or a phrase (matched on whole normalised tokens)
    photo frame = 0       an inline weight; 0 makes a phrase that swallows its words
    photo*                a prefix: any token starting with "photo"
    *foto                 a suffix: any longer token ending in "foto" (compounds: "produktfoto")
    re:fstop = f ?/ ?\\d   a regular expression on the normalised text, named "fstop"; start it
                          with a literal or a character class, not \\b, so it scans fast

Terms with Chinese/Japanese/Korean characters match as substrings. Negative weights are
counter-evidence (painting words against photorealism). ``matcher.LexiconMatcher`` matches
them against a prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

from gateway.classify.categories import SCORED_CATEGORIES, Category

_WEIGHT_LINE = re.compile(r"^\[\s*(-?\d+(?:\.\d+)?)\s*\]$")


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry for one category."""

    category: Category
    weight: float
    label: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A lexicon entry found in a prompt; ``evidence`` is what matched (ASCII not guaranteed)."""

    category: Category
    weight: float
    evidence: str


RawLexicon = dict[Category, dict[str, float]]


def parse_lexicon(text: str, source: str) -> dict[str, float]:
    """Parse one lexicon file into ``{term: weight}``; later lines override earlier ones."""
    terms: dict[str, float] = {}
    weight = 1.0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        header = _WEIGHT_LINE.match(line)
        if header:
            weight = float(header.group(1))
            continue
        term, inline = line, weight
        if " = " in line and not line.startswith("re:"):
            term, _, value = line.rpartition(" = ")
            try:
                inline = float(value)
            except ValueError as exc:
                raise ValueError(f"{source}:{number}: bad weight {value!r}") from exc
        if not -1.0 <= inline <= 1.0:
            raise ValueError(f"{source}:{number}: weight {inline} outside [-1, 1]")
        terms[term.strip()] = inline
    return terms


def load_builtin_lexicons() -> RawLexicon:
    """The lexicons shipped in ``gateway/classify/lexicons/<category>.txt``."""
    folder = resources.files("gateway.classify") / "lexicons"
    raw: RawLexicon = {}
    for category in SCORED_CATEGORIES:
        resource = folder / f"{category.value}.txt"
        raw[category] = (
            parse_lexicon(resource.read_text(encoding="utf-8"), resource.name)
            if resource.is_file()
            else {}
        )
    return raw
