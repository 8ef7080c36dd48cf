"""Compose the labelled training prompts: every label follows from how the prompt was built.

Each generator below writes prompts of one kind, following the category definitions and the
conventions of ``../shared/eval/README.md``: a named anime character, series or illustrator,
or a list of booru tags, is anime; camera, lens, film-stock and lighting jargon is
photorealism; more than six words of text to render, or four text elements, is typography;
short text, design deliverables, generic art styles and look-alikes stay efficient. Seeded, so
``make train-classifier`` rebuilds the same set.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import vocab as v
from wordfreq import top_n_list

TAGS = Path(__file__).parent / "data" / "danbooru_tags.csv"
#: Series (and characters qualified by them) drawn in a western or mixed style: on the tag site
#: they are drawn as anime, in a prompt they ask for no anime look.
WESTERN = (
    "league_of_legends",
    "overwatch",
    "marvel",
    "dc_comics",
    "batman",
    "star_wars",
    "disney",
    "pixar",
    "my_little_pony",
    "minecraft",
    "the_legend_of_zelda",
    "zelda",
    "pokemon",
    "mario",
    "sonic",
    "kirby",
    "street_fighter",
    "mortal_kombat",
    "warcraft",
    "world_of_warcraft",
    "dota",
    "valorant",
    "fortnite",
    "apex_legends",
    "helltaker",
    "undertale",
    "deltarune",
    "hazbin_hotel",
    "helluva_boss",
    "rwby",
    "avatar",
    "adventure_time",
    "gravity_falls",
    "steven_universe",
    "the_simpsons",
    "spider-man",
    "x-men",
    "transformers",
    "star_trek",
    "harry_potter",
    "lord_of_the_rings",
    "game_of_thrones",
    "the_witcher",
    "cyberpunk",
    "fallout",
    "elden_ring",
    "dark_souls",
    "bloodborne",
    "team_fortress",
    "portal",
    "half-life",
    "resident_evil",
    "metroid",
    "animal_crossing",
    "splatoon",
    "super_smash_bros",
    "final_fantasy",
    "dragon_quest",
    "kingdom_hearts",
    "sekiro",
    "nier",
    "original",
    "real_life",
    "among_us",
    "five_nights",
    "friday_night_funkin",
    "scooby-doo",
    "looney_tunes",
    "sesame_street",
    "tintin",
    "asterix",
    "dungeons_and_dragons",
    "warhammer",
    "magic:_the_gathering",
    "hololive",
    "nijisanji",
    "virtual_youtuber",
    "vshojo",
    "idolmaster_(classic)",
)
#: Left out of the ordinary vocabulary (sexual or violent words).
BLOCKED_WORDS = frozenset(
    [
        "sex",
        "sexy",
        "sexual",
        "porn",
        "porno",
        "nude",
        "naked",
        "nudity",
        "penis",
        "vagina",
        "breast",
        "breasts",
        "boobs",
        "tits",
        "ass",
        "anal",
        "oral",
        "fuck",
        "fucking",
        "fucked",
        "shit",
        "bitch",
        "cock",
        "dick",
        "pussy",
        "cum",
        "slut",
        "whore",
        "rape",
        "raped",
        "kill",
        "killed",
        "killing",
        "murder",
        "suicide",
        "blood",
        "bloody",
        "gore",
        "corpse",
        "dead",
        "death",
        "drug",
        "drugs",
        "cocaine",
        "heroin",
        "nazi",
        "erotic",
        "fetish",
        "orgasm",
        "masturbation",
        "nipple",
        "nipples",
        "lingerie",
        "bikini",
        "horny",
        "hentai",
        "xxx",
        "nigga",
        "nigger",
        "fag",
        "faggot",
        "retard",
        "kills",
        "killer",
        "shooting",
        "shot",
        "gun",
        "guns",
        "weapon",
        "bomb",
        "terrorist",
    ]
)
QUALITY = [
    "masterpiece",
    "best quality",
    "highres",
    "absurdres",
    "ultra detailed",
    "very aesthetic",
    "amazing quality",
    "newest",
    "high quality",
    "official art",
]
COUNTS = [
    "1girl",
    "1boy",
    "2girls",
    "2boys",
    "solo",
    "multiple girls",
    "3girls",
    "no humans",
    "1other",
]


@dataclass(frozen=True, slots=True)
class Example:
    prompt: str
    flagship: bool
    kind: str


class Tags:
    """The tag dictionary, by category, with draws weighted by the square root of use."""

    def __init__(self, path: Path = TAGS) -> None:
        by: dict[str, list[tuple[str, int]]] = {}
        self.aliases: dict[str, list[str]] = {}
        self.counts: dict[str, int] = {}
        with path.open(encoding="utf-8", newline="") as handle:
            for record in csv.DictReader(handle):
                tag, category = record["tag"], record["category"]
                if any(w in tag for w in WESTERN):
                    continue
                by.setdefault(category, []).append((tag, int(record["count"])))
                self.counts[tag] = int(record["count"])
                if record["aliases"]:
                    self.aliases[tag] = record["aliases"].split(";")
        self.names = {c: [t for t, _ in rows] for c, rows in by.items()}
        self._queues: dict[str, list[str]] = {}
        words = [w for w in top_n_list("en", 20_000) if w.isalpha() and len(w) > 2]
        self.common = words[:3000]
        self.weights = {c: [n**0.5 for _, n in rows] for c, rows in by.items()}
        cues = _cue_words()
        # The 300 most used words are function words; the rest is ordinary vocabulary.
        self.words = [w for w in words[300:] if w not in cues and w not in BLOCKED_WORDS]

    def draw(self, rng: random.Random, category: str, k: int = 1) -> list[str]:
        return rng.choices(self.names[category], self.weights[category], k=k)

    def cycle(self, rng: random.Random, category: str) -> str:
        """Every tag of a category in turn (reshuffled each round), so each name is seen;
        a third of the time under one of its other names (an English title, say)."""
        queue = self._queues.setdefault(category, [])
        if not queue:
            queue.extend(self.names[category])
            rng.shuffle(queue)
        tag = queue.pop()
        others = self.aliases.get(tag)
        return rng.choice(others) if others and rng.random() < 0.33 else tag


def _cue_words() -> set[str]:
    """Words that are a flagship cue on their own: the rules' photorealism, anime and
    typography terms and this vocabulary's camera, film and anime words."""
    from gateway.classify.lexicon import load_builtin_lexicons
    from gateway.classify.normalize import normalize_text, tokenize

    lexicons = load_builtin_lexicons()
    terms = [
        term
        for category, entries in lexicons.items()
        if category.value in ("photorealism", "anime", "typography")
        for term, weight in entries.items()
        if weight > 0
    ]
    terms += v.CAMERAS + v.LENSES + v.FILM + v.PHOTO_GENRES + v.EXPOSURE + v.ANIME_STYLES
    return {token for term in terms for token in tokenize(normalize_text(term)) if token.isalpha()}


