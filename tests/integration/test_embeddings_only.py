"""Embeddings-only mode end to end: a receiver that keeps vectors, never text (``--embed-outputs``).

Agent runs are exported with the OTel SDK to a real receiver whose answers are hashed but not stored;
its embedding process turns the sampled answers into vectors behind the WAL; the diff then finds the
change of meaning from those vectors alone. Also: the sample is the same set of answers on every
receiver, the spool is private and survives a restart, a full backlog drops (never blocks), and bad
settings are refused at start."""

from __future__ import annotations

import json
import os
import re
import stat

import pyarrow.dataset as ds
import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.demo.answers import answers
from driftline.collector.config import CollectorConfig
from driftline.collector.embed import spool
from driftline.collector.embed.model import DEFAULT_MODEL_ID
from driftline.collector.embed.store import STORE_DIR, lookup
from tests.integration.test_semantic_diff import RUNS, export_runs

COLUMNS = ["operation", "output_hash", "output_content"]


def _semantic(data: str) -> dict:
    result = CliRunner().invoke(cli, ["diff", "v1", "v2", "--data", data, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_vectors_without_text_find_a_change_of_meaning(receiver_factory) -> None:
    app = receiver_factory(embed_rate=1.0)
    export_runs(app.grpc_port, "v1", answers(RUNS, seed=1, mix={"refund": 1.0}))
    export_runs(app.grpc_port, "v2", answers(RUNS, seed=2, mix={"shipping": 1.0}))
    assert app.flush(20) and app.embed_flush(60)
    data = str(app.config.data)
    spans = ds.dataset(f"{data}/spans", format="parquet", partitioning="hive").to_table(columns=COLUMNS).to_pylist()
    assert spans and all(s["output_content"] is None for s in spans)  # no text in the data root
    assert not any(p.suffix == ".jsonl" for p in (app.config.wal_path / spool.SPOOL_DIR).iterdir())
    hashes = [s["output_hash"] for s in spans if s["operation"] == "invoke_agent"]
    assert len(lookup(data, DEFAULT_MODEL_ID, 384, hashes)) == 2 * RUNS
    doc = _semantic(data)
    semantic = {d["name"]: d for d in doc["dimensions"]}["semantic"]
    assert semantic["status"] == "moved" and semantic["baseline_distribution"]["texts"] == RUNS
    assert doc["settings"]["semantic"]["embedded_now"] == 0  # the receiver embedded them all
    # themes are measured, but no answer is shown: none was stored
    themes = doc["semantic"]["themes"]
    assert {t["change"] for t in themes} >= {"grew", "shrank"}
    assert all(not t["baseline_answers"] and not t["candidate_answers"] and not t["terms"] for t in themes)
    assert doc["semantic"]["novel"] == []
    metrics = app.telemetry.render().decode()
    spooled = float(re.search(r"^driftline_embed_spooled_items_total (\S+)$", metrics, re.M).group(1))
    assert spooled >= len(set(hashes)) and "driftline_embed_dropped_items_total 0.0" in metrics
    assert f"driftline_embedded_items {float(2 * RUNS)}" in metrics


def test_the_sample_is_chosen_by_the_answers_hash(receiver_factory) -> None:
    app = receiver_factory(embed_rate=0.5)
    export_runs(app.grpc_port, "v1", answers(RUNS, seed=5))
    assert app.flush(20) and app.embed_flush(60)
    data = str(app.config.data)
    spans = ds.dataset(f"{data}/spans", format="parquet", partitioning="hive").to_table(columns=COLUMNS).to_pylist()
    outputs = {s["output_hash"] for s in spans if s["output_hash"] and s["operation"] in spool.OPERATIONS}
    stored = set(lookup(data, DEFAULT_MODEL_ID, 384, sorted(outputs)))
    assert stored == {h for h in outputs if spool.sampled(h, 0.5)} and 0 < len(stored) < len(outputs)


def test_a_spool_left_by_a_previous_run_is_embedded_after_a_restart(receiver_factory, tmp_path) -> None:
    config = CollectorConfig(data=str(tmp_path / "data"), embed_rate=1.0, instance_id="test")
    folder = config.wal_path / spool.SPOOL_DIR
    text = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Your parcel ships today."}]}])
    assert spool.write(folder, "seg-1-1", {"ab" * 32: text}) == (1, 0)
    (path,) = folder.glob("*.jsonl")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    app = receiver_factory(data=str(tmp_path / "data"), embed_rate=1.0)
    assert app.embed_flush(60)
    assert list(lookup(str(tmp_path / "data"), DEFAULT_MODEL_ID, 384, ["ab" * 32])) == ["ab" * 32]
    assert (tmp_path / "data" / STORE_DIR / DEFAULT_MODEL_ID).is_dir() and not list(folder.glob("*.jsonl"))


def test_a_full_backlog_drops_answers_instead_of_waiting(tmp_path) -> None:
    folder = tmp_path / "spool"
    assert spool.write(folder, "a", {"1" * 64: "x" * 100}, budget=250) == (1, 0)
    assert spool.write(folder, "b", {"2" * 64: "y" * 100}, budget=250) == (0, 1)  # over budget: dropped
    (tmp_path / "a-file").write_text("")
    assert spool.write(tmp_path / "a-file" / "spool", "c", {"3" * 64: "z"}) == (0, 1)  # an OSError: dropped


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"embed_rate": 1.5}, "between 0 and 1"),
        ({"embed_rate": 0.1, "data": "s3://bucket/x", "wal_dir": "/tmp/w"}, "local --data"),
        ({"embed_rate": 0.1, "embed_model": "/nowhere/m.onnx"}, "go together"),
        ({"embed_rate": 0.1, "embed_model": "/nowhere/m.onnx", "embed_tokenizer": "/nowhere/t.json"}, "does not exist"),
    ],
)
def test_bad_embedding_settings_are_refused_at_start(tmp_path, overrides: dict, message: str) -> None:
    config = CollectorConfig(**{"data": str(tmp_path / "d"), **overrides})
    with pytest.raises(ValueError, match=message):
        config.validate()
