"""structlog, configured once: JSON lines in production, a console renderer in development.

Modules only ask ``structlog.get_logger()``. The request middleware binds
``request_id`` and ``team`` through contextvars and writes one canonical line per request.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from gateway.settings import Settings

_SECRET_FIELDS = frozenset({"authorization", "api_key", "key", "token", "prompt", "b64_json"})


class SecretRedactor:
    """Drops secrets, and prompt text unless the policy allows logging it."""

    def __init__(self, log_prompts: bool = False) -> None:
        self.log_prompts = log_prompts

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for name in _SECRET_FIELDS & event_dict.keys():
            if name == "prompt" and self.log_prompts:
                continue
            event_dict[name] = "[redacted]"
        return event_dict


REDACTOR = SecretRedactor()


def configure_logging(settings: Settings, *, log_prompts: bool = False) -> None:
    REDACTOR.log_prompts = log_prompts
    level = logging.getLevelNamesMapping()[settings.log_level.upper()]
    renderer: Any
    if settings.log_format == "json":
        renderer = structlog.processors.JSONRenderer(
            serializer=lambda o, **_: orjson.dumps(o).decode()
        )
    else:
        renderer = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            REDACTOR,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        # Not cached, so structlog.testing.capture_logs sees every logger (a few µs per call).
        cache_logger_on_first_use=False,
    )
    # litellm logs through the standard library; keep its chatter (and any prompt echo) out.
    for name in ("LiteLLM", "LiteLLM Proxy", "LiteLLM Router", "httpx"):
        logging.getLogger(name).setLevel(logging.WARNING)