_QUALIFIER = re.compile(r"_?\(([^)]*)\)")


def display_name(tag: str, rng: random.Random) -> tuple[str, str | None]:
    """``kamado_tanjirou`` -> "Kamado Tanjirou", "Tanjirou Kamado" or just "Tanjirou" (prompts
    often name a character by one name); the qualifier (``(genshin_impact)``) comes back as
    the series, if any."""
    match = _QUALIFIER.search(tag)
    series = match.group(1).replace("_", " ") if match else None
    words = _QUALIFIER.sub("", tag).strip("_.").split("_")
    if len(words) == 2:
        roll = rng.random()
        if roll < 0.3:
            words = [words[-1]]  # the given name, in the tag's Japanese order
        elif roll < 0.4:
            words = [words[0]]
        elif roll < 0.7:
            words.reverse()
    name = " ".join(words)
    if rng.random() < 0.7:
        name = name.title()
    return name, series


def _pick(rng: random.Random, items: list[str], k: int) -> list[str]:
    return rng.sample(items, min(k, len(items)))


def _scene(rng: random.Random, who: str | None = None) -> str:
    parts = [who or rng.choice(v.SUBJECTS)]
    if rng.random() < 0.7:
        parts.append(rng.choice(v.ACTIONS))
    if rng.random() < 0.8:
        parts.append(rng.choice(v.PLACES))
    return " ".join(parts)


def _decorate(rng: random.Random, text: str) -> str:
    extras = []
    if rng.random() < 0.3:
        extras.append(rng.choice(v.MOODS))
    if rng.random() < 0.3:
        extras.append(rng.choice(v.COLOURS))
    return ", ".join([text, *extras]) if extras else text


