"""docs/policy.md documents exactly the fields of the policy schema, so the two cannot drift.

Paths are written as backticked dotted paths in the first cell of a table row: `<name>`
stands for a map key (a tier or team name) and `[]` for a list item, e.g.
`tiers.<name>.pricing.image_output_per_mtok` or `teams.<name>.keys[].budgets[].period`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from gateway.policy.schema import Policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
ROW_PATH = re.compile(r"^\|\s*`([^`]+)`\s*\|")


def schema_paths() -> set[str]:
    """Every named field of the policy, walking $refs, unions, lists and maps."""
    schema = Policy.model_json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    paths: set[str] = set()

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def walk(node: dict[str, Any], path: str, seen: tuple[str, ...]) -> None:
        ref = node.get("$ref")
        if ref is not None:
            if ref in seen:  # recursive model: stop
                return
            seen = (*seen, ref)
        node = resolve(node)
        for branch in node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", []):
            walk(branch, path, seen)
        for name, sub in node.get("properties", {}).items():
            child = f"{path}.{name}" if path else name
            paths.add(child)
            walk(sub, child, seen)
        items = node.get("items")
        if isinstance(items, dict):
            walk(items, f"{path}[]", seen)
        for sub in node.get("prefixItems", []):
            walk(sub, f"{path}[]", seen)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{path}.<name>", seen)
        for sub in node.get("patternProperties", {}).values():
            walk(sub, f"{path}.<name>", seen)

    walk(schema, "", ())
    return paths


def top_level_fields() -> set[str]:
    return set(Policy.model_json_schema()["properties"])


def documented_paths() -> set[str]:
    """First-cell backticked paths of table rows that start with a top-level policy field."""
    roots = top_level_fields()
    found: set[str] = set()
    for line in DOC.read_text(encoding="utf-8").splitlines():
        match = ROW_PATH.match(line)
        if match is None:
            continue
        path = match.group(1)
        root = re.split(r"[.\[]", path, maxsplit=1)[0]
        if root in roots:
            found.add(path)
    return found


def test_schema_walk_finds_the_deep_fields() -> None:
    paths = schema_paths()
    for expected in (
        "tiers.<name>.pricing.image_output_per_mtok",
        "tiers.<name>.circuit_breaker.open_seconds",
        "teams.<name>.rate_limits.max_concurrent",
        "teams.<name>.keys[].budgets[].soft_limit_fraction",
        "routing.fallbacks",
        "classifier.thresholds",
        "fail_open_requests_per_minute",
    ):
        assert expected in paths


def test_every_schema_field_is_documented() -> None:
    missing = sorted(schema_paths() - documented_paths())
    assert not missing, f"docs/policy.md does not document: {missing}"


def test_every_documented_field_exists() -> None:
    stale = sorted(documented_paths() - schema_paths())
    assert not stale, f"docs/policy.md documents fields the schema lacks: {stale}"


def test_interpolation_and_tools_are_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for needle in ("${VAR}", "${VAR:-default}", "tiergate policy check", "tiergate policy schema"):
        assert needle in text
