"""JSON rendering: the report document, validated in tests against ``report.schema.json``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from driftline.analysis.report.model import Report

SCHEMA_FILE = Path(__file__).parent / "report.schema.json"


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def document(report: Report) -> dict[str, Any]:
    return _clean(report.to_dict())


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"


def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())