def _typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)
    op = rng.random()
    if op < 0.4:
        return word[:i] + word[i + 1 :]
    if op < 0.7:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    return word[:i] + word[i] + word[i:]


# Every class shares these frames, so connectives ("with", "by", "from", "style") carry no
# label: only the cue placed in them does.


def _style_frame(rng: random.Random, scene: str, style: str) -> str:
    return rng.choice(
        [
            f"{scene}, {style}",
            f"{style}, {scene}",
            f"{scene}, {style} style",
            f"{scene} in the style of {style}",
            f"{style} style {scene}",
            f"{scene} with a {style} look",
            f"a {style} picture of {scene}",
        ]
    )


def _artist_frame(rng: random.Random, scene: str, artist: str) -> str:
    return rng.choice(
        [
            f"{scene}, by {artist}",
            f"{scene}, art by {artist}",
            f"in the style of {artist}, {scene}",
            f"{scene} drawn by {artist}",
            f"{artist} style, {scene}",
        ]
    )


def _work_frame(rng: random.Random, who: str, work: str) -> str:
    return rng.choice(
        [
            f"{who} from {work}, {rng.choice(v.PLACES)}",
            f"{work} fan art, {_scene(rng, who)}",
            f"{_scene(rng, who)}, {work}",
            f"a scene from {work}, {_scene(rng)}",
            f"{_scene(rng)} in the world of {work}",
            f"{work} key art of {who} {rng.choice(v.PLACES)}",
            f"official art of {who} from {work}",
        ]
    )


def _who_frame(rng: random.Random, who: str, other: str, details: str) -> str:
    return rng.choice(
        [
            _scene(rng, who),
            f"{who} and {other} {rng.choice(v.ACTIONS)} {rng.choice(v.PLACES)}",
            f"{who} with {details}, {rng.choice(v.PLACES)}",
            f"{who}, {details}, {rng.choice(v.PLACES)}",
            f"a portrait of {who} {rng.choice(v.PLACES)}",
        ]
    )


def _details(rng: random.Random, tags: Tags) -> str:
    return " and ".join(t.replace("_", " ") for t in tags.draw(rng, "general", rng.randint(1, 2)))


# --- flagship -----------------------------------------------------------------------------


def anime_named(rng: random.Random, tags: Tags) -> str:
    name, series = display_name(tags.cycle(rng, "character"), rng)
    if rng.random() < 0.35:
        work = series or display_name(tags.draw(rng, "copyright")[0], rng)[0]
        text = _work_frame(rng, name, work)
    else:
        other, _ = display_name(tags.draw(rng, "character")[0], rng)
        text = _who_frame(rng, name, other, _details(rng, tags))
    if rng.random() < 0.2:
        text += ", " + rng.choice(v.GENERAL_STYLES)
    return _decorate(rng, text)


def anime_series(rng: random.Random, tags: Tags) -> str:
    if rng.random() < 0.3:
        series = rng.choice(v.ANIME_TITLES)
    else:
        series, _ = display_name(tags.cycle(rng, "copyright"), rng)
    if rng.random() < 0.5:
        return _decorate(rng, _style_frame(rng, _scene(rng), series))
    return _decorate(rng, _work_frame(rng, rng.choice(v.SUBJECTS), series))


def anime_artist(rng: random.Random, tags: Tags) -> str:
    if rng.random() < 0.3:
        artist = rng.choice(v.ANIME_CREATORS)
    else:
        artist, _ = display_name(tags.cycle(rng, "artist"), rng)
    return _decorate(rng, _artist_frame(rng, _scene(rng), artist))


def booru(rng: random.Random, tags: Tags) -> str:
    items: list[str] = []
    # Three in ten lists have no count or quality tag ("no humans, scenery, power lines"):
    # the rules know "1girl", so only such lists teach the model what a tag list looks like.
    if rng.random() < 0.7:
        if rng.random() < 0.5:
            items += _pick(rng, QUALITY, rng.randint(1, 3))
        items.append(rng.choice(COUNTS))
    if rng.random() < 0.3:
        items.append(tags.draw(rng, "character")[0])
    if rng.random() < 0.2:
        items.append(tags.draw(rng, "copyright")[0])
    items += tags.draw(rng, "general", rng.randint(4, 30))
    items = list(dict.fromkeys(items))
    if rng.random() < 0.3:
        rng.shuffle(items)
    underscores = rng.random() < 0.3
    out = []
    for item in items:
        item = item if underscores else item.replace("_", " ")
        if rng.random() < 0.05:
            item = f"({item}:{rng.choice(['1.1', '1.2', '1.3'])})"
        out.append(item)
    return ", ".join(out)


