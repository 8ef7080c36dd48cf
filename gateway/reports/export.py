"""Ledger export: every ledger event of a period as JSONL, one event per line, for a warehouse.

Each line is the event's fields exactly as the store holds them (strings), plus
``ledger_id`` (the stream id, ``<ms>-<seq>``, unique and ordered per team) and ``team``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import BinaryIO

import orjson

from gateway.reports.source import LedgerReader, ledger_entries, period_ms


async def export_ledger(
    store: LedgerReader, teams: Iterable[str], since: date, until: date, out: BinaryIO
) -> int:
    """Write the events of `teams` between the UTC days `since` and `until` (included)."""
    start_ms, end_ms = period_ms(since, until)
    written = 0
    for team in teams:
        async for ledger_id, fields in ledger_entries(store, team, start_ms, end_ms):
            line = {"ledger_id": ledger_id, "team": team}
            line.update((k, v) for k, v in fields.items() if k not in line)
            out.write(orjson.dumps(line) + b"\n")
            written += 1
    return written
