"""Classifier: prompt -> Classification, from lexicon evidence and literal-text spans.

Each category's score is a noisy-OR of the weights of the terms that fired, damped by its
strongest counter-evidence: ``score = (1 - prod(1 - w+)) * (1 - max(|w-|))``. Literal text is
measured in words (the typography/headline boundary) and in tiktoken tokens (reported).
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from gateway.classify.categories import SCORED_CATEGORIES, Category
from gateway.classify.classification import Classification
from gateway.classify.config import ClassifierConfig
from gateway.classify.learned import FlagshipModel
from gateway.classify.lexicon import Hit, RawLexicon, load_builtin_lexicons
from gateway.classify.matcher import LexiconMatcher
from gateway.classify.normalize import (
    BREAKS,
    fold_nfkc,
    has_cjk,
    nfkc,
    normalize_text,
    tokenize,
)
from gateway.classify.textspans import TextSpan, find_text_spans, piece_rules, word_count

if TYPE_CHECKING:
    import tiktoken

_TEXT_WORDS = frozenset(
    [
        "text",
        "texts",
        "word",
        "words",
        "letter",
        "letters",
        "lettering",
        "writing",
        "typography",
        "caption",
        "captions",
        "label",
        "labels",
    ]
)
_NO_TEXT_WORDS = frozenset(["textless", "wordless", "letterless"])
_NO_TEXT_CJK = (
    "无文字",
    "没有文字",
    "不要文字",
    "不含文字",
    "文字なし",
    "テキストなし",
    "文字を入れない",
)
_NO_TEXT_TRIGGERS = frozenset(
    [
        "no",
        "without",
        "zero",
        "free",
        "avoid",
        "avoiding",
        "not",
        "any",
        "sans",
        "sin",
        "ohne",
        "sem",
        "senza",
        "less",
    ]
)
_SPAN_TYPOGRAPHY_BASE = 0.6
_SPAN_TYPOGRAPHY_STEP = 0.05
_SPAN_TYPOGRAPHY_MAX = 0.95
_BLOCKS_TYPOGRAPHY = 0.8
_SPAN_HEADLINE = 0.9
_MAX_EVIDENCE = 8
#: Span texts whose (tiktoken tokens, words) are remembered; the memo is dropped when full.
_MAX_SPAN_MEMO = 20_000


@cache
def _encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding, loaded offline from litellm's bundled files when available."""
    spec = importlib.util.find_spec("litellm")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
        if bundled.is_dir():
            os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(bundled))
    import tiktoken

    return tiktoken.get_encoding(name)


def merge_lexicons(builtin: RawLexicon, config: ClassifierConfig) -> RawLexicon:
    """Built-in lexicons with the config's ``remove_terms`` dropped and ``extra_terms`` added."""
    merged: RawLexicon = {c: dict(builtin.get(c, {})) for c in SCORED_CATEGORIES}
    for category, removed in config.remove_terms.items():
        drop = {normalize_text(t).strip() for t in removed}
        merged[category] = {
            t: w for t, w in merged[category].items() if normalize_text(t).strip() not in drop
        }
    for category, extra in config.extra_terms.items():
        if isinstance(extra, dict):
            merged[category].update(extra)
        else:
            merged[category].update(dict.fromkeys(extra, config.extra_term_weight))
    return merged


def _combine(weights: list[float], counter: float) -> float:
    miss = 1.0
    for weight in weights:
        miss *= 1.0 - weight
    return (1.0 - miss) * (1.0 - counter)