def _photo_cue(rng: random.Random) -> str:
    pools = [v.CAMERAS, v.LENSES, v.FILM, v.EXPOSURE, v.EXPOSURE, v.PHOTO_GENRES]
    cues = [rng.choice(pool) for pool in rng.sample(pools, rng.randint(1, 3))]
    if rng.random() < 0.25:
        cues.append(
            rng.choice(["shot on ", "taken with ", "captured with ", ""]) + rng.choice(v.CAMERAS)
        )
    if rng.random() < 0.08:
        cues.append(_typo(rng, rng.choice(v.PHOTO_TYPO_BASES)))
    return ", ".join(cues)


def photo(rng: random.Random, tags: Tags) -> str:
    scene = _scene(rng)
    cue = _photo_cue(rng)
    roll = rng.random()
    if roll < 0.6:
        text = rng.choice([f"{scene}, {cue}", f"{cue}, {scene}", f"{scene} with {cue}"])
    elif roll < 0.8:
        text = f"{rng.choice(v.PHOTO_GENRES)} of {scene}, {cue}"
    else:
        text = _style_frame(rng, scene, rng.choice(v.PHOTO_GENRES + v.FILM))
    return _decorate(rng, text)


def _long_text(rng: random.Random, tags: Tags) -> str:
    if rng.random() < 0.4:
        start = rng.randrange(len(v.LONG_TEXT_WORDS) - 20)
        return " ".join(v.LONG_TEXT_WORDS[start : start + rng.randint(7, 18)])
    common = tags.common
    return " ".join(rng.choice(common) for _ in range(rng.randint(7, 16)))


def _text_list(rng: random.Random, tags: Tags) -> str:
    items = [rng.choice(tags.words) for _ in range(rng.randint(4, 7))]
    return ", ".join(items[:-1]) + rng.choice([", ", " and "]) + items[-1]


def typography(rng: random.Random, tags: Tags) -> str:
    roll = rng.random()
    obj = rng.choice(v.TEXT_OBJECTS + v.TEXT_CARRIERS)
    if roll < 0.45:
        text = _long_text(rng, tags)
        if rng.random() < 0.4:
            text = f'"{text}"'
        return f"{obj} {rng.choice(v.TEXT_VERBS + v.LONG_TEXT_VERBS)} {text}"
    if roll < 0.6:
        count = rng.choice(["four", "five", "six", "4", "5", "several", "seven"])
        frame = rng.choice(
            [
                "{o} listing {l}",
                "{o} with {c} labelled steps: {l}",
                "{o} with the items {l}",
                "{o} showing {l} with their prices",
                "{o} with sections titled {l}",
                "{o} with {c} labels: {l}",
                "{o} that lists {l}",
            ]
        )
        return frame.format(o=obj, c=count, l=_text_list(rng, tags))
    template = rng.choice(v.DOCUMENTS)
    return template.format(
        items=", ".join(_pick(rng, v.MENU_ITEMS, rng.randint(4, 8))),
        title=rng.choice(
            ["quarterly sales", "climate change", "team goals", "product roadmap", "ocean currents"]
        ),
        places=", ".join(
            _pick(
                rng,
                ["Old Town", "Harbor", "Riverside", "Hill Park", "Market Square", "North End"],
                4,
            )
        ),
        name=rng.choice(v.NAMES),
    )


def anime_explicit(rng: random.Random, tags: Tags) -> str:
    return _decorate(rng, _style_frame(rng, _scene(rng), rng.choice(v.ANIME_STYLES)))


