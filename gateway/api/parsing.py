"""Turn raw request bytes into a validated model, with OpenAI-style errors naming the field."""

from __future__ import annotations

from typing import TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from gateway.errors import InvalidRequest

Model = TypeVar("Model", bound=BaseModel)


def parse_json_body(body: bytes, content_type: str | None, model: type[Model]) -> Model:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise InvalidRequest(
            f"Unsupported Content-Type '{media_type[:64]}'; send application/json.",
            code="unsupported_content_type",
        )
    if not body:
        raise InvalidRequest("The request body is empty; send a JSON object.", code="invalid_json")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequest(
            "The request body is not valid JSON (or not UTF-8).", code="invalid_json"
        ) from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> InvalidRequest:
    first = exc.errors(include_url=False)[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    kind = first["type"]
    if kind == "extra_forbidden":
        return InvalidRequest(
            f"Unrecognized request argument supplied: {param}",
            param=param,
            code="unknown_parameter",
        )
    if kind == "missing":
        return InvalidRequest(
            f"Missing required parameter: '{param}'.",
            param=param,
            code="missing_required_parameter",
        )
    message = str(first["msg"]).removeprefix("Value error, ")
    return InvalidRequest(f"Invalid '{param}': {message}.", param=param, code="invalid_value")
