"""``tiergate worker`` (run batch jobs) and ``tiergate batch submit|status|results``."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

#: Batch statuses after which nothing changes.
DONE = {"completed", "failed", "cancelled", "expired"}


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", type=Path, default=None, help="policy YAML (as serve)")
    parser.add_argument("--concurrency", type=int, default=None, help="jobs at once (default 256)")
    parser.add_argument(
        "--metrics-port", type=int, default=None, help="serve Prometheus /metrics on this port"
    )
    parser.add_argument("--metrics-host", default="127.0.0.1")


def worker_command(args: argparse.Namespace) -> int:
    if args.policy is not None:
        os.environ["TIERGATE_POLICY"] = str(args.policy.resolve())
    if args.concurrency is not None:
        os.environ["TIERGATE_BATCH_WORKER_CONCURRENCY"] = str(args.concurrency)
    from gateway.settings import Settings

    settings = Settings()
    if settings.store.startswith("memory://"):
        print(
            "tiergate worker: TIERGATE_STORE is memory://, which no other process can see; "
            "point it at the gateway's Redis (redis://…)",
            file=sys.stderr,
        )
        return 2
    asyncio.run(run_worker(settings, args.metrics_port, args.metrics_host))
    return 0


async def run_worker(settings: Any, metrics_port: int | None, metrics_host: str) -> None:
    from gateway.admission.journal import run_replayer
    from gateway.admission.reaper import run_reaper
    from gateway.app import build_core, live_core
    from gateway.batch.executor import Executor
    from gateway.batch.metrics import BatchMetrics
    from gateway.batch.runtime import open_batch_runtime
    from gateway.batch.worker import BatchWorker
    from gateway.logging import configure_logging
    from gateway.pipeline.service import utc_now
    from gateway.policy.live import read_policy_file
    from gateway.policy.loader import default_policy_path

    path = settings.policy or default_policy_path()
    policy, text = read_policy_file(path)
    configure_logging(settings, log_prompts=policy.log_prompts)
    core = build_core(settings, policy)
    live = live_core(core, settings, path, text)
    runtime = open_batch_runtime(settings)
    metrics = BatchMetrics(core.metrics.registry)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host, registry=core.metrics.registry)
    executor = Executor(live, runtime.state, runtime.queue, runtime.blobs)
    worker = BatchWorker(
        executor,
        runtime.queue,
        concurrency=settings.batch_worker_concurrency,
        metrics=metrics,
        drain_seconds=settings.drain_seconds,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.policy_reload_on_sighup:
        live.install_sighup(loop)
    interval = settings.reaper_interval_seconds
    retention = settings.aggregates_retention_days * 86_400
    helpers = [
        asyncio.create_task(
            run_reaper(lambda: live.current.policy, core.store, utc_now, interval, stop, retention)
        ),
        asyncio.create_task(live.watch(stop, settings.policy_watch_interval_seconds)),
        asyncio.create_task(run_replayer(core.journal, core.store, interval, stop)),
    ]
    try:
        await worker.run(stop)
    finally:
        stop.set()
        await asyncio.wait(helpers, timeout=10)
        await runtime.close()
        await core.store.close()
        close_backend = getattr(core.service.caller.backend, "aclose", None)
        if close_backend is not None:
            with contextlib.suppress(Exception):
                await close_backend()


# -- the client side --------------------------------------------------------------------------


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base-url",
        default=os.environ.get("TIERGATE_BASE_URL", "http://127.0.0.1:8080/v1"),
        help="the gateway's /v1 URL (default $TIERGATE_BASE_URL or http://127.0.0.1:8080/v1)",
    )
    sub = parser.add_subparsers(dest="batch_command", required=True, metavar="ACTION")
    submit = sub.add_parser("submit", help="upload a JSONL file and start a batch")
    submit.add_argument("file", type=Path)
    submit.add_argument("--wait", action="store_true", help="show progress until it finishes")
    submit.add_argument("--completion-window", default="24h")
    submit.add_argument("--max-spend-usd", default=None, help="stop admitting items past this")
    submit.set_defaults(batch_handler=submit_command)
    status = sub.add_parser("status", help="print a batch's status and counts")
    status.add_argument("batch_id")
    status.add_argument("--wait", action="store_true")
    status.set_defaults(batch_handler=status_command)
    results = sub.add_parser("results", help="write a batch's images as PNG files")
    results.add_argument("batch_id")
    results.add_argument("-o", "--output", type=Path, required=True, help="directory")
    results.set_defaults(batch_handler=results_command)
    cancel = sub.add_parser("cancel", help="cancel a batch")
    cancel.add_argument("batch_id")
    cancel.set_defaults(batch_handler=cancel_command)


def batch_command(args: argparse.Namespace) -> int:
    key = os.environ.get("TIERGATE_API_KEY")
    if not key:
        print("tiergate batch: set TIERGATE_API_KEY to a team key", file=sys.stderr)
        return 2
    with httpx.Client(
        base_url=args.base_url.rstrip("/"),
        headers={"authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(60.0, connect=5.0),
    ) as client:
        code: int = args.batch_handler(client, args)
        return code


def _checked(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise SystemExit(f"tiergate batch: {response.status_code} {message}")
    return response.json()


def submit_command(client: httpx.Client, args: argparse.Namespace) -> int:
    with args.file.open("rb") as handle:
        uploaded = _checked(
            client.post(
                "/files",
                files={"file": (args.file.name, handle, "application/jsonl")},
                data={"purpose": "batch"},
            )
        )
    body: dict[str, Any] = {
        "input_file_id": uploaded["id"],
        "endpoint": "/v1/images/generations",
        "completion_window": args.completion_window,
    }
    if args.max_spend_usd is not None:
        body["metadata"] = {"max_spend_usd": str(args.max_spend_usd)}
    batch = _checked(client.post("/batches", json=body))
    print(f"batch {batch['id']} ({uploaded['id']}, {uploaded['bytes']} bytes)", flush=True)
    if args.wait:
        batch = follow(client, batch["id"])
        return 0 if batch["status"] == "completed" else 1
    return 0


def follow(client: httpx.Client, batch_id: str, interval: float = 1.0) -> dict[str, Any]:
    """Poll until the batch is done, drawing completed/failed/total, spend and ETA."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("failed {task.fields[failed]}"),
        TextColumn("${task.fields[spend]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(batch_id, total=None, status="validating", failed=0, spend="0")
        while True:
            batch = _checked(client.get(f"/batches/{batch_id}"))
            counts = batch["request_counts"]
            progress.update(
                task,
                total=counts["total"] or None,
                completed=counts["completed"] + counts["failed"],
                status=batch["status"],
                failed=counts["failed"],
                spend=batch.get("spend_usd", "0"),
            )
            if batch["status"] in DONE:
                break
            time.sleep(interval)
    _print_status(batch)
    return dict(batch)


def _print_status(batch: dict[str, Any]) -> None:
    counts = batch["request_counts"]
    print(
        f"{batch['id']}: {batch['status']}  total {counts['total']}  completed "
        f"{counts['completed']}  failed {counts['failed']}  spend ${batch.get('spend_usd')}"
    )
    for name in ("output_file_id", "error_file_id"):
        if batch.get(name):
            print(f"  {name}: {batch[name]}")


def status_command(client: httpx.Client, args: argparse.Namespace) -> int:
    if args.wait:
        follow(client, args.batch_id)
        return 0
    _print_status(_checked(client.get(f"/batches/{args.batch_id}")))
    return 0


def cancel_command(client: httpx.Client, args: argparse.Namespace) -> int:
    _print_status(_checked(client.post(f"/batches/{args.batch_id}/cancel")))
    return 0


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def png_name(custom_id: str, index: int, count: int) -> str:
    """A file name from a custom_id: unsafe characters become '_', never a path."""
    stem = _UNSAFE.sub("_", custom_id).strip("._") or "item"
    return f"{stem[:150]}{'' if count == 1 else f'-{index + 1}'}.png"


def results_command(client: httpx.Client, args: argparse.Namespace) -> int:
    batch = _checked(client.get(f"/batches/{args.batch_id}"))
    args.output.mkdir(parents=True, exist_ok=True)
    written = 0
    if batch.get("output_file_id"):
        with client.stream("GET", f"/files/{batch['output_file_id']}/content") as response:
            if response.status_code >= 400:
                response.read()
                _checked(response)
            for raw in response.iter_lines():
                if not raw.strip():
                    continue
                line = orjson.loads(raw)
                images = line["response"]["body"]["data"]
                for index, image in enumerate(images):
                    name = png_name(line["custom_id"], index, len(images))
                    (args.output / name).write_bytes(base64.b64decode(image["b64_json"]))
                    written += 1
    if batch.get("error_file_id"):
        errors = client.get(f"/files/{batch['error_file_id']}/content")
        if errors.status_code < 400:
            (args.output / "errors.jsonl").write_bytes(errors.content)
            print(f"errors: {args.output / 'errors.jsonl'}")
    print(f"{written} image(s) in {args.output}")
    return 0
