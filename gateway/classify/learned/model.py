"""Load the shipped weights and score a prompt; map a target flagship share to a threshold."""

from __future__ import annotations

import bisect
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from gateway.classify.categories import Category
from gateway.classify.learned.features import (
    MAX_CJK_CHARS,
    MAX_TOKENS,
    rule_features,
    text_features,
)
from gateway.classify.learned.names import CjkNames, cyrillic_readings

BUILTIN_PATH = Path(__file__).parent / "flagship_model.json"
FORMAT = "tiergate-flagship-model/1"
TAG_LIST = "@tag_list"
TAG_LIST_MIN = 3


def _written_as_name(word: str, text: str) -> bool:
    return word.capitalize() in text or word.upper() in text


def routing_score(rules_flagship: bool, p: float) -> float:
    """One number to rank prompts by need of the flagship: the rules' verdict first, the
    model's probability within it. ``(rules + p) / 2``: every prompt the rules send to the
    flagship scores 0.5 or more, every other one less, so a threshold of 0.5 or below only
    adds flagship prompts (those with ``p >= 2t``), and one above only takes away rules'
    flagship prompts the model doubts (``p < 2t - 1``)."""
    return (float(rules_flagship) + p) / 2


class ModelFileError(ValueError):
    """The weights file is missing, malformed or of another format."""


@dataclass(frozen=True, slots=True)
class FlagshipModel:
    """``p = sigmoid(a * (bias + sum of the weights of the features present) + b)``.

    ``gazetteers`` map a feature name to n-grams any of which sets it (names the training set
    drew from, so that a name seen once counts like one seen often); three of the booru tags
    in ``tag_phrases`` set ``@tag_list``. ``threshold`` is the probability at or above which
    the model sends a prompt the rules call efficient to the flagship when no share target is
    set; ``reference`` holds the sorted routing scores (``routing_score``) of a reference set,
    from which ``threshold_for_share`` reads the score threshold for a given share.
    """

    weights: Mapping[str, float]
    gazetteers: Mapping[str, frozenset[str]]
    tag_phrases: frozenset[str]
    bias: float
    platt: tuple[float, float]
    threshold: float
    reference: Sequence[float]
    meta: Mapping[str, Any]
    #: Per gazetteer, its names in Chinese, Japanese or Korean script (built from it).
    cjk_names: Mapping[str, CjkNames] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.cjk_names:
            names = {name: CjkNames(keys) for name, keys in self.gazetteers.items()}
            object.__setattr__(self, "cjk_names", {k: v for k, v in names.items() if v})

    @classmethod
    @cache
    def builtin(cls) -> FlagshipModel:
        return cls.load(BUILTIN_PATH)

    @classmethod
    def load(cls, path: Path) -> FlagshipModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ModelFileError(f"{path}: not a {FORMAT} file")
        if data.get("features") != [MAX_TOKENS, MAX_CJK_CHARS]:
            raise ModelFileError(f"{path}: trained on other features ({data.get('features')})")
        try:
            return cls._from_data(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{path}: malformed ({exc!r})") from exc

    @classmethod
    def _from_data(cls, data: dict[str, Any]) -> FlagshipModel:
        a, b = data["platt"]
        return cls(
            weights=data["weights"],
            gazetteers={k: frozenset(v) for k, v in data.get("gazetteers", {}).items()},
            tag_phrases=frozenset(data.get("tag_phrases", ())),
            bias=float(data["bias"]),
            platt=(float(a), float(b)),
            threshold=float(data["threshold"]),
            reference=tuple(sorted(data["reference"])),
            meta=data.get("meta", {}),
        )

    def probability(
        self, tokens: Sequence[str], categories: frozenset[Category], text: str
    ) -> float:
        """P(flagship) for a prompt (``text``, NFKC) whose normalised tokens are ``tokens``
        and whose rules fired ``categories``."""
        get = self.weights.get
        features = text_features(tokens)
        margin = self.bias + sum(filter(None, map(get, features)))
        for feature in self.group_features(features, categories, text):
            margin += get(feature, 0.0)
        z = self.platt[0] * margin + self.platt[1]
        return 1.0 / (1.0 + math.exp(-z)) if z > -500 else 0.0

    def group_features(
        self, features: set[str], categories: frozenset[Category], text: str
    ) -> list[str]:
        """The rules' verdict and one feature per gazetteer the prompt hits (a known anime
        character or series: ``@anime_name``): a two-word name in any case, a one-word name
        written as a name (capitalised), so that "bubblegum" is not Princess Bubblegum, a
        capitalised Cyrillic word that reads as one, or a name in CJK script; and
        ``@tag_list`` for a prompt with three or more booru tag phrases ("motion lines")."""
        found = rule_features(categories)
        # Cyrillic and CJK names need non-ASCII text: most prompts skip both looks.
        other_script = not text.isascii()
        readings = cyrillic_readings(text) if other_script else []
        for name, keys in self.gazetteers.items():
            hits = keys.intersection(features)
            if (
                any(" " in hit or _written_as_name(hit, text) for hit in hits)
                or (readings and not keys.isdisjoint(readings))
                or (
                    other_script
                    and name in self.cjk_names
                    and self.cjk_names[name].found(features, text)
                )
            ):
                found.append(name)
        found += readings  # "Наруто" weighs what "naruto" does
        if len(self.tag_phrases.intersection(features)) >= TAG_LIST_MIN:
            found.append(TAG_LIST)
        return found

    @property
    def default_score_threshold(self) -> float:
        """The routing-score threshold that ``threshold`` means: rules' flagship prompts stay,
        others go to the flagship at ``p >= threshold``."""
        return self.threshold / 2

    def threshold_for_share(self, share: float) -> float:
        """The score threshold at which ``share`` of the reference set scores at or above it."""
        return threshold_for_share(self.reference, share)

    def share_at(self, threshold: float) -> float:
        """The share of the reference set at or above ``threshold``."""
        return share_at(self.reference, threshold)


def threshold_for_share(scores: Sequence[float], share: float) -> float:
    """The threshold whose share of ``scores`` (at or above it) is nearest ``share``.

    Prompts with equal scores (every prompt with no cue at all, say) go the same way, so a
    share inside such a tie cannot be hit: of the threshold just above the tie and the one at
    it, the nearer share wins (the lower share when both are as near).
    """
    if not scores:
        raise ValueError("no reference scores")
    ranked = scores if _is_sorted(scores) else sorted(scores)
    count = len(ranked)
    wanted = min(count, max(0, round(share * count)))
    if wanted == 0:
        return min(1.0, math.nextafter(ranked[-1], math.inf))
    at = ranked[count - wanted]
    above = ranked[bisect.bisect_right(ranked, at)] if ranked[-1] > at else None
    if above is None:
        return at
    share_at_tie = (count - bisect.bisect_left(ranked, at)) / count
    share_above = (count - bisect.bisect_left(ranked, above)) / count
    return above if abs(share_above - share) <= abs(share_at_tie - share) else at


def _is_sorted(scores: Sequence[float]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(scores))


def share_at(scores: Sequence[float], threshold: float) -> float:
    ranked = scores if _is_sorted(scores) else sorted(scores)
    return (len(ranked) - bisect.bisect_left(ranked, threshold)) / len(ranked) if ranked else 0.0
