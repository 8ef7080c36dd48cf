"""Load a policy in two steps: parse and interpolate the YAML, then validate a frozen ``Policy``.

Secrets are referenced by environment-variable name only: ``${VAR}`` (an error
naming VAR when it is unset) or ``${VAR:-default}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.policy.schema import Policy

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_PYDANTIC_PREFIXES = (("Input should be ", "must be "), ("Value error, ", ""))


class PolicyError(Exception):
    """A policy that cannot be used; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: invalid policy\n" + "\n".join(f"  {e}" for e in errors))
        self.source = source
        self.errors = errors


def default_policy_path() -> Path:
    """The demo policy: policies/default.yaml in a checkout, or the copy shipped in the wheel."""
    checkout = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"
    if checkout.is_file():
        return checkout
    return Path(str(resources.files("gateway") / "_data" / "default.yaml"))


def read_policy_text(path: Path) -> str:
    """The policy file's text (``PolicyError`` when it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    except UnicodeDecodeError as exc:
        raise PolicyError(str(path), [f"not UTF-8 text (byte {exc.start})"]) from exc


def load_policy(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> Policy:
    path = Path(path) if path is not None else default_policy_path()
    return load_policy_text(read_policy_text(path), source=str(path), env=env)


def load_policy_text(
    text: str, *, source: str = "<policy>", env: Mapping[str, str] | None = None
) -> Policy:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(source, [f"YAML syntax: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise PolicyError(source, ["(root): must be a mapping of policy sections"])
    errors: list[str] = []
    interpolated = _interpolate(raw, env if env is not None else os.environ, "", errors)
    if errors:
        raise PolicyError(source, errors)
    try:
        return Policy.model_validate(interpolated)
    except ValidationError as exc:
        raise PolicyError(source, format_validation_errors(exc)) from None


def format_validation_errors(exc: ValidationError) -> list[str]:
    lines: list[str] = []
    for error in exc.errors(include_url=False):
        path = _format_loc(error["loc"])
        message = str(error["msg"])
        for prefix, replacement in _PYDANTIC_PREFIXES:
            if message.startswith(prefix):
                message = replacement + message[len(prefix) :]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        elif error["type"] == "missing":
            message = "required field is missing"
        if not path and ": " in message:
            # Cross-reference checks already name their own paths.
            lines.extend(part.strip() for part in message.split("; "))
        else:
            lines.append(f"{path or '(root)'}: {message}")
    return lines


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith("function-") or part in ("[key]",):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _interpolate(node: Any, env: Mapping[str, str], path: str, errors: list[str]) -> Any:
    if isinstance(node, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = env.get(name)
            if value is None:
                if default is not None:
                    return default
                errors.append(f"{path or '(root)'}: environment variable {name} is not set")
                return ""
            return value

        return _ENV_REF.sub(replace, node)
    if isinstance(node, dict):
        return {
            key: _interpolate(value, env, f"{path}.{key}" if path else str(key), errors)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_interpolate(value, env, f"{path}[{i}]", errors) for i, value in enumerate(node)]
    return node
