from __future__ import annotations

import os

import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from gateway.classify import Classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    return Classifier.from_config()
