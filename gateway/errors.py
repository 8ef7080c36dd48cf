"""The gateway's error tree and its single OpenAI-shaped rendering.

Every failure a client can see is a ``GatewayError``; one handler in ``app.py``
renders it as ``{"error": {"message", "type", "param", "code"}}``::

    GatewayError                      (500, api_error)
    ├── InvalidRequest                (400, invalid_request_error)
    │   └── UnknownModel              (400, invalid_request_error, model_not_found)
    ├── PayloadTooLarge               (413, invalid_request_error, payload_too_large)
    ├── UnsupportedMediaType          (415, invalid_request_error, unsupported_media_type)
    ├── HeadersTooLarge               (431, invalid_request_error, headers_too_large)
    ├── RequestTimeout                (408, invalid_request_error, request_timeout)
    ├── AuthenticationFailed          (401, invalid_request_error, invalid_api_key)
    ├── PermissionDenied              (403, permission_error)
    ├── NotFound                      (404, invalid_request_error, not_found)
    ├── IdempotencyConflict           (409, invalid_request_error, idempotency_key_reused)
    ├── BudgetExceeded                (429, insufficient_quota, budget_exceeded)
    ├── RateLimited                   (429, requests, rate_limit_exceeded)
    ├── LatencyBudgetUnmet            (503, service_unavailable, latency_budget_unmet)
    ├── StoreUnavailable              (503, service_unavailable, store_unavailable)
    ├── Overloaded                    (503, service_unavailable, server_overloaded)
    ├── UpstreamError                 (502, api_error, upstream_error)
    └── UpstreamTimeout               (504, api_error, upstream_timeout)

``upstream/`` translates litellm's exceptions into the last two at its one
boundary; endpoints raise and never catch-and-rewrap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class GatewayError(Exception):
    status_code: ClassVar[int] = 500
    error_type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers: dict[str, str] = dict(headers or {})

    def to_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.error_type,
                "param": self.param,
                "code": self.code,
            }
        }


class InvalidRequest(GatewayError):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_value"


class UnknownModel(InvalidRequest):
    default_code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status_code = 413
    error_type = "invalid_request_error"
    default_code = "payload_too_large"


class UnsupportedMediaType(GatewayError):
    status_code = 415
    error_type = "invalid_request_error"
    default_code = "unsupported_media_type"


class RequestTimeout(GatewayError):
    status_code = 408
    error_type = "invalid_request_error"
    default_code = "request_timeout"


class HeadersTooLarge(GatewayError):
    status_code = 431
    error_type = "invalid_request_error"
    default_code = "headers_too_large"


class AuthenticationFailed(GatewayError):
    status_code = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFound(GatewayError):
    status_code = 404
    error_type = "invalid_request_error"
    default_code = "not_found"


class IdempotencyConflict(GatewayError):
    status_code = 409
    error_type = "invalid_request_error"
    default_code = "idempotency_key_reused"


class BudgetExceeded(GatewayError):
    status_code = 429
    error_type = "insufficient_quota"
    default_code = "budget_exceeded"
    blocking: str | None = None
    """The refusing window, as ``budget:<period>:<scope>`` (``budget:day:team``)."""
    shortfall_is_spent: bool = False
    """True when what is already spent (not merely held) leaves no room for the request:
    waiting for other requests to finish cannot make room, only a new window can."""


class RateLimited(GatewayError):
    status_code = 429
    error_type = "requests"
    default_code = "rate_limit_exceeded"


class LatencyBudgetUnmet(GatewayError):
    status_code = 503
    error_type = "service_unavailable"
    default_code = "latency_budget_unmet"


class BlobStoreUnavailable(GatewayError):
    """An image was made and charged but the blob store would not keep it for a URL."""

    status_code = 503
    error_type = "api_error"
    default_code = "blob_store_unavailable"


class StoreUnavailable(GatewayError):
    status_code = 503
    error_type = "service_unavailable"
    default_code = "store_unavailable"


class Overloaded(GatewayError):
    """This worker already holds its ``max_in_flight`` image requests; retry after a pause."""

    status_code = 503
    error_type = "service_unavailable"
    default_code = "server_overloaded"


class UpstreamError(GatewayError):
    status_code = 502
    error_type = "api_error"
    default_code = "upstream_error"


class UpstreamTimeout(GatewayError):
    status_code = 504
    error_type = "api_error"
    default_code = "upstream_timeout"
