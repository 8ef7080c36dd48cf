"""``create_app(settings)``: wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from gateway.admission.idempotency import Idempotency, open_idempotency_backend
from gateway.admission.journal import SpendJournal, run_replayer
from gateway.admission.reaper import run_reaper
from gateway.admission.reservations import Admission
from gateway.admission.unconfirmed import run_unconfirmed_releases
from gateway.api import admin, azure, budget, content, edits, images, system
from gateway.api import metrics as metrics_api
from gateway.api import reports as reports_api
from gateway.api.backpressure import CapacityEstimate, InFlightLimit, WorkerLoad
from gateway.api.middleware import RequestContextMiddleware
from gateway.api.openapi import install_openapi
from gateway.api.responses import JSONBytesResponse
from gateway.api.state import AppState
from gateway.batch import batches_api, files_api
from gateway.batch.executor import Executor
from gateway.batch.metrics import BatchMetrics
from gateway.batch.queue import JobQueue
from gateway.batch.runtime import open_batch_runtime
from gateway.batch.worker import BatchWorker
from gateway.blobs.links import ImageLinks
from gateway.budget import open_store
from gateway.budget.store import BudgetStore, StoreOptions
from gateway.classify import Classifier
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.logging import configure_logging
from gateway.mcp.http import PATH as MCP_PATH
from gateway.mcp.http import McpEndpoint
from gateway.metrics import Metrics
from gateway.pipeline.resilience import ResilientCaller
from gateway.pipeline.service import Clock, ImageService, utc_now
from gateway.pipeline.serving import Serving, live_serving
from gateway.policy.live import Active, LivePolicy, read_policy_file
from gateway.policy.loader import default_policy_path
from gateway.policy.schema import Policy
from gateway.settings import Settings
from gateway.upstream.backend import ImageBackend, LiteLLMBackend
from gateway.verify.check import TextCheck
from gateway.verify.ocr import OcrReader

log = structlog.get_logger("gateway.app")


async def render_gateway_error(request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, GatewayError)
    structlog.contextvars.bind_contextvars(error_code=exc.code, error_type=exc.error_type)
    return JSONBytesResponse(exc.to_body(), status_code=exc.status_code, headers=exc.headers)


async def render_internal_error(request: Request, exc: Exception) -> JSONBytesResponse:
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return await render_gateway_error(
        request, GatewayError("The gateway hit an internal error.", code="internal_error")
    )


async def render_http_error(request: Request, exc: Exception) -> JSONBytesResponse:
    """Starlette's own 404/405s, in the OpenAI shape like every other error."""
    assert isinstance(exc, StarletteHTTPException)
    error: GatewayError = (
        NotFound(f"Unknown path {request.url.path!r}.")
        if exc.status_code == 404
        else InvalidRequest(str(exc.detail), code="method_not_allowed")
    )
    response = await render_gateway_error(request, error)
    response.status_code = exc.status_code
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; a path served by
        # several routes (GET and POST /v1/files) takes every one of their methods.
        response.headers["allow"] = ", ".join(sorted(allowed_methods(request)))
    return response


