"""Known names written in other scripts: Cyrillic read as Latin, Chinese/Japanese/Korean found.

The name gazetteer holds Latin n-grams ("naruto", "ikari shinji") and, for names fans write in
their own script, whole CJK strings ("路飞", "ナルト", "나루토"). ``cyrillic_readings`` reads a
capitalised Cyrillic word as the Latin name it transliterates ("Наруто" -> "naruto");
``CjkNames`` finds a CJK name in a prompt through the character bigrams the model already
builds, then confirms it in the text, so a prompt costs one dictionary look-up per bigram.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set

from gateway.classify.normalize import CJK_CLASS

_CJK_NAME = re.compile(f"[{CJK_CLASS}]{{2,}}")
_CAPITALISED_CYRILLIC = re.compile("[А-ЯЁ][а-яё]{2,}")
#: Russian letters to Latin as fans romanise Japanese names (Хината -> hinata, Итачи -> itachi).
_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a",
        "б": "b",
        "в": "v",
        "г": "g",
        "д": "d",
        "е": "e",
        "ё": "yo",
        "ж": "j",
        "з": "z",
        "и": "i",
        "й": "i",
        "к": "k",
        "л": "l",
        "м": "m",
        "н": "n",
        "о": "o",
        "п": "p",
        "р": "r",
        "с": "s",
        "т": "t",
        "у": "u",
        "ф": "f",
        "х": "h",
        "ц": "ts",
        "ч": "ch",
        "ш": "sh",
        "щ": "sch",
        "ъ": "",
        "ы": "y",
        "ь": "",
        "э": "e",
        "ю": "yu",
        "я": "ya",
    }
)


def cyrillic_readings(text: str) -> list[str]:
    """Latin readings of the capitalised Cyrillic words of ``text`` (names are capitalised):
    the letter-for-letter one, and with a final "и" read as "y" (Луффи -> luffy)."""
    if text.isascii():
        return []
    readings: list[str] = []
    for word in _CAPITALISED_CYRILLIC.findall(text):
        latin = word.lower().translate(_CYRILLIC_TO_LATIN)
        readings.append(latin)
        if latin.endswith("i"):
            readings.append(latin[:-1] + "y")
    return readings


class CjkNames:
    """The CJK names of a gazetteer, indexed by their first two characters."""

    __slots__ = ("_by_head",)

    def __init__(self, keys: Iterable[str]) -> None:
        by_head: dict[str, list[str]] = {}
        for key in keys:
            if _CJK_NAME.fullmatch(key):
                by_head.setdefault(key[:2], []).append(key)
        self._by_head: Mapping[str, tuple[str, ...]] = {
            head: tuple(names) for head, names in by_head.items()
        }

    def __bool__(self) -> bool:
        return bool(self._by_head)

    def found(self, features: Set[str], text: str) -> bool:
        """Whether ``text`` holds one of the names; ``features`` are the model's n-grams of it
        (its CJK character bigrams among them)."""
        by_head = self._by_head
        # The heads among the features, found by one C-speed intersection, not a loop.
        heads = by_head.keys() & features
        return any(any(map(text.__contains__, by_head[head])) for head in heads)
