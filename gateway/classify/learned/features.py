"""The model's input: word n-grams, CJK character n-grams and the rules' verdict.

One definition serves training and serving, so what the model was fitted on is what it sees.
Only the first ``MAX_CHARS`` characters of a prompt are read: the cue that a prompt needs the
flagship is in its first clauses, and this bounds the cost on 4,000-character tag lists.
"""

from __future__ import annotations

import re

from gateway.classify.categories import FLAGSHIP_CATEGORIES, Category
from gateway.classify.normalize import BREAKS, tokenize

MAX_CHARS = 1024
_DIGITS = str.maketrans("123456789", "000000000")
_CJK_START = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]")
#: Rule features: one per fired category, one for "the rules alone pick the flagship".
RULE_FLAGSHIP = "@flagship"
RULE_PREFIX = "@"
#: Function words (and the frame words "style", "art", "picture"…): no unigram feature, and
#: no bigram of two of them. Which connective a prompt uses says nothing about the tier it
#: needs (and the training prompts' templates would otherwise teach that it does); the
#: bigrams they make with a content word ("anime style", "by wlop") are kept.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "without",
        "into",
        "onto",
        "over",
        "under",
        "above",
        "below",
        "near",
        "behind",
        "between",
        "through",
        "during",
        "before",
        "after",
        "while",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "here",
        "he",
        "she",
        "they",
        "his",
        "her",
        "their",
        "them",
        "him",
        "we",
        "you",
        "your",
        "i",
        "my",
        "me",
        "our",
        "us",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "how",
        "why",
        "all",
        "any",
        "some",
        "each",
        "every",
        "no",
        "not",
        "so",
        "very",
        "too",
        "just",
        "also",
        "only",
        "than",
        "then",
        "but",
        "if",
        "up",
        "down",
        "out",
        "off",
        "again",
        "more",
        "most",
        "other",
        "such",
        "own",
        "same",
        "can",
        "will",
        "would",
        "should",
        "could",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "done",
        "has",
        "have",
        "had",
        "having",
        "one",
        "de",
        "la",
        "le",
        "les",
        "un",
        "une",
        "des",
        "du",
        "et",
        "en",
        "el",
        "los",
        "las",
        "y",
        "del",
        "al",
        "con",
        "por",
        "para",
        "il",
        "di",
        "da",
        "e",
        "der",
        "die",
        "das",
        "ein",
        "eine",
        "und",
        "mit",
        "im",
        "am",
        "zu",
        "von",
        "o",
        "os",
        "um",
        "uma",
        "do",
        "dos",
        "na",
        "no",
        "com",
        "em",
        "style",
        "styled",
        "picture",
        "image",
        "scene",
        "world",
        "drawn",
        "art",
    ]
)


#: Chinese and Japanese function characters and kana particles: no unigram feature (their
#: bigrams are kept).
CJK_FUNCTION_CHARS = frozenset(
    "的在了是和与一个只着上中里有这那也都很把被从对向のにはをがでとへもやかなだですますた"
)


def text_features(normalized: str) -> set[str]:
    """Unigrams and bigrams of words (digits folded to 0, no bigram across punctuation), and
    character unigrams and bigrams of Chinese, Japanese and Korean runs."""
    text = normalized[:MAX_CHARS].translate(_DIGITS)
    features: set[str] = set()
    add = features.add
    previous = ""
    for token in tokenize(text):
        if token in BREAKS:
            previous = ""
        elif _CJK_START.match(token):
            features.update(set(token) - CJK_FUNCTION_CHARS)
            features.update([token[i : i + 2] for i in range(len(token) - 1)])
            previous = ""
        else:
            if token not in STOPWORDS:
                add(token)
                if previous:
                    add(f"{previous} {token}")
            elif previous and previous not in STOPWORDS:
                add(f"{previous} {token}")
            previous = token
    return features


def rule_features(categories: frozenset[Category]) -> list[str]:
    """The rules' verdict as features: ``@photorealism``…, and ``@flagship``."""
    features = [RULE_PREFIX + category.value for category in categories]
    if categories & FLAGSHIP_CATEGORIES:
        features.append(RULE_FLAGSHIP)
    return features
