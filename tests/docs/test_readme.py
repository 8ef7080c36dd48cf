"""The README's drop-in block (edits, URLs, streaming, the Azure client), run as it stands
against a real `tiergate serve` and the simulators."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.support import REPO, Server, gateway

README = REPO / "README.md"
DEMO_URL = "http://127.0.0.1:8080"


def dropin_block() -> str:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    matching = [b for b in blocks if "AzureOpenAI" in b and "images.edit" in b]
    assert len(matching) == 1, "the README's drop-in block is missing"
    return matching[0]


@pytest.fixture(scope="module")
def demo(sim_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The gateway on the demo policy, as the quick start runs it."""
    tmp = tmp_path_factory.mktemp("readme")
    env = {**sim_env, "TIERGATE_BLOB_STORE": f"file://{tmp / 'blobs'}"}
    with gateway(REPO / "policies" / "default.yaml", env=env) as server:
        yield server


def test_readme_dropin_block_runs(
    demo: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Image.new("RGBA", (512, 512), (30, 120, 200, 255)).save("room.png")
    mask = Image.new("RGBA", (512, 512), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 256, 256))
    mask.save("mask.png")
    code = dropin_block().replace(DEMO_URL, demo.url)
    printed = io.StringIO()
    namespace: dict[str, object] = {}
    with contextlib.redirect_stdout(printed):
        exec(compile(code, str(README), "exec"), namespace)

    fern = Image.open("room-fern.png")
    assert fern.format == "PNG"
    edited = namespace["edited"]
    assert edited.usage.input_tokens_details.image_tokens == 194  # type: ignore[attr-defined]
    assert Image.open("lighthouse.png").format == "PNG"
    assert printed.getvalue().split() == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    harbour = namespace["harbour"]
    assert harbour.data[0].b64_json  # type: ignore[attr-defined]