def lang_flagship(rng: random.Random, tags: Tags) -> str:
    lang = rng.choice(list(v.LANG_SUBJECTS))
    roll = rng.random()
    if roll < 0.4:
        template = rng.choice(v.LANG_TEMPLATES["photo"][lang])
        extra = rng.choice(v.LENSES + v.FILM + v.CAMERAS) if rng.random() < 0.3 else ""
    elif roll < 0.7:
        template = rng.choice(v.LANG_TEMPLATES["anime"][lang])
        extra = ""
    elif roll < 0.85 and lang in v.CJK_ANIME_NAMES:
        template = rng.choice(v.CJK_ANIME_TEMPLATES[lang])
        return template.format(
            n=rng.choice(v.CJK_ANIME_NAMES[lang]), p=rng.choice(v.CJK_PLACES[lang])
        )
    else:
        texts = v.LANG_TEXT[lang]
        return rng.choice(texts["verb"]).format(t=rng.choice(texts["long"]))
    text = template.format(s=rng.choice(v.LANG_SUBJECTS[lang]))
    return f"{text}, {extra}" if extra else text


# --- efficient ----------------------------------------------------------------------------


def general(rng: random.Random, tags: Tags) -> str:
    scene = _scene(rng)
    roll = rng.random()
    if rng.random() < 0.15:
        scene += ", " + rng.choice(
            [
                "4k",
                "8k",
                "1920s",
                "1980s",
                "2 people",
                "3 birds",
                "16:9",
                "100 years old",
                "year 3000",
            ]
        )
    if roll < 0.25:
        return _decorate(rng, scene)
    if roll < 0.6:
        return _decorate(rng, _style_frame(rng, scene, rng.choice(v.GENERAL_STYLES)))
    if roll < 0.8:
        artist = rng.choice(v.WESTERN_ARTISTS) if rng.random() < 0.6 else _person(rng)
        return _decorate(rng, _artist_frame(rng, scene, artist))
    styles = _pick(rng, v.GENERAL_STYLES, rng.randint(2, 5))
    return ", ".join([scene, *styles])


