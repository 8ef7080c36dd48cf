"""The classifier's result: per-category scores, the categories that fired, and their evidence."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.classify.categories import FLAGSHIP_CATEGORIES, Category
from gateway.classify.textspans import TextSpan


@dataclass(frozen=True, slots=True)
class Classification:
    """What one prompt asks for. ``categories`` holds ``general`` only when nothing else fired."""

    scores: Mapping[Category, float]
    categories: frozenset[Category]
    evidence: Mapping[Category, tuple[str, ...]]
    text_spans: tuple[TextSpan, ...]
    literal_text_tokens: int
    #: The learned model's probability that the prompt needs the flagship (None: model off).
    flagship_p: float | None = None

    @property
    def rules_flagship(self) -> bool:
        """Whether the rules alone ask for the flagship (a flagship category fired)."""
        return not self.categories.isdisjoint(FLAGSHIP_CATEGORIES)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (categories in canonical order, scores rounded to 4 places)."""
        return {
            "categories": [c.value for c in Category if c in self.categories],
            "scores": {c.value: round(s, 4) for c, s in self.scores.items()},
            "evidence": {c.value: list(e) for c, e in self.evidence.items() if e},
            "text_spans": [
                {"text": s.text, "tokens": s.token_count, "words": s.word_count, "quoted": s.quoted}
                for s in self.text_spans
            ],
            "literal_text_tokens": self.literal_text_tokens,
            "flagship_p": None if self.flagship_p is None else round(self.flagship_p, 4),
        }


_NON_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_SLUG = 40


def slugify(text: str) -> str:
    """ASCII slug for a reason code; non-Latin evidence becomes ``cjk``/``cyrillic``/``text``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = _NON_SLUG.sub("_", ascii_text.lower()).strip("_")[:_MAX_SLUG].rstrip("_")
    if slug:
        return slug
    for char in text:
        name = unicodedata.name(char, "")
        if name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL")):
            return "cjk"
        if name.startswith("CYRILLIC"):
            return "cyrillic"
    return "text"


def reason_codes(classification: Classification) -> list[str]:
    """Short ASCII codes, one or a few per fired category, e.g. ``photorealism:term_dslr``."""
    codes: list[str] = []
    spans = classification.text_spans
    for category in Category:
        if category not in classification.categories:
            continue
        if category is Category.GENERAL:
            codes.append("general:no_signal")
            continue
        if category in (Category.TYPOGRAPHY, Category.HEADLINE) and spans:
            kind = "quoted_text" if any(s.quoted for s in spans) else "literal_text"
            codes.append(f"{category.value}:{kind}_{classification.literal_text_tokens}_tokens")
            if category is Category.TYPOGRAPHY and len(spans) > 1:
                codes.append(f"typography:text_blocks_{len(spans)}")
        terms = [e for e in classification.evidence.get(category, ()) if not e.startswith('"')]
        seen: set[str] = set()
        for term in terms:
            code = f"{category.value}:term_{slugify(term)}"
            if code not in seen:
                seen.add(code)
                codes.append(code)
            if len(seen) == 3:
                break
    return codes
