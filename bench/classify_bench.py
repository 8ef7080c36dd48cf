"""Classifier latency: p50/p99 microseconds per prompt, as a markdown table.

Run: ``python bench/classify_bench.py [--dataset CSV] [--repeat N] [--runs N] [--suite NAME]``.

Method. Each suite is warmed up (every prompt classified twice), then every prompt is timed
``--repeat`` times and its median kept; the table gives p50/p99/max of those medians across
prompts. Two clocks: wall (``perf_counter_ns``) and CPU (``process_time_ns``, which leaves out
time the process spent waiting for a core on a busy machine). The whole measurement is done
``--runs`` times; each cell shows the median over runs and, in brackets, the min-max spread.

Suites (all seeded, so every run times the same prompts):

* ``dev``: the dev set's prompts, as they come.
* ``realistic-1000``: 900-1,000-character prompts written like real long prompts (a scene,
  details, light, mood, a few style or camera words, sometimes a sign to render), not stuffed
  with lexicon terms.
* ``realistic-1000-cold``: the same kind, but every timed call gets a fresh variant with
  invented words and new quoted text, so no per-word or per-span cache can help: the cost of a
  prompt made of words never seen before.
* ``stuffed-1000``: worst case, 900-1,000 characters made only of lexicon-heavy pieces (photo,
  anime, design, quoted and unquoted text, Chinese and Japanese).
* ``tags-1000-4000``: 1,000-4,000-character tag lists (``masterpiece, (long hair:1.2),
  silver_hair, BREAK, ...``, half with a negative prompt), the shape Stable Diffusion
  front-ends send.
* ``tags-1000-4000-cold``: those tag lists, each timed call with a few words swapped for
  invented ones (as ``realistic-1000-cold``): a new list of mostly familiar tags.
* ``tags-1000-4000-unseen``: each timed call with an invented word in every piece, so no
  piece was ever seen before and the per-piece memo never helps: the worst case for it.
* ``chinese``, ``japanese``: 20-600-character prompts of Chinese or Japanese clauses (scene,
  style, camera, now and then a sign or poster with text to render).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.classify import Classifier, ClassifierConfig
from gateway.classify.evaluate import load_dataset

DEV = Path("/work/shared/eval/prompts_dev.csv")
STUFFED_PIECES = [
    "a portrait of an old fisherman", "85mm f/1.4", "shot on Kodak Portra 400", "bokeh",
    "anime style", "1girl, solo, long hair", "in the style of Studio Ghibli", "cel shaded",
    "a landing page UI for a bakery", "minimal flat icon", 'a sign that says "Open Late"',
    'the headline reads "Summer Sale — Everything Must Go Today Only"', "no text",
    "octane render, unreal engine, 8k", "oil painting", "photgraph of a harbor at dawn",
    "写着生日快乐", "アニメ風の少女", "fotografía de la ciudad", "with the words happy birthday",
    "trending on artstation", "highly detailed, sharp focus", "a cozy reading nook",
]  # fmt: skip
# Clauses for realistic long prompts: mostly ordinary description, a little style vocabulary.
SUBJECTS = [
    "an elderly clockmaker bent over a cluttered workbench",
    "a young woman in a yellow raincoat waiting at a tram stop",
    "a fox curled up asleep in a hollow log",
    "two children building a raft from driftwood on a river bank",
    "a lighthouse keeper climbing the spiral stairs with a lantern",
    "a market stall piled high with oranges, figs and pomegranates",
    "a vintage motorcycle parked outside a roadside diner",
    "a greenhouse overflowing with ferns and hanging orchids",
    "a violinist playing alone on an empty subway platform",
    "a herd of wild horses crossing a shallow river",
]
DETAILS = [
    "dust drifting through the air", "puddles reflecting the street lamps",
    "a cat watching from a windowsill", "steam rising from a chipped enamel mug",
    "ivy climbing the crumbling brick walls", "paper lanterns strung between the buildings",
    "a bicycle leaning against the railings", "fallen leaves scattered across the cobblestones",
    "laundry hanging between the balconies", "a half-finished crossword on the table",
    "distant mountains fading into the haze", "gulls circling above the harbour",
    "wildflowers growing between the railway sleepers", "an old map pinned to the wall",
]  # fmt: skip
LIGHT = [
    "warm late-afternoon light", "soft overcast light", "the blue glow of early morning",
    "flickering candlelight", "harsh midday sun with deep shadows", "golden hour",
    "neon reflections on wet asphalt", "moonlight through thin clouds",
]  # fmt: skip
MOOD = [
    "a quiet, contemplative mood", "a sense of nostalgia", "cozy and inviting",
    "eerie and still", "joyful and busy", "melancholic but hopeful",
]  # fmt: skip
STYLE = [
    "highly detailed", "intricate textures", "rich colour palette", "muted earthy tones",
    "wide composition", "centered composition", "trending on artstation", "sharp focus",
    "oil painting", "watercolor illustration", "digital painting", "35mm photograph",
    "shot on a medium format camera", "shallow depth of field", "film grain", "8k",
    "in the style of a storybook illustration", "cinematic lighting",
]  # fmt: skip
SIGNS = [
    'a shop sign that says "Open Late"', 'a chalkboard reading "Fresh Coffee"',
    'a faded poster with the words "Harbour Festival"', "a neon sign that says open all night",
]  # fmt: skip
INVENTED_SYLLABLES = ["bra", "ku", "lo", "mer", "tix", "sa", "vor", "quen", "dal", "ri", "zo"]

# Long tag-style prompts and Chinese/Japanese ones, written for this bench (not from the dev
# set or any public prompt list): tags, weights, underscores, BREAK, a negative prompt.
TAGS = [
    "masterpiece", "best quality", "ultra detailed", "absurdres", "highres", "1girl", "2boys",
    "solo", "long hair", "short hair", "silver hair", "twintails", "blue eyes", "red eyes",
    "looking at viewer", "smile", "open mouth", "school uniform", "serafuku", "hoodie",
    "thighhighs", "outdoors", "cherry blossoms", "night sky", "starry sky", "city lights",
    "rain", "umbrella", "holding umbrella", "from above", "from below", "cowboy shot",
    "full body", "upper body", "dynamic pose", "depth of field", "bokeh", "lens flare",
    "chromatic aberration", "film grain", "soft lighting", "rim lighting", "backlighting",
    "volumetric lighting", "god rays", "watercolor", "cel shading", "flat color", "lineart",
    "sketch", "oil painting", "concept art", "matte painting", "octane render", "unreal engine",
    "8k wallpaper", "hdr", "photorealistic", "raw photo", "dslr", "85mm", "f/1.8", "portrait",
    "close-up", "wide shot", "landscape", "mountains", "river", "forest", "castle", "ruins",
    "steampunk", "cyberpunk", "fantasy", "armor", "sword", "magic circle", "glowing eyes",
    "wings", "feathers", "flowers", "petals", "wind", "floating hair", "detailed background",
    "intricate details", "sharp focus", "vibrant colors", "pastel colors", "monochrome",
    "greyscale", "sepia", "dutch angle", "symmetry", "reflection", "water", "sunset",
    "golden hour", "blue hour", "fog", "mist", "snow", "autumn leaves", "cat ears", "animal ears",
    "tail", "hair ribbon", "hair ornament", "earrings", "necklace", "gloves", "boots",
]  # fmt: skip
NEG = ["lowres", "bad anatomy", "bad hands", "text", "error", "missing fingers", "extra digit",
       "cropped", "worst quality", "low quality", "jpeg artifacts", "signature", "watermark",
       "username", "blurry"]  # fmt: skip
ZH = [
    "一位穿着红色旗袍的女子站在古老的石桥上",
    "远处是雾气缭绕的青山",
    "水墨画风格",
    "细节丰富",
    "夕阳的余晖洒在湖面上",
    "一只橘猫趴在窗台上晒太阳",
    "赛博朋克风格的城市夜景",
    "霓虹灯倒映在湿漉漉的街道上",
    "高清摄影",
    "浅景深",
    "电影感光影",
    "传统中国园林",
    "亭台楼阁",
    "樱花飘落",
    "一家咖啡店的招牌上写着“晨光咖啡”",
    "海报标题为“夏日特惠”",
    "极简主义设计",
    "产品展示图",
    "柔和的自然光",
    "动漫风格的少年手持长剑",
    "背景是金色的麦田",
    "超现实主义",
    "油画质感",
    "8k分辨率",
    "广角镜头",
    "俯视视角",
]
JA = [
    "桜の木の下で微笑む少女",
    "アニメ風のイラスト",
    "夕焼けに染まる海辺の町",
    "雨上がりの路地裏",
    "ネオンが反射する濡れた道路",
    "写真のようにリアルな風景",
    "浅い被写界深度",
    "柔らかい光",
    "古い木造の駅舎",
    "湯気の立つラーメン",
    "看板に「営業中」と書かれた小さな食堂",
    "ポスターのタイトルは「夏祭り」",
    "水彩画風",
    "細部まで描き込まれた背景",
    "ファンタジーの城",
    "銀髪の騎士が剣を構える",
    "星空の下のキャンプ場",
    "ミニマルなデザイン",
    "ロゴ入りのパッケージ",
    "映画のワンシーンのような構図",
    "広角レンズ",
    "高解像度",
]


def tag_prompt(rng: random.Random, lo: int = 1000, hi: int = 4000) -> str:
    """A 1,000-4,000-character prompt of tags, as Stable Diffusion front-ends take them."""
    target = rng.randint(lo, hi)
    parts: list[str] = []
    while sum(len(p) + 2 for p in parts) < target:
        t = rng.choice(TAGS)
        r = rng.random()
        if r < 0.15:
            t = f"({t}:{rng.choice(['1.1', '1.2', '1.3', '0.8'])})"
        elif r < 0.25:
            t = t.replace(" ", "_")
        elif r < 0.3:
            t = f"[{t}]"
        elif r < 0.33:
            t = "BREAK"
        parts.append(t)
    text = ", ".join(parts)
    if rng.random() < 0.5:
        text += "\nNegative prompt: " + ", ".join(rng.sample(NEG, 8))
    return text[:hi]


def cjk_prompt(
    rng: random.Random, pool: Sequence[str], lo: int = 20, hi: int = 600, sep: str = "，"
) -> str:
    """A Chinese or Japanese prompt of 20-600 characters: clauses joined by ``sep``."""
    target = rng.randint(lo, hi)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(rng.choice(pool))
    return sep.join(parts)[:hi]


def stuffed_prompts(count: int, min_chars: int, max_chars: int, seed: int = 7) -> list[str]:
    """Prompts built only from lexicon-heavy pieces: the worst case for the matcher."""
    rng = random.Random(seed)
    prompts: list[str] = []
    while len(prompts) < count:
        target = rng.randint(min_chars, max_chars)
        parts: list[str] = []
        while sum(len(p) + 2 for p in parts) < target:
            parts.append(rng.choice(STUFFED_PIECES))
        prompts.append(", ".join(parts)[:max_chars])
    return prompts


def _invented_word(rng: random.Random) -> str:
    return "".join(rng.choice(INVENTED_SYLLABLES) for _ in range(rng.randint(2, 4)))


def realistic_prompt(rng: random.Random, min_chars: int = 900, max_chars: int = 1000) -> str:
    """A long prompt that reads like a real one: scene, details, light, mood, a few style words."""
    while True:
        parts = [rng.choice(SUBJECTS)]
        if rng.random() < 0.3:
            parts.append(rng.choice(SIGNS))
        pools = [DETAILS, DETAILS, LIGHT, MOOD, STYLE, DETAILS, STYLE]
        while sum(len(p) + 2 for p in parts) < min_chars:
            parts.append(rng.choice(rng.choice(pools)))
        text = ", ".join(parts)
        if len(text) <= max_chars:
            return text


def cold_variant(prompt: str, rng: random.Random) -> str:
    """``prompt`` with a few words swapped for invented ones and its quoted text replaced."""
    words = prompt.split(" ")
    for _ in range(8):
        k = rng.randrange(len(words))
        if words[k].isalpha():
            words[k] = _invented_word(rng)
    text = " ".join(words)
    if '"' in text:
        head, _, rest = text.partition('"')
        _, _, tail = rest.partition('"')
        text = f'{head}"{_invented_word(rng).title()} {_invented_word(rng).title()}"{tail}'
    return text


def _time_calls(classify: Callable[[str], object], texts: Sequence[str]) -> tuple[float, float]:
    """Median wall and CPU microseconds of ``classify`` over ``texts`` (one call each)."""
    wall, cpu = [], []
    for text in texts:
        w0, c0 = time.perf_counter_ns(), time.process_time_ns()
        classify(text)
        c1, w1 = time.process_time_ns(), time.perf_counter_ns()
        wall.append((w1 - w0) / 1000)
        cpu.append((c1 - c0) / 1000)
    return statistics.median(wall), statistics.median(cpu)


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50, p99, ordered[-1]


def unseen_variant(prompt: str, rng: random.Random) -> str:
    """``prompt`` with an invented word added to every comma-separated piece."""
    return ",".join(f"{piece} {_invented_word(rng)}" for piece in prompt.split(","))


def variant_of(name: str) -> Callable[[str, random.Random], str] | None:
    if name.endswith("-cold"):
        return cold_variant
    if name.endswith("-unseen"):
        return unseen_variant
    return None


def measure(
    classifier: Classifier,
    prompts: list[str],
    repeat: int,
    variant: Callable[[str, random.Random], str] | None,
) -> dict[str, tuple[float, float, float]]:
    """p50/p99/max across prompts of each prompt's median latency, wall and CPU clocks."""
    rng = random.Random(11)
    for prompt in prompts * 2:  # warm-up: regex caches, word memo, branch predictors
        classifier.classify(variant(prompt, rng) if variant else prompt)
    wall, cpu = [], []
    for prompt in prompts:
        texts = [variant(prompt, rng) if variant else prompt for _ in range(repeat)]
        w, c = _time_calls(classifier.classify, texts)
        wall.append(w)
        cpu.append(c)
    return {"wall": _percentiles(wall), "cpu": _percentiles(cpu)}