def allowed_methods(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return methods


async def render_validation_error(request: Request, exc: Exception) -> JSONBytesResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    error = InvalidRequest(str(first.get("msg", "Invalid request.")), param=".".join(loc) or None)
    return await render_gateway_error(request, error)


def build_backend(settings: Settings, policy: Policy) -> ImageBackend:
    """The upstream backend ``settings.upstream`` names (TIERGATE_UPSTREAM)."""
    if settings.upstream == "litellm":
        return LiteLLMBackend()
    from gateway.upstream.direct import HttpxImageBackend, RoutingBackend

    # A request holds at most one upstream connection, so a pool as large as the in-flight
    # cap never makes an admitted request wait for one (aiohttp's own default is 100).
    connections = settings.upstream_max_connections or settings.max_in_flight
    return RoutingBackend(
        ((tier.model, tier.api_base) for tier in policy.tiers.values()),
        direct=HttpxImageBackend(
            transport=settings.upstream_transport,
            max_connections=connections,
            max_keepalive_connections=connections,
        ),
    )


@dataclass(slots=True)
class Core:
    """What serves an image request, for the gateway and for batch workers alike."""

    store: BudgetStore
    metrics: Metrics
    load: WorkerLoad
    journal: SpendJournal
    admission: Admission
    service: ImageService
    ocr: OcrReader


def verifies(policy: Policy) -> bool:
    """Whether any request under this policy is verified without asking for it."""
    return policy.routing.verify.text is not None or any(
        team.verify is not None and team.verify.text is not None for team in policy.teams.values()
    )


def build_core(
    settings: Settings,
    policy: Policy,
    *,
    backend: ImageBackend | None = None,
    store: BudgetStore | None = None,
    clock: Clock = utc_now,
) -> Core:
    store_options = StoreOptions(ledger_maxlen=settings.ledger_maxlen)
    store = store or open_store(
        settings.store, key_prefix=settings.store_key_prefix, options=store_options
    )
    classifier = Classifier.from_config(policy.classifier)
    # The backend outlives one lifespan (ASGI test clients run it once per client): it is
    # closed at lifespan end and reopens its pools if the app serves again.
    backend = backend or build_backend(settings, policy)
    caller = ResilientCaller(policy, backend)
    load = WorkerLoad(
        CapacityEstimate(
            ceiling=settings.max_in_flight,
            floor=settings.min_in_flight,
            target_utilisation=settings.target_cpu_utilisation,
            retry_after_seconds=settings.overload_retry_after_seconds,
        )
        if settings.adaptive_in_flight
        else None
    )
    # Read at scrape time from the service in force, which a policy reload replaces.
    metrics = Metrics(circuit_states=lambda: core.service.caller.circuit_states(), load=load)
    journal = SpendJournal(
        settings.journal_dir,
        settled_marker_ttl_seconds=store_options.settled_marker_ttl_seconds,
    )
    admission = Admission(
        policy,
        store,
        grace_seconds=settings.reservation_grace_seconds,
        metrics=metrics,
        journal=journal,
        retention_seconds=settings.aggregates_retention_days * 86_400,
    )
    reader = OcrReader(settings.verify_ocr_threads, settings.verify_ocr_max_side)
    service = ImageService(policy, classifier, caller, admission, clock, TextCheck(reader))
    core = Core(store, metrics, load, journal, admission, service, reader)
    return core


def live_core(
    core: Core, settings: Settings, path: Path | str | None, text: str | None
) -> LivePolicy[Serving]:
    """The live policy over ``core``; each swap makes the new service the core's."""
    live = live_serving(core.service, settings.reservation_grace_seconds, path, text)

    def adopt(active: Active[Serving]) -> None:
        core.service = active.parts.service
        core.admission = active.parts.service.admission

    live.on_swap(adopt)
    core.metrics.watch_policy(
        lambda: (live.current.short_digest, live.reloads, live.last_error is not None)
    )
    return live


async def sample_queue_depth(queue: JobQueue, metrics: BatchMetrics, stop: asyncio.Event) -> None:
    """The batch queue's depth on /metrics, for a gateway that runs no worker itself."""
    while not stop.is_set():
        with contextlib.suppress(Exception):
            metrics.observe_depth(await queue.depth())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


def create_app(
    settings: Settings | None = None,
    *,
    policy: Policy | None = None,
    backend: ImageBackend | None = None,
    store: BudgetStore | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    settings = settings or Settings()
    path: Path | None = None
    text: str | None = None
    if policy is None:
        path = Path(settings.policy) if settings.policy is not None else default_policy_path()
        policy, text = read_policy_file(path)
    configure_logging(settings, log_prompts=policy.log_prompts)
    core = build_core(settings, policy, backend=backend, store=store, clock=clock)
    store, metrics, load, journal = core.store, core.metrics, core.load, core.journal
    retention_seconds = settings.aggregates_retention_days * 86_400
    batches = open_batch_runtime(settings)
    live = live_core(core, settings, path, text)
    signing_key = settings.url_signing_key
    links = ImageLinks(
        batches.blobs,
        signing_key.get_secret_value().encode() if signing_key is not None else None,
        ttl_seconds=settings.image_url_ttl_seconds,
        retention_seconds=settings.image_retention_seconds,
    )
    state = AppState(
        settings=settings,
        live=live,
        store=store,
        idempotency=Idempotency(
            open_idempotency_backend(settings.store), key_prefix=settings.store_key_prefix
        ),
        batches=batches,
        links=links,
    )
    mcp_endpoint = McpEndpoint(state)
    batch_metrics = BatchMetrics(metrics.registry)
    in_process_worker = (
        settings.batch_in_process_worker
        if settings.batch_in_process_worker is not None
        else settings.store.startswith("memory://")
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Connect before traffic arrives: a Redis Cluster client must discover its nodes once,
        # and redis-py's asyncio cluster client misbehaves when a burst does that concurrently.
        await store.ping()
        if verifies(policy):  # load the OCR models now, not on the first verified request
            await asyncio.get_running_loop().run_in_executor(None, core.ocr.warm_up)
        stop = asyncio.Event()
        interval = settings.reaper_interval_seconds
        tasks = [
            asyncio.create_task(
                run_reaper(
                    lambda: live.current.policy, store, clock, interval, stop, retention_seconds
                ),
                name="reaper",
            ),
            asyncio.create_task(run_replayer(journal, store, interval, stop), name="replayer"),
            asyncio.create_task(
                run_unconfirmed_releases(core.admission.unconfirmed, store, clock, interval, stop),
                name="unconfirmed-releases",
            ),
            asyncio.create_task(load.monitor.run(stop), name="loop-lag"),
            *(
                [asyncio.create_task(load.capacity.run(stop), name="capacity")]
                if load.capacity is not None
                else []
            ),
        ]
        if in_process_worker:
            executor = Executor(live, batches.state, batches.queue, batches.blobs)
            worker = BatchWorker(
                executor,
                batches.queue,
                concurrency=settings.batch_worker_concurrency,
                metrics=batch_metrics,
                drain_seconds=settings.drain_seconds,
            )
            tasks.append(asyncio.create_task(worker.run(stop), name="batch-worker"))
        else:
            tasks.append(
                asyncio.create_task(
                    sample_queue_depth(batches.queue, batch_metrics, stop), name="batch-depth"
                )
            )
        tasks.append(asyncio.create_task(mcp_endpoint.serve(stop), name="mcp"))
        tasks.append(
            asyncio.create_task(
                live.watch(stop, settings.policy_watch_interval_seconds), name="policy-watch"
            )
        )
        tasks.append(
            asyncio.create_task(
                links.run_sweeper(stop, settings.image_sweep_interval_seconds),
                name="image-sweeper",
            )
        )
        loop = asyncio.get_running_loop()
        sighup = settings.policy_reload_on_sighup and live.install_sighup(loop)
        try:
            yield
        finally:
            if sighup:
                live.remove_sighup(loop)
            # Let the loops finish their current store call: cancelling a redis-py command
            # mid-flight can leave its connection in a state that hangs the pool's close.
            stop.set()
            _, late = await asyncio.wait(tasks, timeout=10)
            for task in late:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(store.close(), 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(state.idempotency.close(), 5)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(batches.close(), 5)
            core.ocr.close()
            close_backend = getattr(backend, "aclose", None)
            if close_backend is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(close_backend(), 5)

    app = FastAPI(
        title="tiergate",
        version="0.1.0",
        summary="OpenAI-compatible image gateway that routes prompts between model tiers.",
        default_response_class=JSONBytesResponse,
        lifespan=lifespan,
        # An unknown path is the documented 404, never a redirect built from the Host header.
        redirect_slashes=False,
    )
    app.state.tiergate = state
    app.add_exception_handler(GatewayError, render_gateway_error)
    app.add_exception_handler(RequestValidationError, render_validation_error)
    app.add_exception_handler(StarletteHTTPException, render_http_error)
    app.add_exception_handler(Exception, render_internal_error)
    app.include_router(images.router)
    app.include_router(edits.router)
    app.include_router(content.router)
    app.include_router(azure.router)
    app.include_router(admin.router)
    app.include_router(system.router)
    app.include_router(budget.router)
    app.include_router(reports_api.router)
    app.include_router(metrics_api.router)
    app.include_router(files_api.router)
    app.include_router(batches_api.router)
    app.router.routes.append(
        Route(MCP_PATH, endpoint=mcp_endpoint, methods=["GET", "POST", "DELETE"])
    )
    # Inside the request context, so a refused request still gets its id and log line.
    app.add_middleware(
        InFlightLimit,
        limit=settings.max_in_flight,
        max_lag_ms=settings.max_loop_lag_ms,
        retry_after_seconds=settings.overload_retry_after_seconds,
        load=load,
    )
    app.add_middleware(RequestContextMiddleware)
    install_openapi(app, lambda: live.current.policy)
    live.on_swap(lambda _: setattr(app, "openapi_schema", None))
    app.state.metrics = metrics
    return app


#: The first-generation GC threshold while serving (CPython's default is 700). A request
#: allocates a few thousand container objects, so the default runs a young collection several
#: times per request; the older generations' thresholds stay at their defaults.
SERVING_GC_GEN0_THRESHOLD = 20_000


def create_serving_app() -> FastAPI:
    """``create_app()`` for ``tiergate serve`` (uvicorn's factory, once per worker process).

    Everything built at start-up (policy, classifier lexicons, pydantic models, modules) lives
    as long as the process, yet a full collection walks all of it: on a loaded worker those
    pauses were the c=64 p99 (96 ms; 52 ms with this, bench/run.py). So the start-up heap is
    frozen out of the collector and young collections run less often. Tests call
    ``create_app`` and leave the interpreter's collector alone.
    """
    app = create_app()
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(SERVING_GC_GEN0_THRESHOLD, gen1, gen2)
    return app
