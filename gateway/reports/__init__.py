"""Team usage reports and the ledger export.

``build_team_report`` turns a team's daily usage aggregates (``gateway.usage``) into a
``TeamReport`` (pure); ``render`` turns reports into json, csv, md or html; ``source``
reads aggregates and ledger pages from the budget store; ``export`` writes the ledger
as JSONL for a warehouse.
"""

from __future__ import annotations

from gateway.reports.build import build_team_report
from gateway.reports.model import Money, ReportPeriod, TeamReport, usd_string
from gateway.reports.render import FORMATS, MEDIA_TYPES, ReportFormat, render_reports

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "Money",
    "ReportFormat",
    "ReportPeriod",
    "TeamReport",
    "build_team_report",
    "render_reports",
    "usd_string",
]
