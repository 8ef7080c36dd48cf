"""``tiergate serve`` with the upstream backend chosen by ``TIERGATE_UPSTREAM`` (bench only).

``litellm`` (today's default) or ``auto``/``httpx``
(``gateway.upstream_httpx.RoutingBackend``: the direct
path for ``openai/…`` and ``azure_ai/MAI-…`` tiers with an ``api_base``, litellm for the rest).
Same settings, policy loading and uvicorn options as ``gateway.commands.serve``; it exists until
the switch in ``bench/proposals/upstream-switch.diff`` lands in ``gateway/app.py``.

Run: ``TIERGATE_UPSTREAM=httpx python bench/serve.py --port 8080`` (other TIERGATE_* as usual).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--loop", default=None, help="override uvicorn loop (auto, asyncio, uvloop)"
    )
    parser.add_argument("--http", default=None, help="override uvicorn http (auto, h11, httptools)")
    args = parser.parse_args()
    if args.port is not None:
        os.environ["TIERGATE_PORT"] = str(args.port)

    import uvicorn

    from gateway.app import create_app
    from gateway.commands import uvicorn_options
    from gateway.policy.loader import load_policy
    from gateway.settings import Settings

    settings = Settings()
    policy = load_policy(settings.policy)
    backend = None
    if os.environ.get("TIERGATE_UPSTREAM", "litellm") in ("httpx", "auto"):
        from gateway.upstream_httpx import RoutingBackend

        backend = RoutingBackend((t.model, t.api_base) for t in policy.tiers.values())
    app = create_app(settings, policy=policy, backend=backend)
    options = uvicorn_options(settings.drain_seconds)
    if args.loop:
        options["loop"] = args.loop
    if args.http:
        options["http"] = args.http
    uvicorn.run(app, host=settings.host, port=settings.port, **options)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
