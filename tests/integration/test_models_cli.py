"""``driftline models`` over data the real pipeline wrote (``driftline demo --ml``), reference sets
imported from CSV and Parquet, compaction keeping every feature column, and the README's SQL cards
run in a plain DuckDB connection agreeing with the console's numbers."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.db import connect_ml
from driftline.analysis.ml import queries

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("ml") / "data"
    out = subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", "demo", "--ml", "--inferences", "400", "--data", str(root)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "driftline models:" in out.stdout
    return str(root)


def _run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def test_models_lists_versions_with_counts_and_label_coverage(demo_root: str) -> None:
    result = _run("models", "--data", demo_root, "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {r["version"]: r for r in json.loads(result.output)}
    assert set(rows) == {"v1", "v2"} and all(r["model"] == "fraud" and r["inferences"] == 400 for r in rows.values())
    assert rows["v1"]["label_coverage"] > 0.9 > rows["v2"]["label_coverage"] > 0.2  # v2's labels are still arriving
    table = _run("models", "--data", demo_root)
    assert "fraud" in table.output and "v2" in table.output


def test_models_show_profiles_features_and_daily_rollups(demo_root: str) -> None:
    result = _run("models", "show", "fraud", "--data", demo_root, "--format", "json", "--tz", "Asia/Tokyo")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    features = {f["name"]: f for f in doc["features"]}
    assert set(features) == {
        "amount",
        "country",
        "device_age_days",
        "tx_last_24h",
        "new_device",
        "merchant.category",
        "merchant.risk",
    }
    assert features["amount"]["kind"] == "numeric" and features["amount"]["minimum"] > 0
    assert features["country"]["kind"] == "categorical" and features["country"]["distinct"] == 5
    assert features["new_device"]["kind"] == "boolean" and features["amount"]["missing_rate"] == 0
    assert doc["inferences"] == 800 and doc["timezone"] == "Asia/Tokyo"
    assert sum(d["inferences"] for d in doc["daily"]) == 800 and all(
        d["timezone"] == "Asia/Tokyo" for d in doc["daily"]
    )
    text = _run("models", "show", "fraud", "--data", demo_root, "--tz", "Asia/Tokyo").output
    assert "days in Asia/Tokyo" in text


def test_models_errors_are_one_line(demo_root: str, tmp_path: Path) -> None:
    missing = _run("models", "show", "pricing", "--data", demo_root)
    assert missing.exit_code == 1 and "no inferences of model 'pricing'" in missing.output and "fraud" in missing.output
    assert _run("models", "show", "fraud", "--data", demo_root, "--tz", "Nowhere/City").exit_code == 2
    bad = tmp_path / "train.json"
    bad.write_text("{}")
    result = _run("models", "import", "fraud", "--version", "t", "--file", str(bad), "--data", str(tmp_path / "d"))
    assert result.exit_code == 1 and ".parquet or .csv" in result.output
    (tmp_path / "empty").mkdir()
    empty = _run("models", "--data", str(tmp_path / "empty"))
    assert empty.exit_code == 0 and "log_inference(" in empty.output  # an empty root teaches how to log
    missing_root = _run("models", "--data", str(tmp_path / "nothing"))  # a mistyped one is an error
    assert missing_root.exit_code == 1 and f"no data root at {tmp_path / 'nothing'}" in missing_root.output


def test_import_a_reference_set_from_csv_and_parquet(tmp_path: Path) -> None:
    root = str(tmp_path / "data")
    csv = tmp_path / "train.csv"
    csv.write_text("amount,country,is_fraud,score\n10.5,FR,false,0.1\n200,DE,true,0.8\n33,FR,false,nan\n")
    at = "2026-06-01T12:00:00Z"
    result = _run(
        "models", "import", "fraud", "--version", "train", "--file", str(csv), "--label", "is_fraud",
        "--segment", "country", "--at", at, "--data", root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "imported 3 inference(s) of fraud train with 2 feature(s) and 3 label(s)" in result.output
    parquet = tmp_path / "holdout.parquet"
    pq.write_table(
        pa.table({"amount": [5.0, 6.0], "user": [{"age": 30}, {"age": None}], "pred": ["ok", "fraud"]}), parquet
    )
    args = ["--version", "holdout", "--file", str(parquet), "--prediction", "pred", "--data", root]
    assert _run("models", "import", "fraud", *args).exit_code == 0
    con = connect_ml(root)
    rows = con.execute(
        'SELECT model_version, "feature.amount", "feature.score", "feature.user.age", "segment.country", '
        'prediction_class, label, time FROM inferences_labeled ORDER BY model_version, "feature.amount"'
    ).fetchall()
    assert [r[:7] for r in rows] == [
        ("holdout", 5.0, None, 30.0, None, "ok", None),
        ("holdout", 6.0, None, None, None, "fraud", None),
        ("train", 10.5, 0.1, None, "FR", None, 0.0),
        ("train", 33.0, None, None, "FR", None, 0.0),  # NaN in the file is null
        ("train", 200.0, 0.8, None, "DE", None, 1.0),
    ]
    assert rows[2][7] == datetime(2026, 6, 1, 12, tzinfo=UTC)
    wrong = _run("models", "import", "fraud", "--version", "x", "--file", str(csv), "--label", "nope", "--data", root)
    assert wrong.exit_code == 1 and "no column 'nope'" in wrong.output


def test_compaction_keeps_every_feature_column(tmp_path: Path) -> None:
    """Files of one hour with different features (and a feature whose kind changed) merge into one."""
    root = str(tmp_path / "data")
    at = (datetime.now(UTC) - timedelta(hours=3)).replace(minute=0, second=0, microsecond=0).isoformat()
    for i, table in enumerate(
        [pa.table({"a": [1.0, 2.0], "kind": [True, False]}), pa.table({"b": ["x"], "kind": ["maybe"]})]
    ):
        path = tmp_path / f"ref{i}.parquet"
        pq.write_table(table, path)
        assert (
            _run(
                "models", "import", "m", "--version", f"v{i}", "--file", str(path), "--at", at, "--data", root
            ).exit_code
            == 0
        )
    before = connect_ml(root).execute("SELECT * EXCLUDE (request_id) FROM inferences ORDER BY ALL").fetchall()
    result = _run("compact", "--data", root, "--min-age", "0")
    assert result.exit_code == 0, result.output
    files = list(Path(root, "inferences").rglob("*.parquet"))
    assert len(files) == 1
    merged = pq.read_table(files[0])
    assert {"feature.a", "feature.b", "feature.kind"} <= set(merged.column_names)
    assert sorted(merged.column("feature.kind").to_pylist()) == ["false", "maybe", "true"]  # bool became text
    after = connect_ml(root).execute("SELECT * EXCLUDE (request_id) FROM inferences ORDER BY ALL").fetchall()
    assert len(after) == len(before) == 3
    assert sorted(r[0] for r in connect_ml(root).execute('SELECT "feature.a" FROM inferences').fetchall() if r[0]) == [
        1.0,
        2.0,
    ]


def _readme_cards() -> tuple[list[str], list[str]]:
    text = README.read_text()
    section = text[text.index("### The SQL behind each Models card") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    return [s.strip() for s in blocks[0].split(";\n") if s.strip()], [b.strip().rstrip(";") for b in blocks[1:]]


def test_the_readme_sql_cards_give_the_console_numbers(demo_root: str) -> None:
    views, cards = _readme_cards()
    assert len(cards) == 5
    con = duckdb.connect()
    for view in views:
        con.execute(view.replace("driftline-data", demo_root))
    since = datetime.now(UTC) - timedelta(hours=2)
    ours = queries.cards(connect_ml(demo_root), "fraud", "v2", since, "amount", "country")
    replaced = [c.replace("now() - INTERVAL 2 HOUR", f"TIMESTAMPTZ '{since.isoformat()}'") for c in cards]
    volume, per_minute, segments, scatter, labels = (con.execute(c).fetchall() for c in replaced)
    assert volume[0] == tuple(ours["volume"].values())
    assert [r[1] for r in per_minute] == [r["inferences"] for r in ours["per_minute"]]
    country = [(r["value"], r["inferences"]) for r in ours["top_segments"] if r["segment"] == "country"]
    assert [(r[1], r[2]) for r in segments] == country
    assert len(scatter) == len(ours["scatter"]["points"]) > 0
    assert labels[0] == tuple(ours["labels"].values())


def test_tz_comes_from_driftline_toml_and_reaches_sql(demo_root: str, tmp_path: Path) -> None:
    config = tmp_path / "driftline.toml"
    config.write_text('tz = "Asia/Tokyo"\n')
    shown = _run("--config", str(config), "models", "show", "fraud", "--data", demo_root, "--format", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["timezone"] == "Asia/Tokyo"
    query = "SELECT DISTINCT timezone FROM ml_daily"
    out = _run("--config", str(config), "sql", "--data", demo_root, "--format", "json", query)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == [{"timezone": "Asia/Tokyo"}]
    flag = _run("--config", str(config), "sql", "--data", demo_root, "--format", "json", "--tz", "UTC", query)
    assert json.loads(flag.output) == [{"timezone": "UTC"}]  # a flag beats the file
