"""Extract the tag dictionary the training data draws names and tags from.

Source: ``tags/danbooru.csv`` of DominikDoom/a1111-sd-webui-tagcomplete (MIT licence, commit
4170882), a dictionary of Danbooru tag names with their category and post count. It is a
vocabulary, not a list of prompts: no prompt in it was written by anyone. This script keeps the
most used safe-for-work general tags, characters, series (copyrights) and artists, and writes
``data/danbooru_tags.csv`` (tag,category,count,aliases), which is committed so training is
offline.

    python training/classifier/extract_tags.py /path/to/danbooru.csv
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

OUT = Path(__file__).parent / "data" / "danbooru_tags.csv"
#: The words of every general tag (not only the kept ones): a word used in general tags is a
#: word for a thing ("giraffe", "blouse"), not a name.
GENERAL_WORDS_OUT = Path(__file__).parent / "data" / "danbooru_general_words.txt"
#: category id -> (name, how many of the most used tags to keep)
KEEP = {
    "0": ("general", 2500),
    "1": ("artist", 1200),
    "3": ("copyright", 2000),
    "4": ("character", 10000),
}
#: Tags with any of these substrings are dropped (sexual content, gore, site metadata).
BLOCKED = (
    "breast",
    "nipple",
    "nude",
    "naked",
    "sex",
    "penis",
    "pussy",
    "vagin",
    "cum",
    "anus",
    "ass_",
    "_ass",
    "panties",
    "pantsu",
    "underwear",
    "bra_",
    "_bra",
    "lingerie",
    "bikini",
    "swimsuit",
    "thigh",
    "cameltoe",
    "erect",
    "testic",
    "fellatio",
    "paizuri",
    "masturb",
    "orgasm",
    "rape",
    "bondage",
    "bdsm",
    "loli",
    "shota",
    "pubic",
    "groin",
    "crotch",
    "upskirt",
    "pantyshot",
    "bottomless",
    "topless",
    "censor",
    "cleavage",
    "areola",
    "navel",
    "hetero",
    "yuri",
    "yaoi",
    "bara",
    "futa",
    "tentacle",
    "spread",
    "straddl",
    "cowgirl",
    "missionary",
    "lick",
    "saliva",
    "drool",
    "ejacul",
    "semen",
    "condom",
    "dildo",
    "vibrator",
    "gag",
    "restrain",
    "bound",
    "tied",
    "leash",
    "slave",
    "blood",
    "gore",
    "guro",
    "death",
    "corpse",
    "suicide",
    "kiss",
    "undress",
    "strip",
    "see-through",
    "nsfw",
    "lewd",
    "ahegao",
    "after_sex",
    "orgy",
    "oral",
    "anal",
    "insert",
    "torn_",
    "skindentation",
    "wedgie",
    "fetish",
    "micro",
    "leotard",
    "bunny",
    "feet",
    "soles",
    "toes",
    "barefoot",
    "midriff",
    "wet_",
    "sweat",
    "bdsm",
    "latex",
    "pov",
    "commentary",
    "translat",
    "request",
    "md5",
    "bad_",
    "duplicate",
    "revision",
    "_id",
    "scan",
    "censored",
    "lowres",
    "jpeg",
    "watermark",
    "username",
    "signature",
    "artist_name",
    "twitter",
    "patreon",
    "pixiv_id",
    "cosplay",
    "real_life",
    "photo",
    "(medium)",
    "animated",
    "furry",
    "body",
    "skin",
    "chest",
    "hip",
    "butt",
    "belly",
    "stomach",
    "legs",
    "leg_",
    "pantyhose",
    "legwear",
    "stocking",
    "garter",
    "bare_",
    "exposed",
    "shirt_lift",
    "skirt_lift",
    "lifted",
    "clothes_pull",
    "pull",
    "peeing",
    "pee",
    "vomit",
    "toilet",
    "bath",
    "shower",
    "onsen",
    "bed",
    "lying",
    "on_back",
    "on_stomach",
    "all_fours",
    "kneeling",
    "squatting",
    "bent_over",
    "trembling",
    "tears",
    "crying",
    "pain",
    "injury",
    "bandage",
    "gun",
    "rifle",
    "weapon_",
    "grop",
    "boob",
    "highleg",
    "lift",
    "zettai",
    "cutout",
    "strapless",
    "off_shoulder",
    "armpit",
    "hug",
    "holding_hands",
    "nail",
    "lips",
    "tongue",
    "mouth",
    "pillow",
    "groin",
    "harness",
)
#: Whole tags dropped for the same reason.
BLOCKED_TAGS = frozenset(["ass", "bra", "v", "abs", "collar", "maid", "lying", "wet", "tattoo"])


def aliases(record: list[str], category: str) -> str:
    """Other names of a character or series (English titles, other name orders), ``;``-joined."""
    if category not in ("3", "4") or len(record) < 4:
        return ""
    found = [
        a
        for a in record[3].split(",")
        if a and a.isascii() and not a.startswith("/") and keep(a) and len(a) > 2
    ]
    return ";".join(found[:4])


def keep(tag: str) -> bool:
    return tag not in BLOCKED_TAGS and not any(blocked in tag for blocked in BLOCKED)


def main(source: str) -> int:
    rows: dict[str, list[tuple[str, int, str]]] = {c: [] for c in KEEP}
    general_words: set[str] = set()
    with open(source, encoding="utf-8", newline="") as handle:
        for record in csv.reader(handle):
            tag, category, count = record[0], record[1], int(record[2])
            if category == "0" and keep(tag) and "(cosplay)" not in tag:
                general_words.update(
                    w for w in tag.replace("(", "_").replace(")", "_").split("_") if w.isalpha()
                )
            if category in rows and keep(tag):
                rows[category].append((tag, count, aliases(record, category)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["tag", "category", "count", "aliases"])
        for category, (name, limit) in KEEP.items():
            ranked = sorted(rows[category], key=lambda item: (-item[1], item[0]))[:limit]
            writer.writerows((tag, name, count, alias) for tag, count, alias in ranked)
    GENERAL_WORDS_OUT.write_text("\n".join(sorted(general_words)) + "\n", encoding="utf-8")
    print(f"wrote {OUT} and {GENERAL_WORDS_OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
