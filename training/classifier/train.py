"""Train the flagship model and write ``gateway/classify/learned/flagship_model.json``.

    make train-classifier          # = python training/classifier/train.py

Generates the labelled prompts (``generate.py``), turns each into the features the gateway
computes at serving time (``gateway.classify.learned.features``: n-grams plus the rules'
verdict), fits an L2 logistic regression on 85% of them, fits a Platt scaling on the other
15% and reports its metrics there, and writes the weights. Deterministic for a seed.
Evaluation sets are never read for training: the script only checks that none of their
prompts was generated, and leaves out any generated prompt that coincides with one.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

import vocab  # noqa: E402
from gazetteer import ANIME_NAME, name_gazetteer, ordinary, tag_phrases  # noqa: E402
from generate import RECIPE, Tags, generate  # noqa: E402

from gateway.classify import Classifier, ClassifierConfig  # noqa: E402
from gateway.classify.learned.features import (  # noqa: E402
    CJK_FUNCTION_CHARS,
    MAX_CJK_CHARS,
    MAX_TOKENS,
    RULE_FLAGSHIP,
    STOPWORDS,
    text_features,
)
from gateway.classify.learned.model import (  # noqa: E402
    BUILTIN_PATH,
    FORMAT,
    FlagshipModel,
    routing_score,
)
from gateway.classify.normalize import BREAKS, has_cjk, normalize_text, tokenize  # noqa: E402

#: Labelled sets kept for evaluation: read only to prove no training prompt is one of them.
EVAL_SETS = [
    ROOT.parent / "shared" / "eval" / "prompts_dev.csv",
    *sorted((ROOT / "tests" / "classify" / "data").glob("*.csv")),
]
#: SHA-256 of every evaluation prompt (normalised): the check needs no copy of the dev set,
#: so training leaves out the same prompts, and writes the same file, on any machine.
EVAL_HASHES = Path(__file__).parent / "data" / "eval_prompt_hashes.txt"


def featurize(classifier: Classifier, prompt: str, model: FlagshipModel) -> list[str]:
    classification, tokens, text = classifier.analyse(prompt)
    categories = classification.categories
    features = text_features(tokens)
    return [*features, *model.group_features(features, categories, text)]


def cue_vocabulary(tags: Tags) -> set[str]:
    """The features of the curated cue lists: a feature is learnt only if it may carry a cue.

    Ordinary words ("forest", "light", "quiet") are left out: the templates put them in both
    classes at rates no real traffic has, and a weight on them is noise. Kept are words that
    are not ordinary (names, jargon, rarer words, CJK n-grams and other non-Latin text), and
    the single-word entries and bigrams of the curated cue lists and of multi-word tags.
    """
    phrases = [
        *vocab.CAMERAS,
        *vocab.LENSES,
        *vocab.FILM,
        *vocab.EXPOSURE,
        *vocab.PHOTO_GENRES,
        *vocab.PHOTO_TYPO_BASES,
        *vocab.ANIME_STYLES,
        *vocab.GENERAL_STYLES,
        *vocab.LOOKALIKES,
        *vocab.MOCKUPS,
        *vocab.WESTERN_ARTISTS,
        *vocab.WESTERN_NAMES,
        *vocab.WESTERN_WORKS,
        *vocab.TEXT_VERBS,
        *vocab.LONG_TEXT_VERBS,
        *vocab.TEXT_OBJECTS,
        *vocab.TEXT_CARRIERS,
        *vocab.DOCUMENTS,
        *vocab.ANIME_CREATORS,
        *vocab.ANIME_TITLES,
        *(t.replace("_", " ") for t in tags.names["general"] if "_" in t),
    ]
    cues: set[str] = set()
    for phrase in phrases:
        features = text_features(
            tokenize(normalize_text(phrase.replace("{", " ").replace("}", " ")))
        )
        unigrams = {f for f in features if " " not in f}
        if len(unigrams) == 1 and len(features) == 1:
            cues.update(unigrams)
            continue
        # In a longer entry only its bigrams of two content words are cues ("natural light"
        # is, "light" and "a map" are not).
        cues.update(
            f for f in features if " " in f and not any(w in STOPWORDS for w in f.split(" "))
        )
    return cues


def is_cue(feature: str, cues: set[str]) -> bool:
    if feature.startswith("@"):
        return True
    if any(char in BREAKS for char in feature):
        return False
    if not feature.isascii():
        if has_cjk(feature):  # CJK character unigrams and bigrams, not runs or mixes
            return len(feature) <= 2 and " " not in feature and feature not in CJK_FUNCTION_CHARS
        return not all(w in STOPWORDS for w in feature.split(" "))
    if feature in cues:
        return True
    return not all(ordinary(word) for word in feature.split(" "))


def prompt_hash(prompt: str) -> str:
    return hashlib.sha256(normalize_text(prompt).strip().encode()).hexdigest()


def eval_prompt_hashes() -> set[str]:
    """The hashes of the evaluation prompts: the committed list, plus those of every set
    present here (a new probe, or the dev set where it is checked out, adds to the list)."""
    hashes = set(EVAL_HASHES.read_text().split()) if EVAL_HASHES.exists() else set()
    for path in EVAL_SETS:
        if path.exists():
            with path.open(encoding="utf-8", newline="") as handle:
                hashes.update(prompt_hash(r["prompt"]) for r in csv.DictReader(handle))
    EVAL_HASHES.write_text("".join(f"{h}\n" for h in sorted(hashes)))
    return hashes


def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width bins."""
    total = 0.0
    for low in range(bins):
        mask = (probabilities >= low / bins) & (probabilities < (low + 1) / bins)
        if low == bins - 1:
            mask |= probabilities == 1.0
        if mask.any():
            total += mask.mean() * abs(probabilities[mask].mean() - labels[mask].mean())
    return float(total)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    parser.add_argument("--min-count", type=int, default=2, help="drop rarer features")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.7,
        help="probability at which the model sends a prompt the rules call efficient to the "
        "flagship (0.7: a wrong flagship costs 41%% more, a wrong efficient costs quality)",
    )
    parser.add_argument("--out", type=Path, default=BUILTIN_PATH)
    args = parser.parse_args(argv)

    examples = list(generate(args.count, args.seed))
    reserved = eval_prompt_hashes()
    leaked = [e for e in examples if prompt_hash(e.prompt) in reserved]
    if leaked:  # a generic prompt ("a logo for a bakery") can coincide: it is left out
        print(f"left out {len(leaked)} generated prompts that are also evaluation prompts")
        examples = [e for e in examples if e not in leaked]

    # The rules alone: the model being trained must not score its own training prompts.
    classifier = Classifier.from_config(ClassifierConfig(learned_model=False))
    tags = Tags()
    gazetteers = {ANIME_NAME: name_gazetteer(tags)}
    phrases = tag_phrases(tags)
    groups = FlagshipModel({}, gazetteers, phrases, 0.0, (1.0, 0.0), 0.5, (), {})
    rows = [featurize(classifier, e.prompt, groups) for e in examples]
    labels = np.array([1 if e.flagship else 0 for e in examples])
    order = list(range(len(examples)))
    random.Random(args.seed).shuffle(order)
    cut = int(len(order) * 0.85)
    train_idx, held_idx = order[:cut], order[cut:]

    counts = Counter(f for i in train_idx for f in set(rows[i]))
    cues = cue_vocabulary(tags)
    frequent = [f for f, n in counts.items() if n >= args.min_count]
    vocabulary = sorted(f for f in frequent if is_cue(f, cues))
    index = {f: j for j, f in enumerate(vocabulary)}
    # A flagship example none of whose features carries a cue (a character whose name is all
    # ordinary words, say) cannot be told from an ordinary prompt: fitting it would only teach
    # that a prompt with no cue may need the flagship. It is left out of the fit.
    blind = {
        i
        for i in train_idx
        if labels[i]
        and not any(f in index for f in rows[i] if not f.startswith("@"))
        and RULE_FLAGSHIP not in rows[i]
    }
    train_idx = [i for i in train_idx if i not in blind]

    def matrix(indices: list[int]) -> csr_matrix:
        data, cols, ptr = [], [], [0]
        for i in indices:
            present = sorted({index[f] for f in rows[i] if f in index})
            cols.extend(present)
            data.extend([1.0] * len(present))
            ptr.append(len(cols))
        return csr_matrix((data, cols, ptr), shape=(len(indices), len(vocabulary)))

    x_train, x_held = matrix(train_idx), matrix(held_idx)
    y_train, y_held = labels[train_idx], labels[held_idx]
    model = LogisticRegression(C=args.c, max_iter=2000, solver="liblinear")
    model.fit(x_train, y_train)

    margin_held = model.decision_function(x_held)
    platt = LogisticRegression(C=1e6, solver="lbfgs").fit(margin_held.reshape(-1, 1), y_held)
    a, b = float(platt.coef_[0][0]), float(platt.intercept_[0])
    p_held = 1 / (1 + np.exp(-(a * margin_held + b)))
    threshold = args.threshold
    rules_held = np.array([RULE_FLAGSHIP in rows[i] for i in held_idx])
    predicted = rules_held | (p_held >= threshold)
    eps = 1e-12
    metrics = {
        "held_out_rows": len(held_idx),
        "accuracy": round(float((predicted == y_held).mean()), 4),
        "flagship_recall": round(float(predicted[y_held == 1].mean()), 4),
        "efficient_recall": round(float((~predicted)[y_held == 0].mean()), 4),
        "log_loss": round(
            float(
                -np.mean(y_held * np.log(p_held + eps) + (1 - y_held) * np.log(1 - p_held + eps))
            ),
            4,
        ),
        "ece": round(ece(p_held, y_held), 4),
        "note": "synthetic held-out split: names and templates are shared with the training split",
    }
    weights = {
        feature: round(float(w), 4)
        for feature, w in zip(vocabulary, model.coef_[0], strict=True)
        if abs(w) >= 0.01
    }
    from importlib.metadata import version

    import sklearn

    wordfreq_version = version("wordfreq")

    kinds = Counter(e.kind for e in examples)
    payload = {
        "format": FORMAT,
        "features": [MAX_TOKENS, MAX_CJK_CHARS],
        "bias": round(float(model.intercept_[0]), 6),
        "platt": [round(a, 6), round(b, 6)],
        "weights": weights,
        "gazetteers": {name: sorted(keys) for name, keys in gazetteers.items()},
        "tag_phrases": sorted(phrases),
        "threshold": threshold,
        "reference": sorted(
            round(routing_score(bool(r), float(p)), 4)
            for r, p in zip(rules_held, p_held, strict=True)
        ),
        "meta": {
            "trained_by": "training/classifier/train.py",
            "seed": args.seed,
            "examples": len(examples),
            "left_out_as_eval_prompts": len(leaked),
            "flagship_share": round(float(labels.mean()), 4),
            "kinds": {g.__name__: kinds[g.__name__] for g, _, _ in RECIPE},
            "features": len(weights),
            "gazetteer_keys": {name: len(keys) for name, keys in gazetteers.items()},
            "tag_phrases": len(phrases),
            "features_considered": len(frequent),
            "flagship_examples_without_a_cue_left_out": len(blind),
            "c": args.c,
            "min_count": args.min_count,
            "sklearn": sklearn.__version__,
            "held_out": metrics,
            "sources": [
                "training/classifier/vocab.py (written for tiergate, Apache-2.0)",
                f"wordfreq {wordfreq_version} word lists (Apache-2.0; data CC-BY-SA 4.0): "
                "ordinary vocabulary and which words are ordinary",
                f"english-words {version('english-words')} web2 list (MIT): which words are "
                "dictionary words, not names",
                "DominikDoom/a1111-sd-webui-tagcomplete tags/danbooru.csv (MIT), extract in "
                "training/classifier/data/danbooru_tags.csv",
            ],
        },
    }
    args.out.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(json.dumps({"wrote": str(args.out), **payload["meta"]}, indent=2))
    if not math.isfinite(a):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