class Classifier:
    """Built once from a ``ClassifierConfig``; ``classify`` is then pure and fast."""

    def __init__(
        self,
        config: ClassifierConfig,
        matcher: LexiconMatcher,
        model: FlagshipModel | None = None,
    ) -> None:
        self.config = config
        self._matcher = matcher
        self.model = model
        self._thresholds = {c: config.thresholds[c] for c in SCORED_CATEGORIES}
        self._encoding = _encoding(config.encoding)
        self._span_sizes: dict[str, tuple[int, float]] = {}
        self._piece_rules: dict[str, frozenset[int]] = {}

    @classmethod
    def from_config(cls, config: ClassifierConfig | None = None) -> Classifier:
        """Compile the built-in lexicons plus the config's edits."""
        config = config or ClassifierConfig()
        lexicons = merge_lexicons(load_builtin_lexicons(), config)
        model = FlagshipModel.builtin() if config.learned_model else None
        return cls(config, LexiconMatcher(lexicons, config.fuzzy_min_length), model)

    def classify(self, prompt: str) -> Classification:
        """Score ``prompt`` in every category and collect the evidence."""
        return self.analyse(prompt)[0]

    def analyse(self, prompt: str) -> tuple[Classification, list[str], str]:
        """``classify``, with the tokens and the NFKC text the learned model reads (training
        featurises its prompts from exactly these)."""
        text = nfkc(prompt)
        normalized = fold_nfkc(text)
        rules: frozenset[int] | None = None
        matched = None
        scanned = normalized
        if normalized.count(",") >= _MIN_PIECES:  # tags: scanned piece by piece, memoised
            pieces = Counter(normalized.split(","))  # distinct, in order, with their counts
            matched = self._matcher.match_pieces(normalized, pieces)
            if matched is not None:
                rules = self._rules_of(pieces)
            elif len(pieces) < normalized.count(",") + 1:
                # A repeated piece adds nothing a comma does not end: scan each piece once.
                scanned = ",".join(pieces)
        if matched is not None:
            tokens, words, hits = matched
        else:
            tokens = tokenize(scanned)
            words = set(tokens)
            hits = self._matcher.match(normalized, tokens, words)
        spans = self._spans(text, words, rules)

        positive: dict[Category, list[float]] = {c: [] for c in SCORED_CATEGORIES}
        counter: dict[Category, float] = dict.fromkeys(SCORED_CATEGORIES, 0.0)
        evidence: dict[Category, list[str]] = {c: [] for c in SCORED_CATEGORIES}
        text_negated = _text_negated(normalized, tokens, words)
        for hit in sorted(hits, key=_by_weight):
            if text_negated and hit.category in (Category.TYPOGRAPHY, Category.HEADLINE):
                continue
            if hit.weight > 0:
                positive[hit.category].append(hit.weight)
                if hit.evidence not in evidence[hit.category]:
                    evidence[hit.category].append(hit.evidence)
            else:
                counter[hit.category] = max(counter[hit.category], -hit.weight)

        self._add_span_evidence(spans, positive, evidence)
        scores = {c: _combine(positive[c], counter[c]) for c in SCORED_CATEGORIES}
        typography_fires = scores[Category.TYPOGRAPHY] >= self._thresholds[Category.TYPOGRAPHY]
        if typography_fires:
            scores[Category.HEADLINE] = min(
                scores[Category.HEADLINE], 1.0 - scores[Category.TYPOGRAPHY]
            )
        fired = {c for c in SCORED_CATEGORIES if scores[c] >= self._thresholds[c]}
        if typography_fires:
            fired.discard(Category.HEADLINE)
        scores[Category.GENERAL] = 1.0 - max(scores.values())
        if not fired:
            fired.add(Category.GENERAL)
        categories = frozenset(fired)
        classification = Classification(
            scores=MappingProxyType(scores),
            categories=categories,
            evidence=MappingProxyType(
                {c: tuple(e[:_MAX_EVIDENCE]) for c, e in evidence.items() if e}
            ),
            text_spans=spans,
            literal_text_tokens=sum(s.token_count for s in spans),
            flagship_p=None
            if self.model is None
            else self.model.probability(tokens, categories, text),
        )
        return classification, tokens, text

    def _rules_of(self, pieces: Iterable[str]) -> frozenset[int]:
        """The unquoted-text rules a prompt's pieces could trigger (memoised by piece)."""
        memo = self._piece_rules
        pieces = list(pieces)
        found = list(map(memo.get, pieces))  # in C: a long tag list has hundreds of pieces
        if None in found:
            missing = [piece for piece, rules in zip(pieces, found, strict=True) if rules is None]
            fresh = piece_rules(missing)
            if len(memo) + len(missing) > _MAX_PIECE_RULES:
                memo.clear()
            memo.update(zip(missing, fresh, strict=True))
            found += fresh  # the union does not care where they stand
        return frozenset[int]().union(*filter(None, found))

    def _spans(
        self, text: str, words: set[str], rules: frozenset[int] | None = None
    ) -> tuple[TextSpan, ...]:
        raw_spans = find_text_spans(text, words, rules)
        if not raw_spans:
            return ()
        sizes = self._span_sizes
        spans = []
        for raw in raw_spans:
            size = sizes.get(raw.text)
            if size is None:
                size = self._span_size(raw.text)
            spans.append(TextSpan(raw.text, size[0], size[1], raw.quoted))
        return tuple(spans)

    def _span_size(self, span_text: str) -> tuple[int, float]:
        """tiktoken tokens and words of a span (memoised: templates and signs repeat)."""
        size = (
            len(self._encoding.encode_ordinary(span_text)),
            word_count(span_text, self.config.cjk_chars_per_word),
        )
        if len(self._span_sizes) >= _MAX_SPAN_MEMO:
            self._span_sizes.clear()
        self._span_sizes[span_text] = size
        return size

    def _add_span_evidence(
        self,
        spans: tuple[TextSpan, ...],
        positive: dict[Category, list[float]],
        evidence: dict[Category, list[str]],
    ) -> None:
        if not spans:
            return
        words = sum(s.word_count for s in spans)
        limit = self.config.headline_max_words
        quoted = [f'"{s.text}" ({s.token_count} tokens)' for s in spans]
        if words > limit:
            excess = words - limit - 1
            positive[Category.TYPOGRAPHY].append(
                min(_SPAN_TYPOGRAPHY_MAX, _SPAN_TYPOGRAPHY_BASE + _SPAN_TYPOGRAPHY_STEP * excess)
            )
            evidence[Category.TYPOGRAPHY][:0] = [*quoted, f"{words:g} words"]
        elif len(spans) >= self.config.typography_min_blocks or (
            len(spans) >= 3 and words >= limit
        ):
            positive[Category.TYPOGRAPHY].append(_BLOCKS_TYPOGRAPHY)
            evidence[Category.TYPOGRAPHY][:0] = [*quoted, f"{len(spans)} text blocks"]
        else:
            positive[Category.HEADLINE].append(_SPAN_HEADLINE)
            evidence[Category.HEADLINE][:0] = quoted


_MAX_PIECE_RULES = 50_000
#: A prompt with this many commas (a tag list) is scanned piece by piece (``match_pieces``).
_MIN_PIECES = 8


def _text_negated(normalized: str, tokens: list[str], words: set[str]) -> bool:
    """Whether the prompt says "no text" / "without any words" / "textless" …"""
    if not _NO_TEXT_WORDS.isdisjoint(words):
        return True
    if has_cjk(normalized):
        return any(map(normalized.__contains__, _NO_TEXT_CJK))
    if _NO_TEXT_TRIGGERS.isdisjoint(words):
        return False
    for index, tok in enumerate(tokens):
        if tok in _NO_TEXT_TRIGGERS:
            after = tokens[index + 1 : index + 4]
            if not _TEXT_WORDS.isdisjoint(after) and not BREAKS.intersection(
                after[: next((k for k, w in enumerate(after) if w in _TEXT_WORDS), 0)]
            ):
                return True
            if tok in ("less", "free") and index and tokens[index - 1] in _TEXT_WORDS:
                return True
    return False


def _by_weight(hit: Hit) -> float:
    return -hit.weight
