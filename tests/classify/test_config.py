"""Tuning the classifier from the policy YAML: lexicon edits, thresholds, validation."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from gateway.classify import Category, Classifier, ClassifierConfig


def _from_yaml(text: str) -> ClassifierConfig:
    return ClassifierConfig.model_validate(yaml.safe_load(text))


def test_default_config_is_the_shipped_default() -> None:
    config = ClassifierConfig()
    assert config.headline_max_words == 6
    assert set(config.thresholds) == set(Category) - {Category.GENERAL}
    assert all(t == 0.5 for t in config.thresholds.values())


def test_extra_term_from_yaml_fires() -> None:
    prompt = "a portrait in the style of zorblax"
    assert Category.ANIME not in Classifier.from_config().classify(prompt).categories
    config = _from_yaml("extra_terms:\n  anime: [zorblax]\n")
    result = Classifier.from_config(config).classify(prompt)
    assert Category.ANIME in result.categories
    assert "zorblax" in result.evidence[Category.ANIME]


def test_extra_term_with_weight_and_removed_term() -> None:
    config = _from_yaml(
        "extra_terms:\n  photorealism: {'trail footage': 0.95}\n"
        "remove_terms:\n  photorealism: [dslr]\n"
    )
    classifier = Classifier.from_config(config)
    assert Category.PHOTOREALISM in classifier.classify("trail footage of a deer").categories
    assert Category.PHOTOREALISM not in classifier.classify("a dslr image of a deer").categories


def test_moving_a_threshold_changes_the_outcome() -> None:
    prompt = "a realistic apple"  # "realistic" alone is a weak photo cue (0.6)
    assert Category.PHOTOREALISM in Classifier.from_config().classify(prompt).categories
    strict = _from_yaml("thresholds:\n  photorealism: 0.7\n")
    assert Category.PHOTOREALISM not in Classifier.from_config(strict).classify(prompt).categories
    assert strict.thresholds[Category.ANIME] == 0.5  # others keep their default


def test_headline_boundary_is_tunable() -> None:
    prompt = 'a banner that reads "one two three four five six seven eight"'
    assert Category.TYPOGRAPHY in Classifier.from_config().classify(prompt).categories
    wide = Classifier.from_config(ClassifierConfig(headline_max_words=10))
    categories = wide.classify(prompt).categories
    assert Category.HEADLINE in categories and Category.TYPOGRAPHY not in categories


@pytest.mark.parametrize(
    ("yaml_text", "field"),
    [
        ("thresholds:\n  photorealism: 1.5\n", "thresholds.photorealism"),
        ("thresholds:\n  photo: 0.5\n", "thresholds.photo"),
        ("thresholds:\n  general: 0.5\n", "thresholds"),
        ("extra_terms:\n  cartoon: [x]\n", "extra_terms.cartoon"),
        ("extra_terms:\n  anime: {ghibli: 3}\n", "extra_terms.anime"),
        ("remove_terms:\n  general: [x]\n", "remove_terms"),
        ("headline_max_words: 0\n", "headline_max_words"),
        ("cjk_chars_per_word: -1\n", "cjk_chars_per_word"),
        ("unknown_knob: 1\n", "unknown_knob"),
    ],
)
def test_bad_values_name_the_field(yaml_text: str, field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        _from_yaml(yaml_text)
    locations = [".".join(str(p) for p in error["loc"]) for error in excinfo.value.errors()]
    assert any(loc.startswith(field) for loc in locations), locations


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        ClassifierConfig().headline_max_words = 9  # type: ignore[misc]
