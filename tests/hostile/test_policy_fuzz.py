"""Any policy document is either a valid Policy or a PolicyError with path-named lines; never a crash."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.policy.loader import PolicyError, load_policy_text
from gateway.policy.schema import Policy
from tests.support import REPO

DEFAULT: dict[str, Any] = yaml.safe_load((REPO / "policies" / "default.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["${UNSET_VAR}", "${X:-1}", "efficient", "flagship", "day", "-1", "0"]),
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += paths(value, (*prefix, i))
    return found


ALL_PATHS = paths(DEFAULT)[1:]


def check(text: str) -> None:
    try:
        policy = load_policy_text(text, env={})
    except PolicyError as exc:
        assert exc.errors and all(isinstance(line, str) and line for line in exc.errors)
        assert all(":" in line for line in exc.errors)
    else:
        assert isinstance(policy, Policy)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALL_PATHS), values), min_size=1, max_size=4))
def test_mutated_default_policy_never_crashes(mutations: list[tuple[tuple[Any, ...], Any]]) -> None:
    doc = copy.deepcopy(DEFAULT)
    for path, value in mutations:
        node: Any = doc
        try:  # an earlier mutation may have replaced part of this path
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            pass
    check(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=100, deadline=None)
@given(values)
def test_any_document_never_crashes(document: Any) -> None:
    check(yaml.safe_dump(document, allow_unicode=True))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_never_crashes(text: str) -> None:
    check(text)
