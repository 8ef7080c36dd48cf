"""Table-driven behaviour of the shipped classifier: what routes where, and why."""

from __future__ import annotations

import time

import pytest

from gateway.classify import FLAGSHIP_CATEGORIES, Category, Classifier, reason_codes

T, H, P, A, M, G = (
    Category.TYPOGRAPHY,
    Category.HEADLINE,
    Category.PHOTOREALISM,
    Category.ANIME,
    Category.MOCKUP,
    Category.GENERAL,
)

# (prompt, categories that must fire, categories that must not fire)
CASES: list[tuple[str, set[Category], set[Category]]] = [
    # one category each
    ("a red bicycle leaning on a fence", {G}, {T, H, P, A, M}),
    ("a photograph of a lighthouse at dusk", {P}, {A, M, G}),
    ("portrait, 85mm f/1.4, shallow depth of field", {P}, {G}),
    ("street scene, Leica M6, Kodak Portra 400", {P}, {G}),
    ("Canon EOS R5, ISO 100, 1/250s, golden hour", {P}, {G}),
    ("kodak portra 4 0 0, wetplate, portrait of a fisherman", {P}, {G}),
    ("selfie of a grandmother at a rock concert", {P}, {G}),
    ("shot on iPhone, candid moment at a birthday party", {P}, {G}),
    ("a fox in the snow, anime style", {A}, {P, G}),
    ("Naruto eating ramen in the rain", {A}, {G}),
    ("Makima from Chainsaw Man, city at night", {A}, {G}),
    ("a castle in the clouds in the style of Studio Ghibli", {A}, {G}),
    ("the great wave in the style of Hokusai", {A}, {G}),
    ("1girl, solo, long hair, school uniform, looking at viewer, cherry blossoms", {A}, {P, G}),
    ("toon robot, cel shaded, bold outlines", {A}, {G}),
    ("a mobile app login screen for a bank", {M}, {P, A, G}),
    ("a dashboard UI showing sales charts", {M}, {G}),
    ("a flat icon of a paper plane", {M}, {G}),
    ("a minimalist logo for a coffee roaster", {M}, {G}),
    ("A sign that says 'Deep Learning'.", {H}, {T, M, G}),
    ('a chalkboard with the words "Soup of the day"', {H}, {T, G}),
    ('the saying "do unto others as they would do unto you" on a wall', {T}, {H, G}),
    # mixtures
    ('a photo of a bakery storefront with "Fresh Bread" painted on the window', {P, H}, {T, G}),
    ('a poster for a jazz night with the headline "Blue Notes Live"', {M, H}, {T, G}),
    (
        'a restaurant menu listing "Soup", "Salad", "Steak" and "Pie" with prices',
        {T, M},
        {H, G},
    ),
    ('an anime girl holding a sign that says "Starry Night"', {A, H}, {G}),
    # quotes of several kinds
    ("a t-shirt printed with “Carpe Diem”", {H}, {T}),
    ("a mug with the word ‘openai’ written on it", {H}, {T}),
    ("看板に「本日休業」と書かれた店", {H}, {T}),
    ("an advert with the slogan «Vivre mieux»", {H, M}, {T}),
    # unquoted text to render
    ("a neon sign that says open late in pink letters", {H}, {T}),
    ("a birthday cake with the words happy birthday anna", {H}, {T}),
    ("a t-shirt with Carpe Diem written on it", {H}, {T}),
    ("a robot with the number 42 on its chest", {H}, {T}),
    ("一个蛋糕，上面写着生日快乐", {H}, {T}),
    ("一张海报，标题是欢迎来到未来科技博览会现在就报名参加吧", {T, M}, {H}),
    # negation and look-alikes that stay efficient
    ("a poster of a mountain, no text", {M}, {T, H, P}),
    ("a landscape painting, not a photo", set(), {P}),
    ("non-photorealistic watercolor of a harbor", set(), {P}),
    ("a cartoon of a photo frame on a wall", set(), {P}),
    ("a dragon, octane render, unreal engine, 8k, trending on artstation", {G}, {P, A}),
    ("an oil painting of a realistic apple on a table", {G}, {P}),
    ('a cat meditating in the style of "Blade Runner"', {G}, {H, T}),
    ("a man writing a letter on a desk", {G}, {H, T}),
    ("a sticky note", {G}, {M, T, H}),
    # typos and other languages
    ("photgraph of an old barn", {P}, {G}),
    ("photorealstic portrait of a sailor", {P}, {G}),
    ("fotografía de un perro en la playa", {P}, {G}),
    ("Fotografie eines Bahnhofs bei Nacht", {P}, {G}),
    ("一只猫的照片", {P}, {G}),
    ("夕焼けの写真", {P}, {G}),
    ("猫耳の女の子、アニメ風", {A}, {G}),
    ("浮世絵風の富士山", {A}, {G}),
    ("аниме девушка с мечом", {A}, {G}),
    ("二次元少女", {A}, {G}),
    # photographic kit and technique without the word, in several languages
    ("a hummingbird at a feeder, high-speed flash, black background", {P}, {G}),
    ("a beetle on a leaf, focus stacked from 40 frames", {P}, {G}),
    ("a skier dropping off a cornice, helmet cam", {P}, {G}),
    ("a waterfall in a forest, ND filter, slow shutter", {P}, {G}),
    ("50毫米镜头，咖啡馆里的女孩，背景虚化", {P}, {G}),
    ("조리개 1.8, 아웃포커싱, 공원의 강아지", {P}, {G}),
    ("Porträt eines Bäckers, Brennweite 85 mm, geringe Schärfentiefe", {P}, {G}),
    ("портрет кузнеца, объектив 50 мм, боке", {P}, {G}),
    ("a logo for a photo editing app", {M}, {P}),
    # labels and lists of four or more text elements, without quotes
    ("a nutrition label on a bottle of orange juice", {T}, {H}),
    ("a notice board listing yoga, pilates, spinning, boxing and zumba", {T}, {H}),
    ("a diagram of a flower with six labelled parts", {T}, {H}),
    ("a bowl of apples, pears, plums and figs", {G}, {T}),
]


