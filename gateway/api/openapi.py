"""The OpenAPI document, declaring the request bodies that routes parse themselves (for speed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from gateway.api.models import ImageGenerationRequest
from gateway.batch.models import BatchCreateRequest
from gateway.policy.schema import Policy

REF_TEMPLATE = "#/components/schemas/{model}"


def install_openapi(app: FastAPI, current: Callable[[], Policy]) -> None:
    """Also narrows ``model`` and ``size`` to what the policy in force serves (rebuilt after
    a reload sets ``app.openapi_schema`` back to None)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            policy = current()
            models = ["auto"]
            for name, tier in policy.tiers.items():
                models += [name, tier.model, *tier.aliases]
            sizes = sorted({size for tier in policy.tiers.values() for size in tier.image_tokens})
            schema = get_openapi(
                title=app.title, version=app.version, summary=app.summary, routes=app.routes
            )
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            request_schema = ImageGenerationRequest.model_json_schema(ref_template=REF_TEMPLATE)
            components.update(request_schema.pop("$defs", {}))
            properties = request_schema["properties"]
            properties["model"]["enum"] = list(dict.fromkeys(models))
            properties["size"]["enum"] = ["auto", *sizes]
            components["ImageGenerationRequest"] = request_schema
            batch_schema = BatchCreateRequest.model_json_schema(ref_template=REF_TEMPLATE)
            components.update(batch_schema.pop("$defs", {}))
            components["BatchCreateRequest"] = batch_schema
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
