"""ClassifierConfig: the YAML-tunable classifier settings (thresholds, boundaries, lexicon edits).

The built-in lexicons ship as data files in ``gateway/classify/lexicons``; this model only holds
overrides, so a policy can add or remove terms and move thresholds without touching code.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from gateway.classify.categories import SCORED_CATEGORIES, Category

Weight = Annotated[float, Field(ge=-1.0, le=1.0)]
#: A list of terms (each gets ``extra_term_weight``) or a mapping term -> weight in [-1, 1].
TermList = list[str] | dict[str, Weight]

DEFAULT_THRESHOLD = 0.5


def _default_thresholds() -> dict[Category, float]:
    return dict.fromkeys(SCORED_CATEGORIES, DEFAULT_THRESHOLD)


def _reject_general(value: dict[Category, object], field: str) -> None:
    if Category.GENERAL in value:
        raise ValueError(
            f"{field}: 'general' is not scored (it applies when no other category fires); "
            f"use one of {', '.join(c.value for c in SCORED_CATEGORIES)}"
        )


class ClassifierConfig(BaseModel):
    """Tunable classifier settings; ``ClassifierConfig()`` is the shipped default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: dict[Category, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=_default_thresholds,
        description="Score at or above which a category fires; unspecified categories keep 0.5.",
    )
    headline_max_words: int = Field(
        6, ge=1, le=200, description="Literal text longer than this (all pieces) is typography."
    )
    typography_min_blocks: int = Field(
        4, ge=2, le=100, description="This many separate text pieces make typography."
    )
    cjk_chars_per_word: float = Field(
        2.0, gt=0.0, le=10.0, description="Chinese/Japanese characters counted as one word."
    )
    extra_terms: dict[Category, TermList] = Field(
        default_factory=dict,
        description="Terms added to the built-in lexicons, per category.",
    )
    remove_terms: dict[Category, list[str]] = Field(
        default_factory=dict,
        description="Built-in terms to drop, per category.",
    )
    extra_term_weight: float = Field(
        0.9, ge=0.0, le=1.0, description="Weight of extra terms given as a plain list."
    )
    fuzzy_min_length: int = Field(
        8, ge=4, le=50, description="Lexicon words this long also match one typo (edit distance 1)."
    )
    encoding: str = Field("o200k_base", description="tiktoken encoding for literal-text tokens.")
    learned_model: bool = Field(
        True,
        description="Score every prompt with the learned flagship model too (its probability "
        "can send a prompt the rules call efficient to the flagship; see docs/classifier.md).",
    )

    @field_validator("thresholds")
    @classmethod
    def _merge_thresholds(cls, value: dict[Category, float]) -> dict[Category, float]:
        _reject_general(dict(value), "thresholds")
        return {**_default_thresholds(), **value}

    @field_validator("extra_terms")
    @classmethod
    def _check_extra_terms(cls, value: dict[Category, TermList]) -> dict[Category, TermList]:
        _reject_general(dict(value), "extra_terms")
        for category, terms in value.items():
            for term in terms:
                if not term.strip():
                    raise ValueError(f"extra_terms.{category.value}: empty term")
        return value

    @field_validator("remove_terms")
    @classmethod
    def _check_remove_terms(cls, value: dict[Category, list[str]]) -> dict[Category, list[str]]:
        _reject_general(dict(value), "remove_terms")
        return value