@pytest.mark.parametrize(("prompt", "must", "must_not"), CASES)
def test_categories(
    classifier: Classifier, prompt: str, must: set[Category], must_not: set[Category]
) -> None:
    result = classifier.classify(prompt)
    assert must <= result.categories, (prompt, result.to_dict())
    assert not (must_not & result.categories), (prompt, result.to_dict())


def test_headline_and_typography_never_together(classifier: Classifier) -> None:
    for prompt, _, _ in CASES:
        assert not {T, H} <= classifier.classify(prompt).categories


def test_general_only_when_nothing_else(classifier: Classifier) -> None:
    for prompt, _, _ in CASES:
        categories = classifier.classify(prompt).categories
        assert (G in categories) == (categories == {G})


def test_text_span_reports_tokens_and_words(classifier: Classifier) -> None:
    result = classifier.classify('a poster with the title "The Quick Brown Fox Jumps Over It"')
    (span,) = result.text_spans
    assert span.text == "The Quick Brown Fox Jumps Over It"
    assert span.word_count == 7 and span.quoted
    assert span.token_count == result.literal_text_tokens > 0
    assert T in result.categories


def test_cjk_text_counts_two_characters_per_word(classifier: Classifier) -> None:
    (span,) = classifier.classify("一个蛋糕，上面写着生日快乐").text_spans
    assert span.text == "生日快乐" and span.word_count == 2


def test_evidence_names_what_fired(classifier: Classifier) -> None:
    result = classifier.classify("a DSLR photo of a fox, anime style")
    assert "dslr" in result.evidence[P]
    assert "anime" in result.evidence[A]
    assert result.categories & FLAGSHIP_CATEGORIES


@pytest.mark.parametrize(
    ("prompt", "code"),
    [
        ("a DSLR shot of a heron", "photorealism:term_dslr"),
        ("a forest in the style of Studio Ghibli", "anime:term_studio_ghibli"),
        ("A sign that says 'Deep Learning'.", "headline:quoted_text_2_tokens"),
        ("a settings screen UI", "mockup:term_ui"),
        ("a red car", "general:no_signal"),
        ("アニメの少女", "anime:term_cjk"),
    ],
)
def test_reason_codes(classifier: Classifier, prompt: str, code: str) -> None:
    assert code in reason_codes(classifier.classify(prompt))


@pytest.mark.parametrize("prompt", [p for p, _, _ in CASES] + ["Ünïcödé «ταινία» 🎨 фото"])
def test_reason_codes_are_ascii_header_safe(classifier: Classifier, prompt: str) -> None:
    for code in reason_codes(classifier.classify(prompt)):
        assert code.isascii() and code.isprintable() and " " not in code, code


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t", "🎨🎨🎨", '"', "'''", "「", "«»"])
def test_degenerate_prompts_are_general(classifier: Classifier, prompt: str) -> None:
    result = classifier.classify(prompt)
    assert result.categories == {G}
    assert reason_codes(result) == ["general:no_signal"]


@pytest.mark.parametrize(
    "prompt",
    [
        "a photo of a cat, " * 1800,
        '"' + "word " * 6400,
        "with " * 6400 + "written on",
        "that says " + "x" * 31990,
        "'a" * 16000,
        "写着" * 16000,
        "the number " + "9" * 31989,
    ],
)
def test_huge_prompts_are_fast(classifier: Classifier, prompt: str) -> None:
    start = time.perf_counter()
    classifier.classify(prompt)
    assert time.perf_counter() - start < 0.5  # linear-time regexes: no catastrophic backtracking


def test_classification_serialises(classifier: Classifier) -> None:
    data = classifier.classify('a photo of a sign that says "OPEN"').to_dict()
    assert data["categories"] == ["headline", "photorealism"]
    assert data["text_spans"] == [{"text": "OPEN", "tokens": 1, "words": 1.0, "quoted": True}]


@pytest.mark.parametrize("extra", ["", ", café", ", アニメ風のガンダム", ", ĉi tie"])
def test_korean_terms_match_beside_accented_or_voiced_text(
    classifier: Classifier, extra: str
) -> None:
    """Folding accents decomposes the whole prompt; Hangul is put back together, so a Korean
    photo prompt stays one whatever else it holds."""
    found = classifier.classify("50밀리 렌즈로 찍은 사진" + extra)
    assert Category.PHOTOREALISM in found.categories
    assert "사진" in found.evidence[Category.PHOTOREALISM]
