"""docs/api.md names every route of the app and every error code the gateway can send."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway import errors
from gateway.app import create_app
from gateway.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "api.md"
GATEWAY = REPO / "gateway"


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(Settings(store="memory://"))


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def route_paths(routes: Any) -> Iterator[str]:
    """Paths of every route, including routers FastAPI wraps and routes left out of OpenAPI."""
    for route in routes:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            yield path
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from route_paths(inner.routes)


def test_every_openapi_path_is_documented(app: Any, doc: str) -> None:
    paths = sorted(app.openapi()["paths"])
    assert "/v1/images/generations" in paths
    missing = [p for p in paths if f"`{p}`" not in doc]
    assert not missing, f"docs/api.md does not document: {missing}"


def test_every_route_is_documented(app: Any, doc: str) -> None:
    paths = sorted(set(route_paths(app.routes)))
    assert "/metrics" in paths  # not in the OpenAPI document, still a route
    missing = [p for p in paths if f"`{p}`" not in doc]
    assert not missing, f"docs/api.md does not document: {missing}"


def default_codes() -> set[str]:
    codes = set()
    for value in vars(errors).values():
        if (
            isinstance(value, type)
            and issubclass(value, errors.GatewayError)
            and value.default_code is not None
        ):
            codes.add(value.default_code)
    return codes


def raised_codes() -> set[str]:
    """`code="..."` passed anywhere in gateway/ (outside the simulator, which is not the API)."""
    codes = set()
    for path in GATEWAY.rglob("*.py"):
        if "simulator" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.keyword)
                and node.arg == "code"
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                codes.add(node.value.value)
    return codes


def test_code_scan_finds_known_codes() -> None:
    assert {"budget_exceeded", "store_unavailable"} <= default_codes()
    assert {"circuit_open", "tier_not_allowed", "internal_error"} <= raised_codes()


def test_every_error_code_is_documented(doc: str) -> None:
    codes = default_codes() | raised_codes()
    missing = sorted(c for c in codes if f"`{c}`" not in doc)
    assert not missing, f"docs/api.md does not document error codes: {missing}"


def test_every_error_class_has_its_status_and_type_in_the_table(doc: str) -> None:
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    for value in vars(errors).values():
        if not (isinstance(value, type) and issubclass(value, errors.GatewayError)):
            continue
        code = value.default_code
        if code is None:
            continue
        wanted = (f"| {value.status_code} |", f"`{value.error_type}`", f"`{code}`")
        assert any(all(part in row for part in wanted) for row in rows), (
            f"no error-table row for {value.__name__}: {wanted}"
        )


def test_every_tiergate_header_is_documented(doc: str) -> None:
    headers = set()
    for path in GATEWAY.rglob("*.py"):
        if "simulator" in path.parts:
            continue
        headers |= set(re.findall(r"x-(?:tiergate|ratelimit)-[a-z-]+[a-z]", path.read_text()))
    headers.discard("x-tiergate-budget-remaining-usd")  # documented with its -<period> suffix
    missing = sorted(h for h in headers if h not in doc)
    assert not missing, f"docs/api.md does not document headers: {missing}"
    assert "x-tiergate-budget-remaining-usd-<period>" in doc
    assert "retry-after" in doc and "Idempotency-Key" in doc and "Authorization" in doc
