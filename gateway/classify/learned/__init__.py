"""The learned flagship scorer: a calibrated logistic model over n-grams and the rules' verdict.

``FlagshipModel.builtin().probability(tokens, categories, text)`` is the probability that a
prompt needs the flagship tier; the weights ship as ``flagship_model.json`` and are produced by
``make train-classifier`` (``training/classifier/``).
"""

from gateway.classify.learned.features import rule_features, text_features
from gateway.classify.learned.model import FlagshipModel, ModelFileError, routing_score

__all__ = ["FlagshipModel", "ModelFileError", "routing_score", "rule_features", "text_features"]
