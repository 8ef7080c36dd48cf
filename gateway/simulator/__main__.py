"""``python -m gateway.simulator`` / ``tiergate simulate``: run one tier simulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from gateway.simulator.config import SimulatorConfig
from gateway.simulator.server import DEFAULT_HOST, run_simulator

_FAULT_FLAGS: tuple[tuple[str, type, str], ...] = (
    ("error_rate", float, "fraction of requests answered 500"),
    ("rate_limit_rate", float, "fraction answered 429 with Retry-After"),
    ("hang_rate", float, "fraction that wait --hang-s before answering"),
    ("slow_body_rate", float, "fraction whose body trickles out over --slow-body-s"),
    ("malformed_rate", float, "fraction answered 200 with a body that is not JSON"),
    ("reset_rate", float, "fraction whose connection is dropped without a response"),
    ("wrong_shape_rate", float, "fraction answered 200 with JSON whose 'data' is not a list"),
    ("fail_next", int, "the next N requests fail with --fail-next-status"),
    ("fail_next_status", int, "status for --fail-next (default 500)"),
    ("retry_after_s", int, "Retry-After seconds on 429s (default 1)"),
    ("hang_s", float, "how long a hang lasts (default 3600)"),
    ("slow_body_s", float, "how long a slow body takes (default 2)"),
    ("fault_seed", int, "seed for the fault draws, for repeatable runs"),
)


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """The simulator's flags, for ``tiergate simulate`` and ``python -m gateway.simulator``."""
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"bind address (default {DEFAULT_HOST})"
    )
    parser.add_argument("--port", type=int, required=True, help="port to listen on")
    parser.add_argument(
        "--profile",
        choices=("flagship", "efficient"),
        default="flagship",
        help="flagship = MAI-Image-2 (median 9 s), efficient = MAI-Image-2-Efficient (7 s)",
    )
    parser.add_argument(
        "--latency-scale",
        type=float,
        default=1.0,
        help="multiplies the simulated latency (1.0 = realistic; 0 = answer at once)",
    )
    parser.add_argument("--latency-seed", type=int, default=None, help="seed for latency draws")
    parser.add_argument("--api-key", default=None, help="require this key (api-key or Bearer)")
    parser.add_argument("--image-cache-size", type=int, default=None, help="PNGs kept cached")
    parser.add_argument(
        "--image-bytes", type=int, default=None, help="pad every PNG to this many bytes"
    )
    parser.add_argument(
        "--text-error-rate",
        type=float,
        default=None,
        help="per-character chance the requested text is drawn garbled (default: efficient "
        "0.03, flagship 0)",
    )
    parser.add_argument("--text-seed", type=int, default=None, help="seed for garbled texts")
    faults = parser.add_argument_group("faults (also changeable at run time: PUT /admin/faults)")
    for field, kind, help_text in _FAULT_FLAGS:
        faults.add_argument(f"--{field.replace('_', '-')}", type=kind, default=None, help=help_text)


def config_from_args(args: argparse.Namespace) -> SimulatorConfig:
    """The SimulatorConfig for parsed flags; flags left out keep the model's defaults."""
    fields = (
        "profile",
        "latency_scale",
        "latency_seed",
        "api_key",
        "image_cache_size",
        "image_bytes",
        "text_error_rate",
        "text_seed",
    )
    given = {name: getattr(args, name) for name in fields + tuple(f for f, _, _ in _FAULT_FLAGS)}
    return SimulatorConfig.model_validate({k: v for k, v in given.items() if v is not None})


def simulate_command(args: argparse.Namespace) -> int:
    """Run the simulator the flags describe; returns the exit code."""
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        print(f"invalid simulator settings:\n{exc}", file=sys.stderr)
        return 2
    print(
        f"tiergate simulator ({config.profile}) on http://{args.host}:{args.port}",
        file=sys.stderr,
        flush=True,
    )
    run_simulator(args.host, args.port, config)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.simulator",
        description="Run a built-in image tier simulator (OpenAI and MAI endpoints).",
    )
    add_simulate_arguments(parser)
    try:
        return simulate_command(parser.parse_args(argv))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
