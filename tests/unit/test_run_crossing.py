"""Traces cut in two by per-hour derivation (``analysis/run_crossing.py``): a receiver finds them and
derives their runs whole after it derives an hour, a reader then derives nothing of them, and the
runs are always the live view's — for a trace across an hour boundary, across an hour nobody derived
yet, and in two receivers' files of one hour."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from driftline.analysis import run_crossing
from driftline.analysis.cli import cli
from driftline.analysis.cost import load_prices
from driftline.analysis.db import connect
from driftline.analysis.run_cache import RunCache, release
from driftline.analysis.run_derivation import derive_group
from tests.integration.otlp_payloads import kv
from tests.span_rows import add_span, agent_runs, store

HOUR_MS = 2_800_000  # T0 is 800 s into its hour: the next hour starts here
AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "night", "gen_ai.agent.version": "v7"}
CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 7}


def _spans(root: Path, stem: str, trace: str, spans: list[tuple[str, str | None, int]]) -> None:
    """Spans of one trace, (span id, parent, start ms): the parentless one is the agent run."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([kv("service.name", "svc")])
    ss = rs.scope_spans.add()
    for sid, parent, start in spans:
        attrs, name = (CHAT, "chat") if parent else (AGENT, "invoke_agent night")
        add_span(ss, trace, sid, parent, name, attrs, start, 2_000 if parent is None else 50)
    store(root, req, stem)


def _root_of(n: int) -> str:
    return f"{n:016x}"


def _crossing_run(root: Path, n: int, stem: str, at_ms: int) -> str:
    """A run that starts a second before ``at_ms`` (an hour boundary) and calls the model after it."""
    trace = f"{n:032x}"
    _spans(root, stem, trace, [(_root_of(n), None, at_ms - 1000), (f"{n + 1:016x}", _root_of(n), at_ms + 500)])
    return trace


def _reader(root: Path, cache: Path) -> tuple[list[tuple], RunCache]:
    con = connect(str(root))
    rc = RunCache(str(root), load_prices(), cache)
    assert rc.attach(con)
    try:
        return con.execute("SELECT * FROM runs ORDER BY run_id").fetchall(), rc
    finally:
        release(con)  # and the links it read through


def _live(root: Path) -> list[tuple]:
    return connect(str(root)).execute("SELECT * FROM runs ORDER BY run_id").fetchall()


def _rebuild(root: Path) -> str:
    result = CliRunner().invoke(cli, ["runs", "rebuild", "--data", str(root)])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_rebuilt_root_leaves_the_reader_nothing_to_derive(tmp_path: Path) -> None:
    root = tmp_path / "data"
    agent_runs(root, "1.0", 5, stem="rx-000000000001")
    _crossing_run(root, 1, "rx-000000000002", HOUR_MS)
    live = _live(root)
    assert len(live) == 6
    assert "and 1 piece(s) of runs that cross hours" in _rebuild(root)
    assert [p.suffix for p in sorted((root / "runs" / "_crossing").iterdir())].count(".parquet") == 1
    runs, rc = _reader(root, tmp_path / "cache")
    assert runs == live and rc.derived == [] and rc.pieces_derived == 0
    assert not list((tmp_path / "cache" / "runs").rglob("*.parquet"))  # no runs of its own


def test_a_trace_into_an_hour_nobody_derived_yet_is_found_beside_the_memo(tmp_path: Path) -> None:
    """The receiver's memo saw the first hour only; the reader checks the open hour's traces."""
    root = tmp_path / "data"
    agent_runs(root, "1.0", 5, stem="rx-000000000001")
    trace = f"{7:032x}"
    _spans(root, "rx-000000000002", trace, [(_root_of(7), None, HOUR_MS - 1000)])
    _rebuild(root)
    memo = run_crossing.read_memos([(run_crossing.pafs.LocalFileSystem(), str(root / "runs" / "_crossing"))])
    assert len(memo) == 1 and memo[0].crossing == []
    _spans(root, "rx-000000000003", trace, [(f"{8:016x}", _root_of(7), HOUR_MS + 500)])  # the open hour
    live = _live(root)
    assert len(live) == 6
    runs, rc = _reader(root, tmp_path / "cache")
    assert runs == live and len(rc.derived) == 1 and rc.pieces_derived == 1
    assert runs == _reader(root, tmp_path / "cache")[0]  # again, from the cache's memo and pieces


