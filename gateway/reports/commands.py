"""``tiergate report`` and ``tiergate export``: arguments and handlers (``cli.py`` wires them)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import BinaryIO, cast

from gateway.policy.loader import PolicyError, load_policy
from gateway.policy.schema import Policy
from gateway.reports.export import export_ledger
from gateway.reports.model import ReportPeriod, TeamReport
from gateway.reports.render import FORMATS, ReportFormat, render_reports
from gateway.reports.source import team_report


def iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--team", help="report one team")
    which.add_argument("--all", action="store_true", help="report every team in the policy")
    parser.add_argument(
        "--from", dest="start", type=iso_date, required=True, help="first UTC day, YYYY-MM-DD"
    )
    parser.add_argument(
        "--to", dest="end", type=iso_date, required=True, help="last UTC day (included), YYYY-MM-DD"
    )
    parser.add_argument("--format", choices=FORMATS, default="json")
    parser.add_argument("--out", type=Path, default=None, help="file to write (default: stdout)")
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="policy YAML (default: TIERGATE_POLICY or the demo policy)",
    )


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", type=iso_date, required=True, help="first UTC day, YYYY-MM-DD")
    parser.add_argument(
        "--until", type=iso_date, default=None, help="last UTC day (included; default today)"
    )
    parser.add_argument("--team", default=None, help="one team (default: every team)")
    parser.add_argument("--out", type=Path, default=None, help="JSONL file (default: stdout)")
    parser.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="policy YAML (default: TIERGATE_POLICY or the demo policy)",
    )


def _load(policy_path: Path | None) -> tuple[Policy, str, str]:
    from gateway.settings import Settings

    settings = Settings(policy=policy_path) if policy_path is not None else Settings()
    if settings.store.startswith("memory://"):
        # A memory:// store lives inside one gateway process; this one starts empty.
        print(
            "warning: TIERGATE_STORE is memory://, which holds no data outside the gateway "
            "process; set TIERGATE_STORE to the gateway's redis:// URL",
            file=sys.stderr,
        )
    return load_policy(settings.policy), settings.store, settings.store_key_prefix


def _output(path: Path | None) -> AbstractContextManager[BinaryIO]:
    if path is None:
        return nullcontext(sys.stdout.buffer)
    return cast(AbstractContextManager[BinaryIO], path.open("wb"))


def _teams(policy: Policy, team: str | None) -> list[str] | None:
    if team is None:
        return list(policy.teams)
    if team not in policy.teams:
        print(f"unknown team {team!r} (teams: {', '.join(policy.teams)})", file=sys.stderr)
        return None
    return [team]


def report_command(args: argparse.Namespace) -> int:
    try:
        policy, store_url, prefix = _load(args.policy)
        period = ReportPeriod(start=args.start, end=args.end)
    except (PolicyError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    teams = _teams(policy, None if args.all else args.team)
    if teams is None:
        return 2
    reports = asyncio.run(_reports(policy, store_url, prefix, teams, period))
    fmt = cast(ReportFormat, args.format)
    with _output(args.out) as out:
        out.write(render_reports(reports, fmt, single=not args.all))
    return 0


async def _reports(
    policy: Policy, store_url: str, prefix: str, teams: list[str], period: ReportPeriod
) -> list[TeamReport]:
    from gateway.budget import open_store

    store = open_store(store_url, key_prefix=prefix)
    try:
        return [await team_report(store, policy, team, period) for team in teams]
    finally:
        await store.close()


def export_command(args: argparse.Namespace) -> int:
    try:
        policy, store_url, prefix = _load(args.policy)
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 2
    until = args.until or datetime.now(UTC).date()
    if until < args.since:
        print("--until is before --since", file=sys.stderr)
        return 2
    teams = _teams(policy, args.team)
    if teams is None:
        return 2
    with _output(args.out) as out:
        written = asyncio.run(_export(store_url, prefix, teams, args.since, until, out))
    print(f"exported {written} ledger events", file=sys.stderr)
    return 0


async def _export(
    store_url: str, prefix: str, teams: list[str], since: date, until: date, out: BinaryIO
) -> int:
    from gateway.budget import open_store

    store = open_store(store_url, key_prefix=prefix)
    try:
        return await export_ledger(store, teams, since, until, out)
    finally:
        await store.close()
