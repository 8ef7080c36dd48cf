"""Names in other scripts (``gateway.classify.learned.names``): Cyrillic read as Latin, CJK found."""

from __future__ import annotations

import pytest

from gateway.classify.learned.features import text_features
from gateway.classify.learned.names import CjkNames, cyrillic_readings
from gateway.classify.normalize import normalize_text, tokenize


@pytest.mark.parametrize(
    ("text", "readings"),
    [
        ("Наруто ест рамен в Ичираку", ["naruto", "ichiraku"]),
        ("Хината и Итачи", ["hinata", "itachi", "itachy"]),
        ("Луффи", ["luffi", "luffy"]),
        ("портрет девушки у окна", []),  # no capitalised word: no name
        ("Naruto eating ramen", []),  # Latin text is read as it is
        ("Ян", []),  # too short to be told from a word
    ],
)
def test_capitalised_cyrillic_words_are_read_as_latin(text: str, readings: list[str]) -> None:
    assert cyrillic_readings(text) == readings


def found(names: CjkNames, prompt: str) -> bool:
    text = normalize_text(prompt)
    return names.found(text_features(tokenize(text)), text)


def test_a_cjk_name_is_found_whole_and_only_whole() -> None:
    names = CjkNames(["路飞", "漩涡鸣人", "ナルト", "나루토", "naruto", "uzumaki naruto"])
    assert names
    assert found(names, "路飞和朋友在海边")
    assert found(names, "漩涡鸣人站在雨中")
    assert found(names, "森を走るナルト")
    assert found(names, "나루토가 라멘을 먹는다")  # a particle attached
    assert not found(names, "漩涡和鸣人")  # its characters, not the name
    assert not found(names, "一条路，飞鸟")  # a comma between them
    assert not found(names, "naruto eating ramen")  # Latin names are the gazetteer's own


def test_a_gazetteer_without_cjk_names_is_empty() -> None:
    assert not CjkNames(["naruto", "ikari shinji"])
