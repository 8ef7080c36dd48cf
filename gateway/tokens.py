"""Text token counting with tiktoken, offline.

litellm ships o200k_base and cl100k_base; pointing ``TIKTOKEN_CACHE_DIR`` at its
bundled copy (without importing litellm, which takes seconds) lets tiktoken
load them without a network.
"""

from __future__ import annotations

import importlib.util
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
