"""The clients an enterprise already has, unmodified, against a real `tiergate serve`:
the SDK's edits, URL responses, the AzureOpenAI client and streaming, on Redis, through
litellm to the simulator processes."""

from __future__ import annotations

import base64
import io
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import openai
import pytest
import redis
import yaml
from PIL import Image

from gateway.blobs.links import ImageLinks
from gateway.blobs.store import open_blobs
from gateway.tokens import count_text_tokens, input_image_tokens
from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, Server, create_bucket, gateway, require_redis, simulator

pytestmark = [pytest.mark.redis]

SIGNING_KEY = "test-url-signing-key"
KEY = TEAM_KEYS["demo"]


def png(width: int, height: int, colour: tuple[int, int, int, int] = (20, 160, 40, 255)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png(width: int, height: int) -> bytes:
    """Opaque except its top-left quarter: the area to edit."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    image.paste((0, 0, 0, 0), (0, 0, width // 2, height // 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(b64: str | None) -> Image.Image:
    assert b64
    return Image.open(io.BytesIO(base64.b64decode(b64)))


class Gateway:
    def __init__(self, server: Server, prefix: str) -> None:
        self.server = server
        self.prefix = prefix

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, key: str = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)

    def budget(self, key: str = KEY) -> dict[str, Any]:
        resp = httpx.get(self.url + "/v1/budget", headers={"Authorization": f"Bearer {key}"})
        assert resp.status_code == 200, resp.text
        window = next(w for w in resp.json()["windows"] if w["scope"] == "team")
        assert isinstance(window, dict)
        return window


def serve(tmp: Path, sim_env: dict[str, str], **env: str) -> Iterator[Gateway]:
    require_redis()
    raw = policy_dict()
    raw["azure"] = {"deployments": {"images": "auto", "premium": "MAI-Image-2"}}
    policy = write_policy(tmp, yaml.safe_dump(raw))
    prefix = "tgdrop-" + uuid.uuid4().hex[:8]
    environment = {
        **sim_env,
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_URL_SIGNING_KEY": SIGNING_KEY,
        "TIERGATE_BLOB_STORE": f"file://{tmp / 'blobs'}",
        **env,
    }
    with gateway(policy, env=environment) as server:
        yield Gateway(server, prefix)
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        client.delete(key)


@pytest.fixture(scope="module")
def served(sim_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    yield from serve(tmp_path_factory.mktemp("dropin"), sim_env)


def edit_cost(prompt: str, sizes: list[tuple[int, int]], output_tokens: int) -> Decimal:
    """Efficient tier: text and input image tokens at $5, output at $19.50 per million."""
    image_tokens = sum(input_image_tokens(w, h) for w, h in sizes)
    micros = Decimal(count_text_tokens(prompt) + image_tokens) * 5 + Decimal(output_tokens) * (
        Decimal("19.5")
    )
    return (micros / 1_000_000).quantize(Decimal("0.000001"), rounding="ROUND_CEILING")


# -- edits -----------------------------------------------------------------------------------


def test_sdk_edit_with_a_mask_paints_the_masked_area_and_prices_the_input_image(
    served: Gateway,
) -> None:
    prompt = "replace the corner with a red balloon"
    before = served.budget()
    raw = served.client().images.with_raw_response.edit(
        image=("photo.png", png(256, 256), "image/png"),
        mask=("mask.png", mask_png(256, 256), "image/png"),
        prompt=prompt,
        size="1024x1024",
        quality="medium",
    )
    result = raw.parse()
    image = decoded(result.data[0].b64_json).convert("RGBA")
    corner, rest = image.getpixel((2, 2)), image.getpixel((image.width - 3, image.height - 3))
    assert rest == (20, 160, 40, 255)  # kept where the mask is opaque
    assert corner != rest  # edited where it is transparent
    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens == input_image_tokens(256, 256)
    assert raw.headers["x-tiergate-tier"] == "efficient"
    cost = Decimal(raw.headers["x-tiergate-cost-usd"])
    assert cost == edit_cost(prompt, [(256, 256)], result.usage.output_tokens)
    after = served.budget()
    assert Decimal(str(after["spent_usd"])) - Decimal(str(before["spent_usd"])) == cost
    assert after["reserved_micros"] == 0


def test_sdk_edit_with_several_images_counts_each_one(served: Gateway) -> None:
    prompt = "combine these into one gift basket"
    images = [
        ("a.png", png(512, 512), "image/png"),
        ("b.png", png(1024, 512, (200, 30, 30, 255)), "image/png"),
        ("c.png", png(300, 200, (30, 30, 200, 255)), "image/png"),
    ]
    raw = served.client().images.with_raw_response.edit(image=images, prompt=prompt, n=2)
    result = raw.parse()
    assert len(result.data) == 2
    assert all(decoded(d.b64_json).format == "PNG" for d in result.data)
    assert result.usage is not None
    sizes = [(512, 512), (1024, 512), (300, 200)]
    assert result.usage.input_tokens_details.image_tokens == sum(
        input_image_tokens(w, h) for w, h in sizes
    )
    assert Decimal(raw.headers["x-tiergate-cost-usd"]) == edit_cost(
        prompt, sizes, result.usage.output_tokens
    )


def test_edit_prompt_decides_the_tier(served: Gateway) -> None:
    raw = served.client().images.with_raw_response.edit(
        image=("p.png", png(64, 64), "image/png"),
        prompt="make it a photorealistic portrait, 85mm lens, golden hour",
    )
    assert raw.headers["x-tiergate-tier"] == "flagship"


def test_a_prompt_that_only_the_model_recognises_is_routed_to_the_flagship(
    served: Gateway,
) -> None:
    """A Touhou character named with no anime word: the rules say efficient, the learned model
    sends it to the flagship, and the reason header says so."""
    raw = served.client().images.with_raw_response.generate(
        model="auto", prompt="Kirisame Marisa flying over a bamboo forest", size="1024x1024"
    )
    assert raw.parse().data[0].b64_json
    assert raw.headers["x-tiergate-tier"] == "flagship"
    reason = raw.headers["x-tiergate-route-reason"]
    assert reason.startswith("model:flagship_p=")
    assert 0.7 <= float(reason.split("=")[1]) <= 1.0  # the default threshold on p


def post_edit(
    served: Gateway, files: list[tuple[str, tuple[str, bytes, str]]], **data: str
) -> httpx.Response:
    return httpx.post(
        served.url + "/v1/images/edits",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"prompt": "add a hat", **data},
        files=files,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("files", "param", "code"),
    [
        ([], "image", "missing_required_parameter"),
        (
            [("image", ("a.gif", b"GIF89a" + b"\0" * 64, "image/gif"))],
            "image",
            "invalid_image_format",
        ),
        (
            [("image", ("a.png", png(64, 64), "image/png"))] * 17,
            "image",
            "too_many_images",
        ),
        (
            [
                ("image", ("a.png", png(64, 64), "image/png")),
                ("mask", ("m.png", mask_png(32, 32), "image/png")),
            ],
            "mask",
            "mask_size_mismatch",
        ),
        (
            [("image", ("a.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "image/png"))],
            "image",
            "invalid_image_file",
        ),
    ],
    ids=["no-image", "gif", "17-images", "mask-size", "broken-png"],
)
def test_edit_refusals_are_openai_400s_and_charge_nothing(
    served: Gateway, files: list[tuple[str, tuple[str, bytes, str]]], param: str, code: str
) -> None:
    before = served.budget()
    resp = post_edit(served, files)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert error["message"]
    assert served.budget()["spent_micros"] == before["spent_micros"]


def test_edit_refuses_a_file_over_the_limit(sim_env: dict[str, str], tmp_path: Path) -> None:
    for small in serve(tmp_path, sim_env, TIERGATE_EDIT_MAX_IMAGE_BYTES="2000"):
        resp = post_edit(small, [("image", ("big.png", png(400, 400) + b"\0" * 4000, "image/png"))])
        assert resp.status_code == 400
        assert resp.json()["error"]["code"] == "image_too_large"
        # A body past every file's limit together is refused before it is read.
        huge = post_edit(small, [("image", ("big.png", b"\0" * 200_000, "image/png"))] * 16)
        assert huge.status_code == 413


# -- URL responses -----------------------------------------------------------------------------


def test_url_response_is_fetched_without_a_key_and_refused_when_tampered(served: Gateway) -> None:
    result = served.client().images.generate(prompt="a lighthouse at dusk", response_format="url")
    url = result.data[0].url
    assert url is not None and result.data[0].b64_json is None
    fetched = httpx.get(url)  # no Authorization header
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(fetched.content)).format == "PNG"

    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    later = str(int(query["expires"]) + 3600)
    tampered = [
        httpx.get(base, params={**query, "expires": later}),  # a longer life
        httpx.get(base, params={**query, "sig": query["sig"][:-2] + "AA"}),
        httpx.get(base),  # no signature at all
        httpx.get(
            base.replace(parts.path.rsplit("/", 1)[1], "img_" + "A" * 32 + ".png"), params=query
        ),
    ]
    for resp in tampered:
        assert resp.status_code == 403, resp.text
        assert resp.json()["error"]["code"] == "invalid_image_link"


def test_an_expired_url_is_refused(served: Gateway, tmp_path: Path) -> None:
    result = served.client().images.generate(prompt="a red kite", response_format="url")
    url = result.data[0].url
    assert url is not None
    image_id = urlsplit(url).path.rsplit("/", 1)[1]
    # A link signed with the gateway's own key whose expiry has passed.
    links = ImageLinks(open_blobs(f"file://{tmp_path}"), SIGNING_KEY.encode())
    past = int(time.time()) - 1
    expired = links.url(served.url, type("Stored", (), {"id": image_id, "expires_at": past})())  # type: ignore[arg-type]
    resp = httpx.get(expired)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "invalid_image_link"
    assert httpx.get(url).status_code == 200  # the live link still works


def test_image_ids_are_unguessable_and_not_listable(served: Gateway) -> None:
    ids = set()
    for _ in range(3):
        data = (
            served.client(TEAM_KEYS["alpha"])
            .images.generate(prompt="a cat", response_format="url")
            .data
        )
        assert data[0].url is not None
        ids.add(urlsplit(data[0].url).path.rsplit("/", 1)[1])
    assert len(ids) == 3 and all(len(i) == len("img_") + 32 + len(".png") for i in ids)
    # Another team's key lists nothing and cannot fetch an id without its signature.
    beta = {"Authorization": f"Bearer {TEAM_KEYS['beta']}"}
    assert httpx.get(served.url + "/v1/images/content", headers=beta).status_code == 404
    for image_id in ids:
        resp = httpx.get(served.url + f"/v1/images/content/{image_id}", headers=beta)
        assert resp.status_code == 403


def test_url_responses_on_an_s3_blob_store(
    s3: Server, sim_env: dict[str, str], tmp_path: Path
) -> None:
    store = create_bucket(s3, "tg-links-" + uuid.uuid4().hex[:6])
    for on_s3 in serve(
        tmp_path,
        sim_env,
        TIERGATE_BLOB_STORE=store,
        **{"AWS_ACCESS_KEY_ID": "tiergate-test", "AWS_SECRET_ACCESS_KEY": "tiergate-test-secret"},
    ):
        result = on_s3.client().images.generate(prompt="a blue bicycle", response_format="url")
        assert result.data[0].url is not None
        fetched = httpx.get(result.data[0].url)
        assert fetched.status_code == 200
        assert Image.open(io.BytesIO(fetched.content)).format == "PNG"
        # The object is in the bucket, under images/.
        listing = httpx.get(
            f"{s3.url}/{urlsplit(store).netloc}", params={"prefix": "tiergate/images/"}
        )
        assert urlsplit(result.data[0].url).path.rsplit("/", 1)[1] in listing.text


# -- Azure OpenAI --------------------------------------------------------------------------------


def azure(served: Gateway, api_version: str = "2024-10-21") -> openai.AzureOpenAI:
    return openai.AzureOpenAI(
        azure_endpoint=served.url, api_key=KEY, api_version=api_version, max_retries=0
    )


def test_azure_client_generates_through_a_deployment(served: Gateway) -> None:
    raw = azure(served).images.with_raw_response.generate(model="images", prompt="a quiet harbour")
    assert raw.headers["x-tiergate-tier"] == "efficient"
    assert decoded(raw.parse().data[0].b64_json).format == "PNG"
    premium = azure(served).images.with_raw_response.generate(model="premium", prompt="a cat")
    assert premium.headers["x-tiergate-tier"] == "flagship"  # the deployment forces its tier


def test_azure_client_edits_through_a_deployment(served: Gateway) -> None:
    raw = azure(served).images.with_raw_response.edit(
        model="images",
        image=("p.png", png(128, 128), "image/png"),
        mask=("m.png", mask_png(128, 128), "image/png"),
        prompt="add a sun",
    )
    assert raw.headers["x-tiergate-tier"] == "efficient"
    result = raw.parse()
    assert result.usage is not None
    assert result.usage.input_tokens_details.image_tokens == input_image_tokens(128, 128)


def test_azure_unknown_deployment_and_api_version_are_azure_404s(served: Gateway) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        azure(served).images.generate(model="nope", prompt="a cat")
    assert missing.value.code == "DeploymentNotFound"
    with pytest.raises(openai.NotFoundError) as version:
        azure(served, api_version="2019-01-01").images.generate(model="images", prompt="a cat")
    assert version.value.code == "404"
    assert "Resource not found" in str(version.value)
    with pytest.raises(openai.AuthenticationError):
        openai.AzureOpenAI(
            azure_endpoint=served.url, api_key="tg-wrong", api_version="2024-10-21", max_retries=0
        ).images.generate(model="images", prompt="a cat")


# -- streaming -----------------------------------------------------------------------------------


def settled_cost(usage: Any) -> Decimal:
    """Efficient tier: what a request with this usage costs."""
    micros = Decimal(usage.input_tokens_details.text_tokens) * 5 + Decimal(
        usage.output_tokens
    ) * Decimal("19.5")
    return (micros / 1_000_000).quantize(Decimal("0.000001"), rounding="ROUND_CEILING")


def test_sdk_stream_sends_partials_in_order_then_settles_once(served: Gateway) -> None:
    before = served.budget()
    stream = served.client().images.generate(
        prompt="a paper crane on a desk", stream=True, partial_images=2
    )
    events = list(stream)
    assert [e.type for e in events] == [
        "image_generation.partial_image",
        "image_generation.partial_image",
        "image_generation.completed",
    ]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]  # type: ignore[union-attr]
    images = [decoded(e.b64_json).convert("RGBA") for e in events]
    assert {image.size for image in images} == {images[-1].size}
    assert len({image.tobytes() for image in images}) == 3  # each partial is a different step
    completed = events[-1]
    assert completed.usage is not None  # type: ignore[union-attr]
    after = served.budget()
    spent = Decimal(str(after["spent_usd"])) - Decimal(str(before["spent_usd"]))
    assert spent == settled_cost(completed.usage)  # type: ignore[union-attr]
    assert after["reserved_micros"] == 0


def test_a_stream_the_tier_cannot_stream_is_the_completed_event_alone(served: Gateway) -> None:
    # Edits go upstream through litellm's aimage_edit, which does not stream.
    edit = list(
        served.client().images.edit(
            image=("p.png", png(64, 64), "image/png"),
            prompt="add a hat",
            stream=True,
            partial_images=2,
        )
    )
    assert [e.type for e in edit] == ["image_edit.completed"]
    assert decoded(edit[0].b64_json).format == "PNG"
    # With an Idempotency-Key the stream is stored for replay: the completed events alone.
    key = "stream-" + uuid.uuid4().hex
    first = served.client().images.generate(
        prompt="a red cube",
        n=2,
        stream=True,
        partial_images=1,
        extra_headers={"Idempotency-Key": key},
    )
    several = list(first)
    assert [e.type for e in several] == ["image_generation.completed"] * 2
    assert several[0].usage is None  # the usage comes once, with the last image
    assert several[-1].usage is not None and several[-1].usage.output_tokens == 2 * 1056
    spent = served.budget()["spent_micros"]
    again = list(
        served.client().images.generate(
            prompt="a red cube",
            n=2,
            stream=True,
            partial_images=1,
            extra_headers={"Idempotency-Key": key},
        )
    )
    assert [e.b64_json for e in again] == [e.b64_json for e in several]
    assert served.budget()["spent_micros"] == spent  # replayed, not charged again


def test_a_client_that_leaves_mid_stream_leaves_nothing_reserved(
    sim_env: dict[str, str], tmp_path: Path
) -> None:
    # A tier that takes 1.4-1.8 s over 3 partial images, so the client can leave mid-stream.
    with simulator("efficient", None, "--latency-scale", "0.2") as slow_tier:
        env = {**sim_env, "TIERGATE_SIM_EFFICIENT_PORT": str(slow_tier.port)}
        for gw in serve(tmp_path, env):
            before = gw.budget()
            with httpx.stream(
                "POST",
                gw.url + "/v1/images/generations",
                headers={"Authorization": f"Bearer {KEY}"},
                json={"prompt": "a slow sunrise", "stream": True, "partial_images": 3},
                timeout=10,
            ) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert next(lines) == "event: image_generation.partial_image"
                # ... and the client goes away after the first partial image.
            deadline = time.monotonic() + 10
            after = gw.budget()
            while time.monotonic() < deadline and (
                after["reserved_micros"] or after["spent_micros"] == before["spent_micros"]
            ):
                time.sleep(0.1)
                after = gw.budget()
            assert after["reserved_micros"] == 0
            # Charged once for the image the tier made, not held and not charged twice.
            spent = after["spent_micros"] - before["spent_micros"]
            assert spent == count_text_tokens("a slow sunrise") * 5 + 20592
            time.sleep(0.5)
            assert gw.budget()["spent_micros"] == after["spent_micros"]


def test_a_stream_refused_before_it_starts_is_an_ordinary_error(served: Gateway) -> None:
    beta = served.client(TEAM_KEYS["beta"])  # efficient only
    with pytest.raises(openai.PermissionDeniedError) as refused:
        list(
            beta.images.generate(model="MAI-Image-2", prompt="a cat", stream=True, partial_images=2)
        )
    assert refused.value.code == "tier_not_allowed"
