"""The model's input: word n-grams, CJK character n-grams and the rules' verdict.

One definition serves training and serving, so what the model was fitted on is what it sees.
Only the first ``MAX_TOKENS`` tokens of a prompt are read: the cue that a prompt needs the
flagship is in its first clauses, and this bounds the cost on 4,000-character tag lists. The
tokens are the rules' own (no second tokenisation).
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Sequence

from gateway.classify.categories import FLAGSHIP_CATEGORIES, Category
from gateway.classify.normalize import CJK_CLASS

MAX_TOKENS = 64
#: Of those tokens' Chinese, Japanese and Korean text, the first 64 characters: a CJK
#: character carries about a word, and each makes two n-grams.
MAX_CJK_CHARS = 64
FOLD_DIGITS = str.maketrans("123456789", "000000000")
_DIGIT = re.compile("[1-9]")
_CJK_RUN = re.compile(f"[{CJK_CLASS}]+")
#: Rule features: one per fired category, one for "the rules alone pick the flagship".
RULE_FLAGSHIP = "@flagship"
RULE_PREFIX = "@"
#: Function words (and the frame words "style", "art", "picture"…): training learns no weight
#: for them alone, nor for a bigram of two of them. Which connective a prompt uses says
#: nothing about the tier it needs (and the training prompts' templates would otherwise teach
#: that it does); the bigrams they make with a content word ("anime style", "by wlop") count.
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
        # Russian prepositions, conjunctions and pronouns ("в", "на", "с"): the same holds
        "в",
        "во",
        "на",
        "с",
        "со",
        "и",
        "у",
        "к",
        "ко",
        "о",
        "об",
        "от",
        "до",
        "для",
        "по",
        "под",
        "над",
        "за",
        "из",
        "при",
        "без",
        "через",
        "это",
        "как",
        "а",
        "но",
        "что",
        "его",
        "её",
        "ее",
        "их",
    ]
)


#: Chinese and Japanese function characters and kana particles: no weight alone (their
#: bigrams may have one).
CJK_FUNCTION_CHARS = frozenset(
    "的在了是和与一个只着上中里有这那也都很把被从对向のにはをがでとへもやかなだですますた"
)


def text_features(tokens: Sequence[str]) -> set[str]:
    """The first ``MAX_TOKENS`` of a prompt's tokens (``normalize.tokenize`` of its normalised
    text, as the rules made them) and their adjacent pairs, digits folded to 0; and character
    unigrams and bigrams of the first ``MAX_CJK_CHARS`` Chinese, Japanese and Korean ones.

    A superset, built at C speed: n-grams with punctuation or of function words are produced
    too, and simply have no weight (training learns none for them; see ``STOPWORDS``).
    """
    joined = " ".join(tokens[:MAX_TOKENS])
    if _DIGIT.search(joined):
        if joined.isascii():
            joined = joined.translate(FOLD_DIGITS)
        else:  # translate looks each character up in a dict here: nine replaces are cheaper
            for digit in "123456789":
                if digit in joined:
                    joined = joined.replace(digit, "0")
    head = joined.split(" ")
    features = set(head)
    features.update(map(" ".join, itertools.pairwise(head)))
    if not joined.isascii():
        # The CJK runs, a space between two, cut to the budget: two set updates in all. A
        # pair across runs has the space in it, and no weight.
        cjk = " ".join(_CJK_RUN.findall(joined))[:MAX_CJK_CHARS]
        features.update(cjk)
        features.update(map(operator.add, cjk, cjk[1:]))
        features.discard(" ")
    return features


def rule_features(categories: frozenset[Category]) -> list[str]:
    """The rules' verdict as features: ``@photorealism``…, and ``@flagship``."""
    features = [RULE_PREFIX + category.value for category in categories]
    if categories & FLAGSHIP_CATEGORIES:
        features.append(RULE_FLAGSHIP)
    return features
