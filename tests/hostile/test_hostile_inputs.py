"""The five input-handling defects of issue 18, sent as the same bytes over a real socket."""

from __future__ import annotations

import gzip
import json
import socket
import time
import zlib
from pathlib import Path

import pytest

from tests.conftest import TEAM_KEYS
from tests.support import Server

KEY = TEAM_KEYS["demo"]
AUTH = f"Authorization: Bearer {KEY}\r\n"


def exchange(
    server: Server, payload: bytes, timeout_s: float = 10
) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read until the server closes or a full response arrived."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s) as sock:
        sock.sendall(payload)
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                headers = dict(
                    line.decode("latin-1").lower().split(": ", 1)
                    for line in head.split(b"\r\n")[1:]
                )
                if len(body) >= int(headers.get("content-length", "-1")) >= 0:
                    status = int(head.split(b" ", 2)[1])
                    return status, headers, body
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                chunk = b""
            if not chunk:
                raise AssertionError(f"connection closed without a full response: {data[:200]!r}")
            data += chunk


def request(path: str, body: bytes = b"", method: str = "POST", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{AUTH}{extra}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def error_of(body: bytes) -> dict[str, object]:
    payload = json.loads(body)
    assert set(payload["error"]) == {"message", "type", "param", "code"}
    return payload["error"]  # type: ignore[no-any-return]


# 1. Report dates -----------------------------------------------------------------------


@pytest.mark.parametrize("to", ["0001-01-01", "0001-01-05", "0001-01-29"])
def test_a_report_ending_near_year_1_is_a_400_not_a_500(served: Server, to: str) -> None:
    status, _, body = exchange(served, request(f"/v1/reports/teams/demo?to={to}", method="GET"))
    assert status == 400
    assert error_of(body)["code"] == "invalid_value"
    assert error_of(body)["param"] == "to"


def test_a_given_from_is_used_even_near_year_1(served: Server) -> None:
    path = "/v1/reports/teams/demo?from=0001-01-01&to=0001-01-05"
    status, _, body = exchange(served, request(path, method="GET"))
    assert status == 200, body
    assert json.loads(body)["period"]["start"] == "0001-01-01"


@pytest.mark.parametrize("day", ["20261201", "2026-W48-1", "2026-12-1", "2026-12-01T00:00"])
def test_only_yyyy_mm_dd_is_a_report_date(served: Server, day: str) -> None:
    status, _, body = exchange(served, request(f"/v1/reports/teams/demo?from={day}", method="GET"))
    assert status == 400
    assert error_of(body) == {
        "message": "Invalid 'from': expected a date YYYY-MM-DD.",
        "type": "invalid_request_error",
        "param": "from",
        "code": "invalid_value",
    }


# 2. An endless header line -------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_an_unfinished_header_is_cut_at_the_cap_and_memory_stays_bounded(
    served: Server,
) -> None:
    assert served.proc is not None
    before = rss_kib(served.proc.pid)
    answers = []
    for _ in range(6):
        with socket.create_connection(("127.0.0.1", served.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nX-Big: ")
            sent = 0
            try:
                while sent < 20 * 2**20:  # stream 20 MiB of one header value, never ending it
                    sock.sendall(b"a" * 65536)
                    sent += 65536
            except (BrokenPipeError, ConnectionResetError):
                pass
            reply = b""
            try:
                while chunk := sock.recv(65536):
                    reply += chunk
            except (ConnectionResetError, TimeoutError):
                pass
            answers.append((sent, reply))
    for sent, reply in answers:
        # Socket buffers take a few MiB after the gateway stops reading; 20 MiB never fit.
        assert sent < 12 * 2**20, "the gateway kept reading an endless header"
        assert reply.startswith(b"HTTP/1.1 431 "), reply[:100]
        assert error_of(reply.partition(b"\r\n\r\n")[2])["code"] == "headers_too_large"
    assert rss_kib(served.proc.pid) - before < 32 * 1024  # under 32 MiB for six connections


# 3. No redirect on a trailing slash ----------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/images/generations/", "/v1/models/"])
def test_a_trailing_slash_is_the_documented_404_not_a_redirect(served: Server, path: str) -> None:
    raw = request(path, b'{"prompt": "a cat"}').replace(b"Host: 127.0.0.1", b"Host: evil.example")
    status, headers, body = exchange(served, raw)
    assert status == 404
    assert "location" not in headers
    assert error_of(body)["code"] == "not_found"


# 4. Content-Encoding -------------------------------------------------------------------

PROMPT = json.dumps({"prompt": "a bowl of fruit on a wooden table"}).encode()


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("gzip", gzip.compress(PROMPT)), ("deflate", zlib.compress(PROMPT))],
)
def test_gzip_and_deflate_bodies_are_decompressed(
    served: Server, encoding: str, body: bytes
) -> None:
    raw = request("/v1/images/generations", body, extra=f"Content-Encoding: {encoding}\r\n")
    status, headers, _ = exchange(served, raw, timeout_s=30)
    assert status == 200
    assert headers["x-tiergate-tier"] == "efficient"


