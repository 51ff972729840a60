"""The drift history: one Parquet row per scheduled report run, under ``<data>/_history/<report>/``.

Why Parquet in the data root: it travels with the data (export, object storage), ``driftline sql``
users can read it with DuckDB, and the console's Trends page reads the same rows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from driftline.analysis.schedule.entries import NAME
from driftline.collector.schema import TMP_MARK, filesystem, is_finished_parquet

DIRECTORY = "_history"


@dataclass
class HistoryRow:
    report: str
    slot: str  # the scheduled time this run stands for (ISO, UTC)
    run_at: str
    verdict: str
    score: float
    score_low: float
    score_high: float
    baseline: str
    candidate: str
    baseline_runs: int
    candidate_runs: int
    hypotheses: str  # JSON list of the top three texts
    report_path: str
    alerted: bool
    persistence: str = ""  # sustained | spike | developing | "" (stable)
    deploy: str = ""  # the candidate version and when it first appeared
    sequential: str = "{}"  # JSON: metric -> always-valid p-value (running minimum)
    performance: str = "[]"  # JSON, model reports: per window its label coverage, provisional flag, metrics
    semantic: str = "{}"  # JSON: the meaning of answers (effect, interval, status) and the themes that moved
    explanation: str = "{}"  # JSON: source, severity, summary of the report's explanation ([[report]] explain)


def _dir(root: str, report: str | None = None) -> tuple[pafs.FileSystem, str]:
    """The history directory (of one report): a name is a path component, so only a report name's
    characters are allowed (no "..", "/" or NUL reaching the filesystem)."""
    if report is not None and not NAME.match(report):
        raise ValueError(f"report {report!r}: a report name is letters, digits, '.', '_' or '-'")
    fs, base = filesystem(root)
    return fs, f"{base}/{DIRECTORY}" + (f"/{report}" if report else "")


def append(root: str, row: HistoryRow) -> None:
    fs, path = _dir(root, row.report)
    fs.create_dir(path, recursive=True)
    name = row.slot.replace(":", "").replace("-", "")
    table = pa.Table.from_pylist([asdict(row)])
    target = f"{path}/{name}.parquet"
    tmp = f"{target}{TMP_MARK}w"
    pq.write_table(table, tmp, filesystem=fs)
    fs.move(tmp, target)


def read(root: str, report: str | None = None) -> list[dict[str, Any]]:
    """Rows oldest first (one report, or all)."""
    fs, path = _dir(root, report)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    files = [f.path for f in fs.get_file_info(pafs.FileSelector(path, recursive=True)) if is_finished_parquet(f.path)]
    rows = [r for f in files for r in pq.read_table(f, filesystem=fs).to_pylist()]
    for r in rows:
        r["hypotheses"] = json.loads(r["hypotheses"] or "[]")
        r["sequential"] = json.loads(r.get("sequential") or "{}")  # rows written before the field: none
        r["performance"] = json.loads(r.get("performance") or "[]")
        r["semantic"] = json.loads(r.get("semantic") or "{}")  # rows written before these fields: empty
        r["explanation"] = json.loads(r.get("explanation") or "{}")
        r.setdefault("persistence", "")
        r.setdefault("deploy", "")
    return sorted(rows, key=lambda r: (r["report"], r["slot"], r["run_at"]))


def last(root: str, report: str) -> dict[str, Any] | None:
    rows = read(root, report)
    return rows[-1] if rows else None


def sparkline(values: list[float]) -> str:
    bars = "▁▂▃▄▅▆▇█"
    return "".join(bars[min(len(bars) - 1, max(0, int(v * (len(bars) - 1) + 0.5)))] for v in values)
