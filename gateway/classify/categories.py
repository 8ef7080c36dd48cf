"""The six prompt categories and which of them need the flagship tier by default."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """What a prompt asks the image model for; a prompt can have several."""

    TYPOGRAPHY = "typography"
    HEADLINE = "headline"
    PHOTOREALISM = "photorealism"
    ANIME = "anime"
    MOCKUP = "mockup"
    GENERAL = "general"


#: Categories scored by the classifier; ``general`` is what remains when none fires.
SCORED_CATEGORIES: tuple[Category, ...] = (
    Category.TYPOGRAPHY,
    Category.HEADLINE,
    Category.PHOTOREALISM,
    Category.ANIME,
    Category.MOCKUP,
)

#: Shipped default: a prompt goes to the flagship tier iff one of these fires.
FLAGSHIP_CATEGORIES: frozenset[Category] = frozenset(
    {Category.TYPOGRAPHY, Category.PHOTOREALISM, Category.ANIME}
)
