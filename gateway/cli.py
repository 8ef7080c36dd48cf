"""The ``tiergate`` command: serve, demo, simulate, policy, keys, explain, eval, calibrate."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway import commands
from gateway.budget.store import StoreError
from gateway.errors import GatewayError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiergate",
        description="OpenAI-compatible image gateway: each prompt to the cheapest capable tier.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the gateway (production)")
    serve.add_argument(
        "--policy", type=Path, help="policy YAML (default: the embedded demo policy)"
    )
    serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8080)")
    serve.add_argument("--workers", type=int, default=None, help="worker processes (default 1)")
    serve.set_defaults(handler=commands.serve)

    demo = sub.add_parser(
        "demo", help="run both tier simulators and the gateway on the demo policy"
    )
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument(
        "--latency-scale",
        type=float,
        default=0.1,
        help="simulated model latency multiplier (1.0 = realistic ~7-9 s; 0 = none)",
    )
    demo.set_defaults(handler=commands.demo)

    from gateway.batch.commands import (
        add_batch_arguments,
        add_worker_arguments,
        batch_command,
        worker_command,
    )

    worker = sub.add_parser("worker", help="run batch jobs from the shared Redis queue")
    add_worker_arguments(worker)
    worker.set_defaults(handler=worker_command)
    batch = sub.add_parser("batch", help="submit batches, follow them, fetch their images")
    add_batch_arguments(batch)
    batch.set_defaults(handler=batch_command)

    from gateway.mcp.commands import add_mcp_arguments, mcp_command

    mcp = sub.add_parser("mcp", help="the MCP tools over stdio, against a gateway's REST API")
    add_mcp_arguments(mcp)
    mcp.set_defaults(handler=mcp_command)

    from gateway.simulator.__main__ import add_simulate_arguments, simulate_command

    simulate = sub.add_parser("simulate", help="run one built-in tier simulator")
    add_simulate_arguments(simulate)
    simulate.set_defaults(handler=simulate_command)

    policy = sub.add_parser("policy", help="check a policy or print its JSON Schema")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_sub.add_parser("check", help="validate a policy file; prints ok or every error")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=commands.policy_check)
    schema = policy_sub.add_parser("schema", help="print the policy JSON Schema")
    schema.set_defaults(handler=commands.policy_schema)

    keys = sub.add_parser("keys", help="API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    new = keys_sub.add_parser("new", help="make a key: prints it once, and the hash for the policy")
    new.add_argument("--team", required=True)
    new.add_argument("--id", dest="key_id", default=None, help="key id (default: TEAM-<random>)")
    new.set_defaults(handler=commands.keys_new)

    explain = sub.add_parser("explain", help="classify a prompt and show the routing decision")
    explain.add_argument("prompt")
    explain.add_argument("--team", default=None, help="team (default: the policy's first team)")
    explain.add_argument("--policy", type=Path, default=None)
    explain.add_argument("--model", default="auto")
    explain.add_argument(
        "--text", action="store_true", help="the rules and the model side by side, not JSON"
    )
    explain.set_defaults(handler=commands.explain)

    from gateway.reports.commands import (
        add_export_arguments,
        add_report_arguments,
        export_command,
        report_command,
    )

    report = sub.add_parser("report", help="a team's usage report as json, csv, md or html")
    add_report_arguments(report)
    report.set_defaults(handler=report_command)
    export = sub.add_parser("export", help="write the ledger as JSONL for a warehouse")
    add_export_arguments(export)
    export.set_defaults(handler=export_command)

    from gateway.classify.evaluate import add_eval_arguments, eval_command

    evaluate = sub.add_parser("eval", help="score the classifier on a labelled CSV")
    add_eval_arguments(evaluate)
    evaluate.set_defaults(handler=eval_command)

    from gateway.classify.calibrate import add_calibrate_arguments, calibrate_command

    calibrate = sub.add_parser(
        "calibrate", help="the routing threshold that sends a target share to the flagship"
    )
    add_calibrate_arguments(calibrate)
    calibrate.set_defaults(handler=calibrate_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 130
    except (GatewayError, StoreError, OSError, ValueError) as exc:
        # What an operator can fix (a store that does not answer, an unknown model, a path
        # that does not exist, a bad TIERGATE_* setting): one line and exit 2, not a
        # traceback. pydantic's ValidationError is a ValueError.
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        print(f"tiergate {args.command}: {message}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["build_parser", "main"]
