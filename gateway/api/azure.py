"""The Azure OpenAI shape: ``/openai/deployments/{deployment}/images/{generations,edits}``.

``openai.AzureOpenAI(azure_endpoint=<tiergate>, api_key=<team key>, api_version=…)`` works
unmodified: the key comes in the ``api-key`` header, the deployment name maps to ``auto``, a
tier or an alias (``azure.deployments`` in the policy), and an ``api-version`` the policy does
not list, or none, is answered as Azure answers it: 404 ``Resource not found``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.edits import EDIT_BODY, edit_images
from gateway.api.images import BODY_SCHEMA as GENERATION_BODY
from gateway.api.images import IMAGE_RESPONSES, authenticate, generate_images
from gateway.api.models import ErrorResponse, ImagesResponse
from gateway.api.state import get_state
from gateway.errors import NotFound
from gateway.pipeline.serving import Serving
from gateway.policy.live import Active

router = APIRouter()


def deployment_target(active: Active[Serving], deployment: str, api_version: str | None) -> str:
    """The ``model`` a deployment stands for (404 as Azure for a bad version or name)."""
    azure = active.policy.azure
    if api_version is None or api_version not in azure.api_versions:
        raise NotFound("Resource not found", param="api-version", code="404")
    target = azure.deployments.get(deployment)
    if target is None:
        raise NotFound(
            "The API deployment for this resource does not exist. If you created the "
            "deployment within the last 5 minutes, please wait a moment and try again.",
            param="deployment",
            code="DeploymentNotFound",
        )
    return target


AZURE_RESPONSES = {**IMAGE_RESPONSES, 404: {"model": ErrorResponse}}


@router.post(
    "/openai/deployments/{deployment}/images/generations",
    response_model=ImagesResponse,
    responses=AZURE_RESPONSES,
    openapi_extra=GENERATION_BODY,
)
async def azure_generations(deployment: str, request: Request) -> Response:
    active = get_state(request).serving()
    principal = authenticate(active, request)
    model = deployment_target(active, deployment, request.query_params.get("api-version"))
    return await generate_images(request, active, principal, model)


@router.post(
    "/openai/deployments/{deployment}/images/edits",
    response_model=ImagesResponse,
    responses=AZURE_RESPONSES,
    openapi_extra=EDIT_BODY,
)
async def azure_edits(deployment: str, request: Request) -> Response:
    active = get_state(request).serving()
    principal = authenticate(active, request)
    model = deployment_target(active, deployment, request.query_params.get("api-version"))
    return await edit_images(request, active, principal, model)
