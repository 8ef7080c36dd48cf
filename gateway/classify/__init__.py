"""Prompt classification: which categories a text-to-image prompt falls in, with evidence.

``Classifier.from_config(cfg).classify(prompt)`` returns a ``Classification``;
``reason_codes`` turns it into short ASCII codes for headers and logs.
"""

from gateway.classify.categories import FLAGSHIP_CATEGORIES, SCORED_CATEGORIES, Category
from gateway.classify.classification import Classification, reason_codes
from gateway.classify.classifier import Classifier
from gateway.classify.config import ClassifierConfig
from gateway.classify.textspans import TextSpan

__all__ = [
    "FLAGSHIP_CATEGORIES",
    "SCORED_CATEGORIES",
    "Category",
    "Classification",
    "Classifier",
    "ClassifierConfig",
    "TextSpan",
    "reason_codes",
]