def _person(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(v.WESTERN_NAMES)
    if roll < 0.6:
        return rng.choice(v.FIRST_NAMES)
    name = f"{rng.choice(v.FIRST_NAMES)} {rng.choice(v.LAST_NAMES)}"
    return name if rng.random() < 0.8 else name.lower()


def named_general(rng: random.Random, tags: Tags) -> str:
    who = _person(rng)
    if rng.random() < 0.35:
        text = _work_frame(rng, who, rng.choice(v.WESTERN_WORKS))
    else:
        text = _who_frame(rng, who, _person(rng), _details(rng, tags))
    if rng.random() < 0.3:
        text += ", " + rng.choice(v.GENERAL_STYLES)
    return _decorate(rng, text)


def keywords(rng: random.Random, tags: Tags) -> str:
    """A comma-separated keyword list of the generic kind: not booru tags, not anime."""
    items = [rng.choice(v.SUBJECTS), rng.choice(v.PLACES)]
    items += _pick(rng, v.MOODS + v.COLOURS, rng.randint(1, 3))
    items += _pick(rng, v.GENERAL_STYLES, rng.randint(2, 8))
    rng.shuffle(items)
    return ", ".join(items)


def ordinary(rng: random.Random, tags: Tags) -> str:
    """Ordinary words in simple frames: most of real traffic, and what a prompt with no cue
    the model knows should be taken for."""
    w = lambda: rng.choice(tags.words)  # noqa: E731
    frame = rng.choice(
        [
            "a {0} {1}",
            "a {0} and a {1}",
            "{0} {1} {p}",
            "a {0} made of {1}",
            "the {0} of {1}",
            "a {0} next to a {1}",
            "{s} with a {0}",
            "{s} holding a {0} {p}",
            "a {0} {p}",
            "an illustration of a {0} {1}",
            "a {0} on top of a {1}",
            "two {0}s and a {1}",
            "{0}, {1}, {2}",
            "a {0} {1} with {2} {p}",
            "{s} and a {0}",
            "a picture of {0}",
        ]
    )
    if rng.random() < 0.25:
        frame = (
            rng.choice(
                ["{n} {0}s {p}", "{n} {0}s and {m} {1}s", "a {0} with {n} {1}s", "{0} number {n}"]
            )
            if rng.random() < 0.8
            else frame
        )
    text = frame.format(
        w(),
        w(),
        w(),
        p=rng.choice(v.PLACES),
        s=rng.choice(v.SUBJECTS),
        n=rng.choice(["2", "3", "4", "5", "7", "10", "12", "100", "two", "three", "five"]),
        m=rng.choice(["1", "2", "3", "6", "one", "four"]),
    )
    if rng.random() < 0.25:
        text += ", " + rng.choice(v.GENERAL_STYLES)
    return text.capitalize() + "." if rng.random() < 0.2 else text


def lookalike(rng: random.Random, tags: Tags) -> str:
    styles = _pick(rng, v.GENERAL_STYLES, rng.randint(0, 2))
    return ", ".join([rng.choice(v.LOOKALIKES), *styles])


def mockup(rng: random.Random, tags: Tags) -> str:
    text = rng.choice(v.MOCKUPS).format(thing=rng.choice(v.THINGS), subject=rng.choice(v.SUBJECTS))
    if rng.random() < 0.4:
        text = _style_frame(
            rng,
            text,
            rng.choice(
                [
                    "flat",
                    "minimalist",
                    "modern",
                    "vector",
                    "clean",
                    "material design",
                    "neumorphic",
                    "retro",
                    "playful",
                    "corporate",
                ]
            ),
        )
    return text


def headline(rng: random.Random, tags: Tags) -> str:
    text = rng.choice(v.SHORT_TEXTS)
    if rng.random() < 0.6:
        text = f'"{text}"'
    # The same objects as typography's: the text's length decides, never what carries it.
    obj = rng.choice(v.TEXT_OBJECTS + v.TEXT_CARRIERS)
    prompt = f"{obj} {rng.choice(v.TEXT_VERBS)} {text}"
    if rng.random() < 0.4:
        prompt += " " + rng.choice(v.PLACES)
    return prompt


def carrier_plain(rng: random.Random, tags: Tags) -> str:
    """A text-bearing object with no text given ("a birthday card design with balloons"): an
    object that often carries text is no cue by itself."""
    carrier = rng.choice(v.TEXT_CARRIERS + v.TEXT_OBJECTS)
    return rng.choice(v.CARRIER_FRAMES).format(
        c=carrier,
        c_bare=carrier.split(" ", 1)[1],
        d=rng.choice(v.CARRIER_DETAILS),
        p=rng.choice(v.PLACES),
    )


def plain_tags(rng: random.Random, tags: Tags) -> str:
    """Ordinary words a tag list also uses, in a sentence: not a tag list, not anime."""
    return _scene(rng, f"{rng.choice(v.SUBJECTS)} with {_details(rng, tags)}")


def lang_efficient(rng: random.Random, tags: Tags) -> str:
    lang = rng.choice(list(v.LANG_SUBJECTS))
    roll = rng.random()
    if roll < 0.55:
        template = rng.choice(v.LANG_TEMPLATES["general"][lang])
    elif roll < 0.8:
        template = rng.choice(v.LANG_TEMPLATES["mockup"][lang])
    else:
        texts = v.LANG_TEXT[lang]
        return rng.choice(texts["verb"]).format(t=rng.choice(texts["short"]))
    return template.format(s=rng.choice(v.LANG_SUBJECTS[lang]))


Generator = Callable[[random.Random, Tags], str]
#: (generator, flagship?, share of the set)
RECIPE: list[tuple[Generator, bool, float]] = [
    (anime_named, True, 0.13),
    (anime_series, True, 0.035),
    (anime_artist, True, 0.03),
    (booru, True, 0.07),
    (photo, True, 0.12),
    (typography, True, 0.05),
    (anime_explicit, True, 0.025),
    (lang_flagship, True, 0.07),
    (general, False, 0.20),
    (ordinary, False, 0.10),
    (named_general, False, 0.08),
    (keywords, False, 0.04),
    (lookalike, False, 0.04),
    (mockup, False, 0.08),
    (headline, False, 0.06),
    (carrier_plain, False, 0.03),
    (plain_tags, False, 0.03),
    (lang_efficient, False, 0.07),
]


def generate(count: int, seed: int = 17, tags: Tags | None = None) -> Iterator[Example]:
    """``count`` examples (duplicates dropped), deterministic for a seed."""
    rng = random.Random(seed)
    tags = tags or Tags()
    seen: set[str] = set()
    generators = [g for g, _, _ in RECIPE]
    shares = [s for _, _, s in RECIPE]
    flagship = {g: f for g, f, _ in RECIPE}
    produced = 0
    while produced < count:
        gen = rng.choices(generators, shares)[0]
        prompt = gen(rng, tags)
        if prompt in seen:
            continue
        seen.add(prompt)
        produced += 1
        yield Example(prompt, flagship[gen], gen.__name__)
