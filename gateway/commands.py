"""What each ``tiergate`` subcommand does; ``cli.py`` only parses arguments."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from gateway.auth import hash_key, new_key
from gateway.policy.loader import PolicyError, default_policy_path, load_policy
from gateway.policy.schema import NAME_PATTERN, Policy

DEMO_KEY = "tg-demo-key"
DEMO_SIMULATOR_PORTS = {"efficient": 9101, "flagship": 9102}


def uvicorn_options(drain_seconds: float) -> dict[str, object]:
    """Server limits that defeat slow or oversized clients, and the graceful-shutdown budget."""
    from gateway.server import GuardedHttpToolsProtocol

    return {
        "loop": "auto",
        # httptools with a header deadline (gateway/server.py); header size is capped at
        # 16 KiB in the request middleware (a 431 in the OpenAI error shape).
        "http": GuardedHttpToolsProtocol,
        "access_log": False,
        "log_level": "warning",
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": drain_seconds,
        "server_header": False,
        # Nothing reads the client address, and a gateway trusts no X-Forwarded-* header by
        # default; uvicorn's ProxyHeadersMiddleware would otherwise wrap every request.
        "proxy_headers": False,
    }


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    if args.policy is not None:
        os.environ["TIERGATE_POLICY"] = str(args.policy.resolve())
    for name in ("host", "port", "workers"):
        value = getattr(args, name)
        if value is not None:
            os.environ[f"TIERGATE_{name.upper()}"] = str(value)
    from gateway.settings import Settings

    settings = Settings()
    try:
        load_policy(settings.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    from gateway.fdlimit import descriptors_needed, raise_open_file_limit

    fds = raise_open_file_limit(descriptors_needed(settings.max_in_flight))
    if not fds.enough:
        print(
            f"warning: the open-file limit is {fds.after}, below the {fds.needed} that "
            f"TIERGATE_MAX_IN_FLIGHT={settings.max_in_flight} needs; raise it (ulimit -n, "
            "LimitNOFILE) or lower the cap",
            file=sys.stderr,
        )
    uvicorn.run(
        "gateway.app:create_serving_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        backlog=settings.listen_backlog,
        **uvicorn_options(settings.drain_seconds),  # type: ignore[arg-type]
    )
    return 0


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def wait_http_ok(
    url: str, timeout_s: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=0.5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout_s} s")


def die_with_parent() -> None:
    """In a demo child: receive SIGTERM when the demo process dies, however it dies (Linux's
    PR_SET_PDEATHSIG; elsewhere the demo's own cleanup is all there is)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def demo(args: argparse.Namespace) -> int:
    """Both simulators as child processes, the gateway in this one; Ctrl-C stops all of it."""
    children: list[subprocess.Popen[bytes]] = []
    # uvicorn re-raises the SIGTERM it caught once it has shut down; as an exception (not
    # the default handler's instant death) it lets the cleanup below stop the children.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    env = dict(os.environ)
    try:
        for profile, port in DEMO_SIMULATOR_PORTS.items():
            if not _port_free(port):
                print(f"port {port} is taken; the {profile} simulator needs it", file=sys.stderr)
                return 1
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.simulator",
                    "--profile",
                    profile,
                    "--port",
                    str(port),
                    "--latency-scale",
                    str(args.latency_scale),
                ],
                env=env,
                preexec_fn=die_with_parent,
            )
            children.append(proc)
            wait_http_ok(f"http://127.0.0.1:{port}/healthz", proc=proc)
        store = os.environ.get("TIERGATE_STORE", "memory://")
        if not store.startswith("memory://"):
            # A shared store: batches run in a worker process, as in production. With
            # memory:// the gateway runs them itself (no other process can see them).
            os.environ["TIERGATE_BATCH_IN_PROCESS_WORKER"] = "false"
            children.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "gateway.cli",
                        "worker",
                        "--policy",
                        str(default_policy_path()),
                    ],
                    env={**os.environ, "TIERGATE_LOG_LEVEL": "warning"},
                    preexec_fn=die_with_parent,
                )
            )
        runner = "in the gateway" if store.startswith("memory://") else "in a worker process"
        print(
            f"tiergate demo: gateway on http://127.0.0.1:{args.port}/v1 (store {store}; "
            f"batches run {runner})",
            flush=True,
        )
        print(f"TIERGATE_DEMO_KEY={DEMO_KEY}", flush=True)
        print("Ctrl-C stops the gateway and both simulators.", flush=True)
        os.environ["TIERGATE_POLICY"] = str(default_policy_path())
        os.environ["TIERGATE_PORT"] = str(args.port)
        os.environ.setdefault("TIERGATE_LOG_FORMAT", "console" if sys.stdout.isatty() else "json")
        serve(argparse.Namespace(policy=None, host="127.0.0.1", port=args.port, workers=1))
        return 0
    finally:
        for proc in children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in children:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def policy_check(args: argparse.Namespace) -> int:
    try:
        load_policy(args.file)
    except PolicyError as exc:
        for line in exc.errors:
            print(line)
        return 1
    print("ok")
    return 0


def policy_schema(args: argparse.Namespace) -> int:
    print(json.dumps(Policy.model_json_schema(), indent=2))
    return 0


def keys_new(args: argparse.Namespace) -> int:
    key_id = args.key_id or f"{args.team}-{os.urandom(3).hex()}"
    for what, value in (("team", args.team), ("key id", key_id)):
        if not re.fullmatch(NAME_PATTERN, value):
            print(
                f"invalid {what} {value!r}: lower-case letters, digits, '_', '.', '-' "
                "(at most 63, starting with a letter or digit), as the policy requires",
                file=sys.stderr,
            )
            return 2
    key = new_key()
    print(f"key: {key}")
    print("(shown once; store it in your secret manager)")
    print("paste under teams." + args.team + ".keys in the policy:")
    print(f"  - id: {key_id}\n    sha256: {hash_key(key)}")
    return 0


def explain(args: argparse.Namespace) -> int:
    from gateway.explain import explain_prompt, explain_text

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    team = args.team or next(iter(policy.teams))
    if team not in policy.teams:
        print(f"unknown team {team!r}; teams: {', '.join(policy.teams)}", file=sys.stderr)
        return 2
    result = explain_prompt(policy, team, args.prompt, args.model)
    print(explain_text(result) if args.text else json.dumps(result, indent=2, ensure_ascii=False))
    return 0
