"""Data lifecycle on a real data root written by the receiver: prune, export, import."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.db import connect
from driftline.collector.schema import SCHEMA_VERSION
from driftline.collector.sink.lifecycle import prune_root
from tests.unit.test_runs_view import _write, _write_crossing


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_export_then_import_into_another_root_adds_each_span_once(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    _write(src)
    _write_crossing(src, "rx-000000000002")
    _write_crossing(src, "rx-000000000003")  # duplicates: exported once
    code, out = run("export", "--data", str(src), "--since", "2023-11-14", "--to", str(tmp_path / "x.parquet"))
    assert code == 0 and "exported 16" in out
    assert pq.read_table(tmp_path / "x.parquet").num_rows == 16
    code, out = run("import", str(tmp_path / "x.parquet"), "--data", str(dst))
    assert code == 0 and "16 written, 0 already present" in out
    code, out = run("import", str(tmp_path / "x.parquet"), "--data", str(dst))
    assert code == 0 and "0 written, 16 already present" in out
    same = "SELECT * EXCLUDE (received_at) FROM spans ORDER BY trace_id, span_id"
    assert connect(str(dst)).execute(same).fetchall() == connect(str(src)).execute(same).fetchall()
    code, out = run("export", "--data", str(src), "--until", "2000-01-01", "--to", str(tmp_path / "none.parquet"))
    assert code == 0 and "exported 0" in out


def test_import_rejects_what_is_not_a_span_export(tmp_path: Path) -> None:
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1]}), tmp_path / "bad.parquet")
    code, out = run("import", str(tmp_path / "bad.parquet"), "--data", str(tmp_path / "d"))
    assert code == 1 and "not a span export" in out
    (tmp_path / "junk.parquet").write_text("not parquet")
    code, out = run("import", str(tmp_path / "junk.parquet"), "--data", str(tmp_path / "d"))
    assert code == 1 and "not a readable Parquet file" in out


def test_prune_drops_whole_old_hours_and_keeps_versions(tmp_path: Path) -> None:
    _write(tmp_path)  # v7, hour 22 of 2023-11-14
    _write_crossing(tmp_path, "rx-000000000002")  # hours 22 and 23
    connect(str(tmp_path), cached_runs=True)  # fills the run cache, which prune clears too
    code, out = run("prune", "--data", str(tmp_path), "--older-than", "30d", "--dry-run")
    assert code == 0 and "would drop spans/date=2023-11-14/hour=22" in out and "2 partition(s)" in out
    assert len(list((tmp_path / "spans").glob("date=*/hour=*"))) == 2
    code, out = run("prune", "--data", str(tmp_path), "--older-than", "30d", "--keep-versions", "v7,v9")
    assert code == 0 and "kept spans/date=2023-11-14/hour=22" in out and "(holds v7)" in out
    assert len(list((tmp_path / "spans").glob("date=*/hour=*"))) == 2  # both hours hold v7 spans
    code, out = run("prune", "--data", str(tmp_path), "--older-than", "30d")
    assert code == 0 and "dropped spans/date=2023-11-14/hour=23" in out
    assert len(list((tmp_path / "spans").glob("date=*/hour=*"))) == 0
    assert not list((tmp_path / "_cache" / "runs").glob("date=*/hour=*"))
    nothing = prune_root(str(tmp_path), 10 * 365 * 86400)
    assert nothing == []  # younger than ten years: untouched
    code, out = run("prune", "--data", str(tmp_path), "--older-than", "soon")
    assert code == 2 and "cannot read duration" in out


def test_doctor_reports_what_to_fix(tmp_path: Path, receiver_factory) -> None:
    code, out = run("doctor", "--data", str(tmp_path / "missing"))
    assert code == 1 and "does not exist" in out and "fix:" in out
    _write(tmp_path)
    code, out = run("doctor", "--data", str(tmp_path))
    assert code == 0 and f"✓ spans: 1 file(s) in 1 partition(s); schema versions {SCHEMA_VERSION} (1)" in out
    bad = next((tmp_path / "spans").glob("date=*/hour=*")) / "broken.parquet"
    bad.write_bytes(b"PAR1 not really")
    seg = tmp_path / "wal" / "old-rx"
    seg.mkdir(parents=True)
    (seg / "seg-000000000001.wal").write_bytes(b"x" * 10)
    code, out = run("doctor", "--data", str(tmp_path), "--endpoint", "http://127.0.0.1:9")
    assert code == 1
    assert "unreadable file" in out and "broken.parquet" in out
    assert "old-rx: 1 segment(s), 10 bytes not yet in Parquet" in out and "--instance-id old-rx" in out
    assert "is not reachable" in out
    app = receiver_factory()
    code, out = run("doctor", "--data", str(app.config.data), "--endpoint", f"http://127.0.0.1:{app.http_port}")
    assert "answered 200" in out and "a receiver holds it" in out
