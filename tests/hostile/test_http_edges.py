"""Hostile HTTP against a real `tiergate serve`: huge headers, bad bytes, slow clients, SIGTERM drain."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import TEAM_KEYS, policy_dict, write_policy
from tests.support import REDIS_URL, Server, gateway, require_redis, simulator

AUTH = {"Authorization": f"Bearer {TEAM_KEYS['demo']}"}
URL = "/v1/images/generations"


def raw_request(server: Server, payload: bytes, read_timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=read_timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_huge_header_is_a_4xx_openai_error(served: Server) -> None:
    resp = httpx.post(
        served.url + URL, json={"prompt": "a cat"}, headers={**AUTH, "X-Padding": "a" * 40_000}
    )
    assert 400 <= resp.status_code < 500
    assert resp.json()["error"]["code"] == "headers_too_large"


def test_invalid_utf8_body_is_400(served: Server) -> None:
    resp = httpx.post(
        served.url + URL,
        content=b'{"prompt": "caf\xe9"}',
        headers={**AUTH, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer", "bearer\ttg-demo-key", "Token tg-demo-key", "Bearer tg-demo-key extra"],
)
def test_malformed_authorization_is_401(served: Server, authorization: str) -> None:
    resp = httpx.post(
        served.url + URL, json={"prompt": "a cat"}, headers={"Authorization": authorization}
    )
    assert resp.status_code == 401
    assert resp.json()["error"]["type"] == "invalid_request_error"


def test_non_ascii_authorization_bytes_are_401(served: Server) -> None:
    reply = raw_request(
        served,
        b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n"
        b"Authorization: Bearer \xff\xfe\r\nContent-Type: application/json\r\n"
        b'Content-Length: 17\r\nConnection: close\r\n\r\n{"prompt": "a"}\r\n',
    )
    assert reply.startswith(b"HTTP/1.1 401")
    assert b'"invalid_api_key"' in reply


def test_slow_client_is_cut_off(served: Server) -> None:
    # Headers that never finish: the server drops the connection instead of waiting forever.
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n")
        try:
            data = sock.recv(1024)
        except (TimeoutError, ConnectionResetError):
            data = b""
    assert time.monotonic() - started < 15  # the 10 s header deadline, not forever
    assert data == b"" or data.startswith(b"HTTP/1.1 4")


def test_slow_body_is_a_408(served: Server) -> None:
    head = (
        b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tg-demo-key"
        b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"prompt"'
    )
    reply = raw_request(served, head, read_timeout=20)
    assert reply.startswith(b"HTTP/1.1 408")
    assert b'"request_timeout"' in reply


async def test_sigterm_finishes_in_flight_requests_and_settles(tmp_path: Path) -> None:
    require_redis()
    slow = {p: simulator(p) for p in ("efficient", "flagship")}
    for server in slow.values():
        server.args[server.args.index("--latency-scale") + 1] = "0.4"  # ~2.8 s a call
        server.start()
    prefix = "tgterm-" + str(int(time.time() * 1000))
    env = {
        "TIERGATE_STORE": REDIS_URL,
        "TIERGATE_STORE_KEY_PREFIX": prefix,
        "TIERGATE_SIM_EFFICIENT_PORT": str(slow["efficient"].port),
        "TIERGATE_SIM_FLAGSHIP_PORT": str(slow["flagship"].port),
    }
    policy = write_policy(tmp_path, yaml.safe_dump(policy_dict()))
    first = gateway(policy, env=env).start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            pending = [
                asyncio.create_task(
                    client.post(first.url + URL, json={"prompt": f"a cat {i}"}, headers=AUTH)
                )
                for i in range(5)
            ]
            await asyncio.sleep(1.0)
            assert first.proc is not None
            first.proc.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*pending)
        assert [r.status_code for r in responses] == [200] * 5
        assert first.proc.wait(timeout=20) is not None
        second = gateway(policy, env=env).start()
        try:
            window = next(
                w
                for w in httpx.get(second.url + "/v1/budget", headers=AUTH).json()["windows"]
                if w["period"] == "day"
            )
            charged = sum(round(float(r.headers["x-tiergate-cost-usd"]) * 1e6) for r in responses)
            assert (window["spent_micros"], window["reserved_micros"]) == (charged, 0)
        finally:
            second.stop()
    finally:
        first.stop()
        for server in slow.values():
            server.stop()
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}:*"):
            client.delete(key)
