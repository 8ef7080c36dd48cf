"""How close the text read off an image is to the text the prompt asked for (pure).

Both sides are normalized first: compatibility forms folded (NFKC), accents removed,
case folded, and whitespace, punctuation and control characters dropped, so "SUMMER
SALE!" matches "Summer sale" and line breaks do not count. Accents are removed because
the bundled OCR model reads "Crème" as "Creme": the check is that the text is legible
and right, not its diacritics. CJK characters compare one for one. The score is the
normalized Levenshtein similarity, 1 - distance / max(len): 1.0 identical, 0.0 nothing
in common.
"""

from __future__ import annotations

import unicodedata

from rapidfuzz.distance import Levenshtein

_DROPPED = ("Z", "P", "C")  # separators, punctuation, control/format characters


def normalize(text: str) -> str:
    folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    return "".join(
        ch
        for ch in folded
        if not unicodedata.combining(ch) and not unicodedata.category(ch).startswith(_DROPPED)
    )


def similarity(expected: str, seen: str) -> float:
    """1.0 when ``seen`` is ``expected`` after normalization; lower the more it differs.

    Nothing expected and nothing seen is 1.0; nothing expected but something seen is 0.0.
    """
    want, got = normalize(expected), normalize(seen)
    if not want:
        return 1.0 if not got else 0.0
    return float(Levenshtein.normalized_similarity(want, got))
