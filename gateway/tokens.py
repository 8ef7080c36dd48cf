"""Text token counting with tiktoken, offline.

litellm ships o200k_base and cl100k_base; pointing ``TIKTOKEN_CACHE_DIR`` at its
bundled copy (without importing litellm, which takes seconds) lets tiktoken
load them without a network.
"""

from __future__ import annotations

import importlib.util
import math
import os
from functools import cache
from pathlib import Path

import tiktoken


def _use_litellm_bundled_encodings() -> None:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return
    spec = importlib.util.find_spec("litellm")
    if spec is None or spec.origin is None:
        return
    bundled = Path(spec.origin).parent / "litellm_core_utils" / "tokenizers"
    if bundled.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(bundled)


@cache
def encoding() -> tiktoken.Encoding:
    _use_litellm_bundled_encodings()
    return tiktoken.get_encoding("o200k_base")


def count_text_tokens(text: str) -> int:
    return len(encoding().encode(text, disallowed_special=()))


def input_image_tokens(width: int, height: int) -> int:
    """Tokens an input image (an edit's image) counts, by the vision rule OpenAI documents
    for its image models: scaled to fit 2048x2048, then its shorter side to at most 512 px,
    65 tokens plus 129 per 512 px tile. The gateway prices edits with it and the simulator
    reports it, so both agree."""
    if width <= 0 or height <= 0:
        return 0
    fit = min(1.0, 2048 / max(width, height))
    shorter = min(1.0, 512 / (min(width, height) * fit))
    scale = fit * shorter
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    return 65 + 129 * tiles
