"""Every client mistake gets a 4xx OpenAI-style error naming the parameter; backends map to 502/504."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TEAM_KEYS

AUTH = {"Authorization": f"Bearer {TEAM_KEYS['demo']}"}
URL = "/v1/images/generations"


def assert_error(
    resp: httpx.Response, status: int, type_: str, code: str | None, param: str | None
) -> None:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    assert (error["type"], error["code"], error["param"]) == (type_, code, param)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({}, "missing_required_parameter", "prompt"),
        ({"prompt": ""}, "invalid_value", "prompt"),
        ({"prompt": "   \n\t"}, "invalid_value", "prompt"),
        ({"prompt": "x" * 32_001}, "invalid_value", "prompt"),
        ({"prompt": 42}, "invalid_value", "prompt"),
        ({"prompt": "a cat", "n": 0}, "invalid_value", "n"),
        ({"prompt": "a cat", "n": 11}, "invalid_value", "n"),
        ({"prompt": "a cat", "n": "2"}, "invalid_value", "n"),
        ({"prompt": "a cat", "size": "999x999"}, "invalid_value", "size"),
        ({"prompt": "a cat", "quality": "ultra"}, "invalid_value", "quality"),
        ({"prompt": "a cat", "response_format": "png"}, "invalid_value", "response_format"),
        ({"prompt": "a cat", "temperature": 1}, "unknown_parameter", "temperature"),
        ({"prompt": "a cat", "model": "dall-e-9"}, "model_not_found", "model"),
    ],
)
async def test_bad_request_fields(
    client: httpx.AsyncClient,
    body: dict,
    code: str,  # type: ignore[type-arg]
    param: str,
) -> None:
    resp = await client.post(URL, json=body, headers=AUTH)
    assert_error(resp, 400, "invalid_request_error", code, param)


async def test_invalid_json(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        URL, content=b'{"prompt": ', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_error(resp, 400, "invalid_request_error", "invalid_json", None)


async def test_invalid_utf8(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        URL, content=b'{"prompt": "\xff\xfe"}', headers={**AUTH, "Content-Type": "application/json"}
    )
    assert_error(resp, 400, "invalid_request_error", "invalid_json", None)


async def test_non_object_json(client: httpx.AsyncClient) -> None:
    resp = await client.post(URL, json=["a cat"], headers=AUTH)
    assert_error(resp, 400, "invalid_request_error", "invalid_json", None)


async def test_wrong_content_type(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        URL,
        content=b"prompt=a+cat",
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_error(resp, 400, "invalid_request_error", "unsupported_content_type", None)


async def test_body_too_large(client: httpx.AsyncClient) -> None:
    resp = await client.post(URL, json={"prompt": "x" * 300_000}, headers=AUTH)
    assert_error(resp, 413, "invalid_request_error", "payload_too_large", None)


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer tg-wrong"}, "invalid_api_key"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "invalid_api_key"),
        ({"Authorization": "Bearer"}, "invalid_api_key"),
        ({"Authorization": "Bearer " + "k" * 600}, "invalid_api_key"),
    ],
)
async def test_authentication(
    client: httpx.AsyncClient, headers: dict[str, str], code: str
) -> None:
    resp = await client.post(URL, json={"prompt": "a cat"}, headers=headers)
    assert_error(resp, 401, "invalid_request_error", code, None)


async def test_team_forcing_a_tier_it_may_not_use(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        URL,
        json={"prompt": "a cat", "model": "flagship"},
        headers={"Authorization": f"Bearer {TEAM_KEYS['beta']}"},
    )
    assert_error(resp, 403, "permission_error", "tier_not_allowed", "model")


async def test_models_requires_a_key_and_lists_tiers(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/models")).status_code == 401
    ids = [m["id"] for m in (await client.get("/v1/models", headers=AUTH)).json()["data"]]
    assert ids[0] == "auto" and {"efficient", "flagship", "MAI-Image-2"} <= set(ids)


@pytest.mark.parametrize("value", [b"soon", b"0", b"-5", b"3600001", b"1.5", b"\xb2", b"5\xb9"])
async def test_bad_latency_budget_header(client: httpx.AsyncClient, value: bytes) -> None:
    # Header bytes are latin-1: 0xB2 is "²" and 0xB9 "¹", which pass str.isdigit().
    resp = await client.post(
        URL, json={"prompt": "a cat"}, headers={**AUTH, "x-tiergate-max-latency-ms": value}
    )
    assert_error(resp, 400, "invalid_request_error", "invalid_value", "x-tiergate-max-latency-ms")


async def test_a_client_gone_mid_body_is_logged_as_its_own_4xx(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    messages = iter(
        [
            {"type": "http.request", "body": b'{"prompt": "a c', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": URL,
        "raw_path": URL.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"gateway"),
            (b"authorization", AUTH["Authorization"].encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("gateway", 80),
    }
    await app(scope, receive, send)

    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 400
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")  # type: ignore[misc]
    assert b'"client_disconnected"' in body