def suites(dataset: Path) -> dict[str, list[str]]:
    rng = random.Random(5)
    realistic = [realistic_prompt(rng) for _ in range(150)]
    found: dict[str, list[str]] = {}
    if dataset.is_file():
        found["dev"] = [r.prompt for r in load_dataset(dataset)]
    found["realistic-1000"] = realistic
    found["realistic-1000-cold"] = realistic
    found["stuffed-1000"] = stuffed_prompts(150, 900, 1000)
    rng = random.Random(3)
    found["tags-1000-4000"] = [tag_prompt(rng) for _ in range(150)]
    found["tags-1000-4000-cold"] = found["tags-1000-4000"]
    found["tags-1000-4000-unseen"] = found["tags-1000-4000"]
    found["chinese"] = [cjk_prompt(rng, ZH) for _ in range(150)]
    found["japanese"] = [cjk_prompt(rng, JA, sep="、") for _ in range(150)]
    return found


def _cell(values: list[float]) -> str:
    mid = statistics.median(values)
    return f"{mid:.0f} ({min(values):.0f}-{max(values):.0f})" if len(values) > 1 else f"{mid:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, default=DEV)
    parser.add_argument("--repeat", type=int, default=15, help="timed calls per prompt")
    parser.add_argument("--runs", type=int, default=3, help="whole-table repetitions")
    parser.add_argument("--suite", action="append", help="only these suites (repeatable)")
    parser.add_argument(
        "--rules-only", action="store_true", help="time the rules without the learned model"
    )
    args = parser.parse_args()
    classifier = Classifier.from_config(ClassifierConfig(learned_model=not args.rules_only))
    chosen = {k: v for k, v in suites(args.dataset).items() if not args.suite or k in args.suite}
    results: dict[str, list[dict[str, tuple[float, float, float]]]] = {k: [] for k in chosen}
    for _ in range(args.runs):
        for name, prompts in chosen.items():
            results[name].append(measure(classifier, prompts, args.repeat, variant_of(name)))
    # Summary first, in the five-column shape bench/run.py parses: wall clock, median over runs.
    print("| prompts | n | p50 us | p99 us | max us |")
    print("|---|---:|---:|---:|---:|")
    for name, runs in results.items():
        p50, p99, worst = (statistics.median(run["wall"][k] for run in runs) for k in range(3))
        print(f"| {name} | {len(chosen[name])} | {p50:.0f} | {p99:.0f} | {worst:.0f} |")
    print()
    print(
        f"{args.runs} run(s) x {args.repeat} timed calls per prompt; "
        "cells: median over runs (min-max); us = microseconds"
    )
    print()
    print("| suite | n | chars (mean) | wall p50 us | wall p99 us | wall max us | cpu p50 us "
          "| cpu p99 us |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, runs in results.items():
        prompts = chosen[name]
        mean_chars = statistics.fmean(len(p) for p in prompts)
        cells = [
            _cell([run[clock][index] for run in runs])
            for clock, index in (("wall", 0), ("wall", 1), ("wall", 2), ("cpu", 0), ("cpu", 1))
        ]
        print(f"| {name} | {len(prompts)} | {mean_chars:.0f} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