def test_an_unsupported_encoding_is_a_415_naming_it(served: Server) -> None:
    raw = request("/v1/images/generations", PROMPT, extra="Content-Encoding: br\r\n")
    status, _, body = exchange(served, raw)
    assert status == 415
    error = error_of(body)
    assert error["code"] == "unsupported_media_type"
    assert "'br'" in str(error["message"])


def test_a_gzip_bomb_is_a_413_after_at_most_the_limit(served: Server) -> None:
    bomb = gzip.compress(b'{"prompt": "' + b"a" * (50 * 2**20) + b'"}')
    assert len(bomb) < 256 * 1024  # small on the wire, 50 MiB inflated
    assert served.proc is not None
    before = rss_kib(served.proc.pid)
    raw = request("/v1/images/generations", bomb, extra="Content-Encoding: gzip\r\n")
    status, _, body = exchange(served, raw)
    assert status == 413
    assert error_of(body)["code"] == "payload_too_large"
    assert rss_kib(served.proc.pid) - before < 16 * 1024


def test_a_corrupt_gzip_body_is_a_400(served: Server) -> None:
    raw = request("/v1/images/generations", b"not gzip at all", extra="Content-Encoding: gzip\r\n")
    status, _, body = exchange(served, raw)
    assert status == 400
    assert error_of(body)["code"] == "invalid_encoding"


# 5. Malformed HTTP in the OpenAI shape --------------------------------------------------

MALFORMED = {
    "nul in a header": b"X-A: a\x00b\r\n",
    "bare cr in a header": b"X-A: a\rb\r\n",
    "obs-fold": b"X-A: a\r\n  folded\r\n",
    "content-length and transfer-encoding": b"Transfer-Encoding: chunked\r\n",
    "duplicate content-length": b"Content-Length: 5\r\n",
    "negative content-length": None,
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_http_gets_an_openai_error(served: Server, case: str) -> None:
    body = b'{"prompt": "a cat"}'
    extra = MALFORMED[case]
    if extra is None:
        raw = (
            b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n" + body
        )
    else:
        raw = (
            b"POST /v1/images/generations HTTP/1.1\r\nHost: x\r\n"
            + extra
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    status, headers, reply = exchange(served, raw)
    assert status == 400
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert error_of(reply) == {
        "message": "The request is not valid HTTP/1.1 (the parser refused it).",
        "type": "invalid_request_error",
        "param": None,
        "code": "malformed_http",
    }


def test_a_200_kb_url_is_refused_in_the_openai_shape(served: Server) -> None:
    raw = b"GET /v1/models?x=" + b"a" * 200_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    started = time.monotonic()
    status, _, reply = exchange(served, raw)
    assert status == 431
    assert error_of(reply)["code"] == "headers_too_large"
    assert time.monotonic() - started < 5
