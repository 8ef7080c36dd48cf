"""The gazetteer and tag phrases the model's group features read, built from the vocabulary.

``name_gazetteer``: the n-grams that name an anime character or series (``@anime_name``);
``tag_phrases``: the booru tag phrases three of which make ``@tag_list``; ``ordinary``: which
words are too common to be a cue. Used by ``train.py``; the results ship in the model file.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import vocab
from english_words import get_english_words_set
from generate import Tags
from wordfreq import zipf_frequency

from gateway.classify.learned.features import FOLD_DIGITS, STOPWORDS, text_features
from gateway.classify.normalize import normalize_text, tokenize

#: A general tag used this often is a booru tag even when its words are everyday ones.
COMMON_TAG_COUNT = 20_000


def tag_phrases(tags: Tags) -> frozenset[str]:
    """The general tags of the dictionary as features: two-word tags ("motion lines") and
    one-word tags that are no ordinary word ("1girl", "ahoge", "serafuku")."""
    phrases: set[str] = set()
    for tag in tags.names["general"]:
        tokens = tokenize(normalize_text(tag.replace("_", " ")))
        if len(tokens) == 2 and not any(t in STOPWORDS for t in tokens):
            phrases.add(" ".join(tokens).translate(FOLD_DIGITS))
        elif len(tokens) == 1 and not ordinary(tokens[0]):
            phrases.add(tokens[0].translate(FOLD_DIGITS))
        elif len(tokens) >= 2 and tags.counts[tag] >= COMMON_TAG_COUNT:
            # The most used tags say "tag list" whatever their words: "no humans", "from
            # below", "looking at viewer" (by its bigrams "looking at", "at viewer").
            for first, second in itertools.pairwise(tokens):
                if not (first in STOPWORDS and second in STOPWORDS):
                    phrases.add(f"{first} {second}".translate(FOLD_DIGITS))
    return frozenset(phrases)


def name_gazetteer(tags: Tags) -> frozenset[str]:
    """The n-grams that name an anime character or series of the tag dictionary: its uncommon
    words ("tanjirou", "kancolle") and two-word names with one ("ikari shinji"). A word is not
    a name if it is common, names a thing in a general tag ("giraffe"), or is a first or last
    name of the ordinary-people lists or a western artist's name, or is in Webster's word list
    (``english-words``) in lower case. Illustrators' handles are
    left out: too many are words or western names."""
    general = set(
        (Path(__file__).parent / "data" / "danbooru_general_words.txt").read_text().split()
    )
    people = {
        w
        for n in (
            *vocab.FIRST_NAMES,
            *vocab.LAST_NAMES,
            *vocab.NAMES,
            *vocab.WESTERN_ARTISTS,
            *vocab.WESTERN_NAMES,
            *vocab.WESTERN_WORKS,
        )
        for w in normalize_text(n).split()
    }

    dictionary = {
        w for w in get_english_words_set(["web2"], lower=False, alpha=True) if w.islower()
    }

    def plain(word: str, famous: bool = False) -> bool:
        return (
            word.isdigit()
            or len(word) < 3
            or (not famous and word in general)  # "naruto run" is a pose, Naruto a name
            or word in people
            or word in dictionary
            or word.removesuffix("s") in dictionary
            or any(
                zipf_frequency(word, lang) >= (FAMOUS_ZIPF if famous else NAME_ZIPF)
                for lang in _LANGS
            )
        )

    keys: set[str] = set()
    for category in ("character", "copyright"):
        for tag in tags.names[category]:
            # A much-drawn name is frequent in any text because it is famous ("naruto",
            # "goku", "pikachu"): word frequency cannot tell it from a word, the lists can.
            famous = tags.counts[tag] >= FAMOUS_COUNT[category]
            for name in (tag, *tags.aliases.get(tag, ())):
                text = normalize_text(name.replace("_", " ").replace("(", " ").replace(")", " "))
                for feature in text_features(tokenize(text)):
                    words = feature.split(" ")
                    if any(w in STOPWORDS for w in words) or all(plain(w, famous) for w in words):
                        continue
                    keys.add(feature)
    for name in (*vocab.ANIME_CREATORS, *vocab.ANIME_TITLES):
        for feature in text_features(tokenize(normalize_text(name))):
            words = feature.split(" ")
            if not any(w in STOPWORDS for w in words) and not all(plain(w) for w in words):
                keys.add(feature)
    # Names fans write in Chinese, Japanese or Korean script, whole (``learned.names``).
    for names in vocab.CJK_ANIME_NAMES.values():
        keys.update(
            normalize_text(n) for n in names if n not in vocab.CJK_AMBIGUOUS_NAMES and len(n) >= 2
        )
    return frozenset(keys)


ANIME_NAME = "@anime_name"
#: Tags used at least this often name a character or series known well enough that its
#: frequency in ordinary text does not make it a word.
FAMOUS_COUNT = {"character": 1500, "copyright": 3000}
#: ... up to this frequency: "naruto" (3.7 on the Zipf scale) is a name, "cafe" (4.1, in
#: "Sword Art Online"'s neighbours) and "online" (5.4) are words.
FAMOUS_ZIPF = 3.8
#: A word at least this frequent (Zipf scale: 3.6 is about 4 per million words) in English or
#: a major European language is ordinary, unless a cue list names it.
ORDINARY_ZIPF = 3.6
#: A one-word name in the gazetteer must be rarer still: about 1 per million words ("tanjiro",
#: "nekobus", "kancolle"). Commoner names keep their own learnt weight; only two-word names
#: ("ikari shinji") are in the gazetteer however common their words.
NAME_ZIPF = 3.0
_LANGS = ("en", "es", "fr", "de", "it", "pt")


def ordinary(word: str) -> bool:
    return word in STOPWORDS or any(zipf_frequency(word, lang) >= ORDINARY_ZIPF for lang in _LANGS)
