"""The checked-in JSON Schema of ``TeamReport``.

``python -m gateway.reports.schema`` rewrites the file from the model.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from gateway.reports.model import TeamReport

SCHEMA_FILE = "team_report.schema.json"


def team_report_schema() -> dict[str, Any]:
    return TeamReport.model_json_schema()


def schema_text() -> str:
    return json.dumps(team_report_schema(), indent=2, sort_keys=True) + "\n"


def checked_in_schema() -> dict[str, Any]:
    text = resources.files("gateway.reports").joinpath(SCHEMA_FILE).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


if __name__ == "__main__":
    Path(__file__).with_name(SCHEMA_FILE).write_text(schema_text(), encoding="utf-8")
