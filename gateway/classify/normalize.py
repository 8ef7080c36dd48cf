"""Text normalisation and tokenisation shared by the lexicons and the classifier.

Prompts and lexicon terms go through the same ``normalize_text`` so matching is case-, width-
and accent-insensitive: NFKC, casefold, hyphens/underscores to spaces, accents stripped,
DiffusionDB-style spaced digits (``1 9 8 8``, ``portra 4 0 0``) joined.
"""

from __future__ import annotations

import re
import unicodedata

_SPACED_CHARS = ("-", "_", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015")
_NEEDS_DECOMPOSITION = re.compile(r"[\u00c0-\u02af\u0370-\u04ff\u1e00-\u1fff\u3040-\u30ff]")
_COMBINING = re.compile(r"[\u0300-\u036f\u3099\u309a]+")
#: A digit, a space, a digit: led by the space, which the regex engine skips to fast (a
#: pattern led by ``\d`` is tried at every digit of a long list of weighted tags).
_DIGIT_SPACE_DIGIT = re.compile(r" (?<=\d )\d")
_SPACED_DIGITS = re.compile(r"(?<=\b\d) (?=\d\b)")
#: The Chinese, Japanese and Korean characters (kana, CJK ideographs, Hangul), as a regex class.
CJK_CLASS = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
# Words; a run of Chinese/Japanese/Korean characters is its own token, so a Latin word glued to
# it ("アプリのuiデザイン") is still a word.
_TOKEN = re.compile(rf"[^\W_{CJK_CLASS}]+|[{CJK_CLASS}]+|[.,;:!?()\[\]{{}}|/\n。，、；：！？]")
_CJK = re.compile(f"[{CJK_CLASS}]")
# The same tokens for an ASCII text, where the class of word characters is just [a-zA-Z0-9]
# (about a third faster on long prompts of tags).
_ASCII_TOKEN = re.compile(r"[a-zA-Z0-9]+|[.,;:!?()\[\]{}|/\n]")


#: Full-width ASCII and the ideographic space, mapped as NFKC maps them: in most Chinese and
#: Japanese prompts they are all that NFKC changes.
_FULLWIDTH = re.compile("[\u3000\uff01-\uff5e]")


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, cheaper for the usual CJK prompt.

    Full-width forms are replaced by what NFKC maps them to, and if the result is already
    NFKC (CPython's quick check, no normalisation) it is the answer: NFKC of a text is NFKC
    of any text with the same compatibility decomposition. Otherwise, the full pass runs.
    """
    if text.isascii():
        return text
    candidate = text
    # A few distinct marks (，：！？) per prompt: one C-speed replace each beats a per-character
    # translate table on a few hundred characters.
    for char in set(_FULLWIDTH.findall(text)):
        candidate = candidate.replace(char, " " if char == "\u3000" else chr(ord(char) - 0xFEE0))
    if unicodedata.is_normalized("NFKC", candidate):
        return candidate
    return unicodedata.normalize("NFKC", text)


def normalize_text(text: str) -> str:
    """Casefolded, accent-free, hyphen-free form of ``text`` used for all lexicon matching."""
    return fold_nfkc(nfkc(text))


def fold_nfkc(text: str) -> str:
    """``normalize_text`` of a text that is already NFKC-normalised (skips that pass)."""
    if text.isascii():
        folded = text.lower().replace("-", " ").replace("_", " ")
    else:
        folded = text.casefold()
        for char in _SPACED_CHARS:
            if char in folded:
                folded = folded.replace(char, " ")
        folded = folded.replace("\u2019", "'").replace("\u2018", "'")
        if _NEEDS_DECOMPOSITION.search(folded):
            folded = _COMBINING.sub("", unicodedata.normalize("NFKD", folded))
            # NFKD took apart every composed character, Hangul syllables too: put back what
            # the accents' removal left composable, so that "사진" next to "café" is still
            # "사진" and not its jamo (which no lexicon term is written in).
            if not unicodedata.is_normalized("NFC", folded):
                folded = unicodedata.normalize("NFC", folded)
    if _DIGIT_SPACE_DIGIT.search(folded):
        folded = _SPACED_DIGITS.sub("", folded)
    return folded


#: Punctuation tokens: clause boundaries (negation does not reach across them).
BREAKS = frozenset(".,;:!?()[]{}|/\n。，、；：！？")


#: ASCII punctuation that is a token of its own, and "\x01", which stands in for a newline
#: while splitting (``str.split`` would drop it as white space).
_ASCII_PUNCTUATION = ".,;:!?()[]{}|/\x01"
#: Every other ASCII character that is not a letter or digit becomes a space.
_ASCII_SEPARATE = str.maketrans(
    {
        i: "\x01" if i == 10 else " "
        for i in range(128)
        if not chr(i).isalnum() and chr(i) not in _ASCII_PUNCTUATION[:-1]
    }
)
#: Below this length the regex is cheaper than translating and splitting.
_SPLIT_FROM = 160


def tokenize(normalized: str) -> list[str]:
    """Word tokens of a normalised text; punctuation marks stay as one-character tokens."""
    if not normalized.isascii():
        return _TOKEN.findall(normalized)
    if len(normalized) < _SPLIT_FROM:
        return _ASCII_TOKEN.findall(normalized)
    return _split_ascii(normalized)


def _split_ascii(text: str) -> list[str]:
    """``_ASCII_TOKEN.findall`` of a long ASCII text, twice as fast: spaces for separators,
    spaces around each punctuation mark, then one ``str.split``."""
    spaced = text.translate(_ASCII_SEPARATE)
    for mark in _ASCII_PUNCTUATION:
        if mark in spaced:
            spaced = spaced.replace(mark, f" {mark} ")
    tokens = spaced.split()
    if "\x01" in spaced:
        at = -1
        try:
            while True:
                at = tokens.index("\x01", at + 1)
                tokens[at] = "\n"
        except ValueError:
            pass
    return tokens


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains Chinese, Japanese or Korean characters."""
    return not text.isascii() and _CJK.search(text) is not None


def count_cjk(text: str) -> int:
    """Number of Chinese/Japanese/Korean characters in ``text``."""
    return len(_CJK.findall(text))
