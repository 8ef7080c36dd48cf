"""The learned flagship model: its features, its file, and how routing, eval and calibrate use it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.classify import Classifier, ClassifierConfig
from gateway.classify.evaluate import evaluate, load_dataset, tier_at
from gateway.classify.learned import FlagshipModel, ModelFileError, routing_score, text_features
from gateway.classify.learned.features import MAX_CJK_CHARS, MAX_TOKENS
from gateway.classify.learned.model import BUILTIN_PATH, share_at, threshold_for_share
from gateway.classify.normalize import normalize_text, tokenize
from gateway.cli import main
from gateway.explain import explain_prompt, explain_text
from gateway.pipeline.routing import decide_route, score_threshold
from gateway.policy.loader import PolicyError, load_policy_text
from gateway.policy.schema import Policy
from tests.conftest import policy_dict

DATA = Path(__file__).parent / "data"
PROBE_3 = DATA / "implicit_probe_3.csv"
#: A Touhou character, named without a word of "anime" or "manga": the rules see nothing.
NAMED = "Kirisame Marisa flying over a bamboo forest"
PLAIN = "a cat sleeping on a sofa"
PHOTO = "a photo of a red fox in the snow, 85mm"


def make_policy(mutate: Any = None) -> Policy:
    raw = policy_dict()
    if mutate is not None:
        mutate(raw)
    return load_policy_text(yaml.safe_dump(raw), env={})


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_config()


# --- features and file ----------------------------------------------------------------------


def features_of(prompt: str) -> set[str]:
    return text_features(tokenize(normalize_text(prompt)))


def test_features_fold_digits_and_cut_long_prompts() -> None:
    assert {"00mm", "f", "0", "00mm f"} <= features_of("85mm f/1.4")
    tokens = tokenize(normalize_text("masterpiece, " * 100 + "ghibli"))
    assert text_features(tokens) == text_features(tokens[:MAX_TOKENS])
    assert "ghibli" not in text_features(tokens)


def test_cjk_prompts_give_character_ngrams_of_their_opening() -> None:
    features = features_of("吉卜力风格的小镇")
    assert {"吉", "吉卜", "卜力", "风格"} <= features
    assert {"龙", "龙龙"} <= features_of("猫" * 50 + "龙" * 200)
    assert "虎" not in features_of("猫" * MAX_CJK_CHARS + "虎")


def test_the_shipped_model_loads_and_scores_deterministically(classifier: Classifier) -> None:
    model = FlagshipModel.builtin()
    assert model.meta["trained_by"] == "training/classifier/train.py"
    first = classifier.classify(NAMED).flagship_p
    assert first is not None and 0.0 < first <= 1.0
    assert Classifier.from_config().classify(NAMED).flagship_p == first


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "Expecting value"),
        ('{"format": "something-else"}', "not a tiergate-flagship-model/1 file"),
        (
            '{"format": "tiergate-flagship-model/1", "features": [5, 5]}',
            "trained on other features",
        ),
        (
            json.dumps(
                {"format": "tiergate-flagship-model/1", "features": [MAX_TOKENS, MAX_CJK_CHARS]}
            ),
            "malformed",
        ),
    ],
)
def test_a_bad_model_file_is_refused_with_its_path(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(ModelFileError, match=problem) as caught:
        FlagshipModel.load(path)
    assert str(path) in str(caught.value)


def test_the_model_can_be_turned_off(classifier: Classifier) -> None:
    off = Classifier.from_config(ClassifierConfig(learned_model=False))
    result = off.classify(NAMED)
    assert result.flagship_p is None
    assert result.categories == classifier.classify(NAMED).categories
    assert result.to_dict()["flagship_p"] is None


# --- what the model decides --------------------------------------------------------------------


def test_a_named_character_goes_to_the_flagship_with_the_models_reason(
    classifier: Classifier,
) -> None:
    result = classifier.classify(NAMED)
    assert not result.rules_flagship  # the rules alone say efficient
    decision = decide_route(make_policy(), "demo", "auto", result)
    assert decision.tier == "flagship"
    assert decision.reasons == (f"model:flagship_p={result.flagship_p:.2f}",)
    assert decision.classified_tier == "flagship"


@pytest.mark.parametrize(
    "prompt",
    [
        "Наруто бежит по крышам деревни",  # Cyrillic, read as "naruto"
        "Луффи смеётся на носу корабля",  # a final "и" read as "y": "luffy"
        "鸣人在雨中奔跑",  # Chinese
        "ナルトが森を走っている",  # Japanese
        "나루토가 숲에서 달린다",  # Korean, with a particle attached
        "Goku eating noodles at a street stall",  # famous enough to be common in any text
    ],
)
def test_a_known_name_in_any_script_goes_to_the_flagship(
    classifier: Classifier, prompt: str
) -> None:
    result = classifier.classify(prompt)
    decision = decide_route(make_policy(), "demo", "auto", result)
    assert decision.tier == "flagship", (prompt, result.flagship_p)


@pytest.mark.parametrize(
    "prompt",
    [
        # Objects that often carry text are no cue without it, nor with a short text.
        "a birthday card with a drawing of a dinosaur",
        "a protest sign that reads no more cuts",
        "a postcard of a lighthouse on a cliff",
        # An everyday word that is also a series' name in CJK script, and a Russian sentence.
        "一件白色的连衣裙和一件ワンピース",
        "Девушка читает книгу у окна",
    ],
)
def test_look_alikes_of_names_and_text_stay_on_efficient(
    classifier: Classifier, prompt: str
) -> None:
    decision = decide_route(make_policy(), "demo", "auto", classifier.classify(prompt))
    assert decision.tier == "efficient", (prompt, classifier.classify(prompt).flagship_p)


def test_the_name_gazetteer_keeps_famous_names_and_drops_words() -> None:
    names = FlagshipModel.builtin().gazetteers["@anime_name"]
    assert {"naruto", "goku", "pikachu", "路飞", "ナルト", "나루토"} <= names
    assert not {"online", "cafe", "ワンピース", "孙悟空"} & names


@pytest.mark.parametrize(
    "prompt", [PLAIN, "a watercolor of a lighthouse at dusk", "an app icon for a weather service"]
)
def test_ordinary_prompts_stay_on_efficient(classifier: Classifier, prompt: str) -> None:
    decision = decide_route(make_policy(), "demo", "auto", classifier.classify(prompt))
    assert decision.tier == "efficient"
    assert not any(r.startswith("model:") for r in decision.reasons)


def test_at_the_default_threshold_the_model_never_takes_a_rules_flagship_away(
    classifier: Classifier,
) -> None:
    policy = make_policy()
    for row in load_dataset(PROBE_3):
        result = classifier.classify(row.prompt)
        if result.rules_flagship:
            assert decide_route(policy, "demo", "auto", result).tier == "flagship", row.prompt


def test_a_threshold_above_one_half_takes_doubted_flagships_away(classifier: Classifier) -> None:
    def strict(raw: dict[str, Any]) -> None:
        raw["routing"]["flagship_threshold"] = 0.999999

    result = classifier.classify(PHOTO)
    assert result.rules_flagship
    decision = decide_route(make_policy(strict), "demo", "auto", result)
    assert decision.tier == "efficient"
    assert decision.reasons[0] == f"model:flagship_p={result.flagship_p:.2f}"


def test_a_forced_tier_ignores_the_model(classifier: Classifier) -> None:
    decision = decide_route(make_policy(), "demo", "efficient", classifier.classify(NAMED))
    assert (decision.tier, decision.reasons) == ("efficient", ("forced:efficient",))


def test_the_team_setting_wins_over_routing() -> None:
    def both(raw: dict[str, Any]) -> None:
        raw["routing"]["flagship_share_target"] = 0.3
        raw["teams"]["alpha"]["flagship_threshold"] = 0.42

    policy = make_policy(both)
    assert score_threshold(policy, policy.teams["alpha"]) == 0.42
    expected = FlagshipModel.builtin().threshold_for_share(0.3)
    assert score_threshold(policy, policy.teams["demo"]) == expected
    assert score_threshold(make_policy(), None) == FlagshipModel.builtin().default_score_threshold


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ({"flagship_share_target": 0.3, "flagship_threshold": 0.4}, "not both"),
        ({"flagship_share_target": 1.5}, "less than 1"),
        ({"flagship_share_target": 0}, "greater than 0"),
        ({"flagship_threshold": -0.1}, "greater than or equal to 0"),
    ],
)
def test_bad_share_settings_are_refused(routing: dict[str, float], message: str) -> None:
    with pytest.raises(PolicyError, match=message) as caught:
        make_policy(lambda raw: raw["routing"].update(routing))
    assert "routing" in str(caught.value)


def test_a_lower_share_target_sends_fewer_prompts_to_the_flagship(classifier: Classifier) -> None:
    prompts = [row.prompt for row in load_dataset(PROBE_3)]
    shares = []
    for target in (0.2, 0.5, 0.8):
        policy = make_policy(lambda raw, t=target: raw["routing"].update(flagship_share_target=t))
        tiers = [decide_route(policy, "demo", "auto", classifier.classify(p)).tier for p in prompts]
        shares.append(tiers.count("flagship") / len(tiers))
    assert shares[0] < shares[1] < shares[2]


# --- thresholds --------------------------------------------------------------------------------


def test_threshold_for_share_takes_the_nearer_side_of_a_tie() -> None:
    scores = [0.1] * 6 + [0.3, 0.6, 0.8, 0.9]
    assert share_at(scores, threshold_for_share(scores, 0.3)) == pytest.approx(0.3)
    # 0.5 falls inside the tie at 0.1: 40% (above it) is nearer than 100% (at it).
    assert threshold_for_share(scores, 0.5) == 0.3
    assert share_at(scores, threshold_for_share(scores, 0.9)) == 1.0
    assert share_at(scores, threshold_for_share(scores, 0.0)) == 0.0


def test_routing_score_puts_every_rules_flagship_above_every_other_prompt() -> None:
    assert routing_score(True, 0.0) == 0.5 > routing_score(False, 0.999)
    assert routing_score(False, 0.7) == FlagshipModel.builtin().default_score_threshold


# --- eval, calibrate, explain ------------------------------------------------------------------


def test_the_model_lifts_recall_on_implicit_cues_without_losing_ordinary_prompts() -> None:
    rows = load_dataset(PROBE_3)
    rules = evaluate(rows, Classifier.from_config(ClassifierConfig(learned_model=False)))
    both = evaluate(rows, Classifier.from_config())
    assert both.flagship_recall >= rules.flagship_recall + 0.08
    assert both.tier_accuracy > rules.tier_accuracy
    assert both.efficient_recall >= 0.95


def test_tier_at_a_threshold(classifier: Classifier) -> None:
    named = classifier.classify(NAMED)
    assert tier_at(named, None) == "flagship"
    assert tier_at(named, 0.9) == "efficient"
    assert tier_at(classifier.classify(PLAIN), None) == "efficient"


def test_calibrate_prints_the_threshold_for_a_target(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["calibrate", "--dataset", str(PROBE_3), "--target", "0.3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == len(load_dataset(PROBE_3))
    (result,) = out["targets"]
    assert abs(result["expected_share"] - 0.3) <= 0.02
    assert result["flagship_recall"] is not None and result["tier_accuracy"] is not None
    threshold = result["threshold"]
    policy = make_policy(lambda raw: raw["routing"].update(flagship_threshold=threshold))
    classifier = Classifier.from_config()
    rows = load_dataset(PROBE_3)
    tiers = [decide_route(policy, "demo", "auto", classifier.classify(r.prompt)).tier for r in rows]
    assert tiers.count("flagship") / len(rows) == pytest.approx(result["expected_share"], abs=0.02)


def test_calibrate_reads_unlabelled_prompts_and_prints_a_policy_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dataset = tmp_path / "traffic.csv"
    dataset.write_text("prompt\n" + "\n".join([NAMED, PLAIN, PHOTO, "a red bicycle"]) + "\n")
    assert main(["calibrate", "--dataset", str(dataset), "--target", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "flagship_threshold:" in out and "flagship recall" not in out


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        ("text\nhello\n", [], "needs a header with a 'prompt' column"),
        ("prompt\nhello\n", ["--target", "1.2"], "--target must be between 0 and 1"),
        ("prompt,tier\nhello,premium\n", [], "tier must be flagship or efficient"),
    ],
)
def test_calibrate_refuses_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, args: list[str], message: str
) -> None:
    dataset = tmp_path / "bad.csv"
    dataset.write_text(content)
    assert main(["calibrate", "--dataset", str(dataset), *args]) == 2
    assert message in capsys.readouterr().err


def test_explain_shows_the_model_and_the_rules_side_by_side() -> None:
    result = explain_prompt(make_policy(), "demo", NAMED)
    assert result["rules"]["tier"] == "efficient"
    assert result["model"]["changed_tier"] is True
    assert result["decision"]["tier"] == "flagship"
    text = explain_text(result)
    assert "rules  -> efficient" in text
    assert f"flagship_p={result['model']['flagship_p']:.2f}" in text
    assert "[changed the tier]" in text


def test_explain_lists_the_rule_hits_beside_the_probability() -> None:
    result = explain_prompt(make_policy(), "demo", PHOTO)
    assert "photorealism: dslr" in result["rules"]["hits"] or any(
        hit.startswith("photorealism: ") for hit in result["rules"]["hits"]
    )
    assert result["model"]["says"] == "flagship" and result["model"]["changed_tier"] is False


def test_the_model_file_lists_its_sources() -> None:
    meta = json.loads(BUILTIN_PATH.read_text())["meta"]
    assert any("a1111-sd-webui-tagcomplete" in s for s in meta["sources"])
    assert meta["left_out_as_eval_prompts"] >= 0