def test_a_trace_at_two_receivers_in_one_hour_is_one_run(tmp_path: Path) -> None:
    """Spans of one trace reached two receivers anyway (a retry through another): each derives a
    piece of it; neither piece alone is the run."""
    root = tmp_path / "data"
    trace = f"{9:032x}"
    _spans(root, "rxa-000000000001", trace, [(_root_of(9), None, 1000)])
    _spans(root, "rxb-000000000001", trace, [(f"{10:016x}", _root_of(9), 1500)])
    live = _live(root)
    assert len(live) == 1
    _rebuild(root)
    runs, rc = _reader(root, tmp_path / "cache")
    assert runs == live and rc.derived == [] and rc.pieces_derived == 0


def test_each_closed_hour_derives_only_the_pieces_it_added(tmp_path: Path) -> None:
    """What a receiver does at the close of each hour: the pieces found before are kept, not derived."""
    root, prices = tmp_path / "data", load_prices()
    _crossing_run(root, 1, "rx-000000000001", HOUR_MS)  # hours 22 and 23
    _crossing_run(root, 3, "rx-000000000002", HOUR_MS + 3_600_000)  # hours 23 and 00

    def close(hour: Path) -> int:
        partition = f"{hour.parent.name}/{hour.name}"
        derive_group(str(root), partition, sorted(str(f) for f in hour.glob("*.parquet")), "rx", prices)
        return run_crossing.settle(str(root), prices)

    hours = sorted({p.parent for p in (root / "spans").rglob("*.parquet")})
    assert len(hours) == 3
    assert [close(h) for h in hours] == [0, 1, 1]
    runs, rc = _reader(root, tmp_path / "cache")
    assert runs == _live(root) and len(runs) == 2 and rc.derived == [] and rc.pieces_derived == 0


def test_a_memo_that_saw_other_files_is_not_trusted(tmp_path: Path) -> None:
    """A memo names the files it saw; one naming a file the reader does not read says nothing."""
    root = tmp_path / "data"
    _crossing_run(root, 1, "rx-000000000001", HOUR_MS)
    _rebuild(root)
    crossing_dir = root / "runs" / "_crossing"
    for f in crossing_dir.iterdir():
        f.unlink()
    fs = run_crossing.pafs.LocalFileSystem()
    state = {run_crossing.ident(p.parent.parent.name + "/" + p.parent.name, p.name) for p in root.glob("runs/*/*/*")}
    run_crossing.write_memo(fs, str(crossing_dir), run_crossing.Memo(frozenset(state | {"x/y.parquet"}), []))
    runs, rc = _reader(root, tmp_path / "cache")
    assert runs == _live(root) and len(runs) == 1 and rc.pieces_derived == 1


def test_an_erased_trace_leaves_no_runs_of_it_on_disk(tmp_path: Path) -> None:
    """``driftline reset`` erases spans; the runs of a trace cut in two were derived from them (by the
    receiver, and by a reader into the cache): those go too, and nothing is derived from them again."""
    import pyarrow.parquet as pq

    from driftline.collector.sink.erase import erase_traces

    root = tmp_path / "data"
    kept = _crossing_run(root, 1, "rx-000000000001", HOUR_MS)
    erased = _crossing_run(root, 3, "rx-000000000002", HOUR_MS)
    agent_runs(root, "1.0", 2, stem="rx-000000000003", start_ms=HOUR_MS + 600_000)  # an hour nobody derived
    _rebuild(root)
    (root / "spans" / "date=2023-11-14" / "hour=23" / "rx-000000000009.parquet").write_bytes(
        next((root / "spans" / "date=2023-11-14" / "hour=23").glob("*.parquet")).read_bytes()
    )  # a copy: that hour is no longer accounted for, so the reader derives it and the pieces itself
    runs, rc = _reader(root, root / "_cache")
    assert rc.pieces_derived == 1 and {r[1] for r in runs} >= {kept, erased}
    erase_traces(str(root), {erased})
    for f in root.rglob("*.parquet"):
        assert erased not in pq.read_table(f).column("trace_id").to_pylist(), f
    runs, _ = _reader(root, root / "_cache")
    assert runs == _live(root) and kept in {r[1] for r in runs} and erased not in {r[1] for r in runs}


def test_a_cache_shared_by_two_roots_keeps_their_memos_apart(tmp_path: Path) -> None:
    """Two roots whose files have the same names and sizes (the same traffic replayed) but not the
    same traces: a cache directory given to readers of both never answers one with the other's memo."""
    a, b, cache = tmp_path / "a", tmp_path / "b", tmp_path / "cache"
    _crossing_run(a, 1, "rx-000000000001", HOUR_MS)  # trace 1 crosses hours in a
    _crossing_run(b, 2, "rx-000000000001", HOUR_MS)  # trace 2 in b: the same names and sizes
    assert [p.stat().st_size for p in sorted(a.rglob("*.parquet"))] == [
        p.stat().st_size for p in sorted(b.rglob("*.parquet"))
    ]
    for root in (a, b):  # derived at ingest (runs files are named by their sources' names and sizes)
        _rebuild(root)
        for f in (root / "runs" / "_crossing").iterdir():  # an older receiver: no memo of its own
            f.unlink()
    runs_a, _ = _reader(a, cache)
    runs_b, _ = _reader(b, cache)
    assert runs_a == _live(a) and runs_b == _live(b) and {r[1] for r in runs_b} == {f"{2:032x}"}


def test_runs_files_named_for_their_hours_files_vouch_without_a_footer_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A runs file is named by the digest of its group's span files and the salt, so a reader that
    lists an hour knows it is covered without opening a footer; a late file of a group, or another
    salt, leaves the names vouching for nothing and the footers say the hour is not covered."""
    from driftline.analysis import run_derivation as derivation

    root, prices = tmp_path / "data", load_prices()
    agent_runs(root, "1.0", 3, stem="rxa-000000000001")
    agent_runs(root, "1.0", 2, stem="rxb-000000000001")
    (hour,) = sorted({p.parent for p in (root / "spans").rglob("*.parquet")})
    partition = f"{hour.parent.name}/{hour.name}"
    for group in ("rxa", "rxb"):
        derive_group(str(root), partition, sorted(str(f) for f in hour.glob(f"{group}-*.parquet")), group, prices)
    fs, salt = run_crossing.pafs.LocalFileSystem(), derivation.salt(prices)

    def listed() -> list[tuple[str, int, int]]:
        return [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in sorted(hour.glob("*.parquet"))]

    runs = derivation.list_runs_files(fs, str(root))[partition]
    assert len(runs) == 2
    with monkeypatch.context() as m:
        m.setattr(derivation, "footer", lambda *a: pytest.fail("a footer was read"))
        assert derivation.covering(fs, listed(), runs, salt) == runs
    assert derivation.covering(fs, listed(), runs, "another salt") is None
    assert derivation.covering(fs, listed(), runs[:1], salt) is None  # a group without its runs file
    agent_runs(root, "1.0", 1, stem="rxa-000000000002")  # late: rxa's runs file no longer holds the hour
    assert derivation._covered_by_names(listed(), runs, salt) is None
    assert derivation.covering(fs, listed(), runs, salt) is None


def test_a_busy_hour_derived_in_slices_of_its_traces_gives_the_same_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a receiver's memory limit an hour is derived a slice of its traces at a time (the run
    aggregates cannot spill: an hour of 500,000 spans ran out of 384 MB in one pass). The file holds
    the same runs, with the same schema, as one pass."""
    import shutil

    import pyarrow.parquet as pq

    from driftline.analysis import run_derivation as derivation

    root, prices = tmp_path / "data", load_prices()
    agent_runs(root, "1.0", 12, stem="rx-000000000001")
    agent_runs(root, "2.0", 9, stem="rx-000000000002")
    (hour,) = sorted({p.parent for p in (root / "spans").rglob("*.parquet")})
    partition, files = f"{hour.parent.name}/{hour.name}", sorted(str(f) for f in hour.glob("*.parquet"))
    whole = pq.read_table(derive_group(str(root), partition, files, "rx", prices, memory_limit=None))
    shutil.rmtree(root / "runs")
    monkeypatch.setattr(derivation, "SPANS_PER_PASS", 7)
    infos = run_crossing.pafs.LocalFileSystem().get_file_info(files)
    assert derivation._passes(run_crossing.pafs.LocalFileSystem(), infos) > 3
    sliced = pq.read_table(derive_group(str(root), partition, files, "rx", prices))
    # the same columns and types (nullability may differ, as it does between hours with and without
    # traces that make no run)
    assert [(f.name, f.type) for f in sliced.schema] == [(f.name, f.type) for f in whole.schema]
    assert sliced.schema.metadata == whole.schema.metadata
    assert sorted(map(repr, sliced.to_pylist())) == sorted(map(repr, whole.to_pylist()))
    assert whole.filter(whole["run_id"].is_valid()).num_rows == 21
