"""How ``driftline diff --model`` reads a million inferences fast without changing a figure: features a
slice at a time (one family, the same rows in the same order for every slice), the files as written
when the model has no resend and the de-duplicated view when it has one, the compiled KS merge, the
missing-rate flags as dictionary codes. Each fast path is checked against the plain one."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from scipy.stats import ks_2samp

from driftline.analysis.cli import cli
from driftline.analysis.db import connect_ml
from driftline.analysis.diff.dimensions import Dimension, encode
from driftline.analysis.diff.engine import StatSettings
from driftline.analysis.diff.sides import SideSpec
from driftline.analysis.ml import drift, sides
from driftline.analysis.stats import significance
from driftline.collector.sink.parquet import ROW_GROUP_ROWS, ParquetSink
from tests.ml_tables import Population

N = 3000


def _import(data: str, tmp, version: str, seed: int, shifted: bool, rows: int = N, resend: int = 0) -> None:
    cols = Population().sample(rows, seed, shifted=shifted)
    table = pa.table({k.removeprefix("feature."): v for k, v in cols.items()})
    table = table.append_column("region", pa.array(["eu", "us", "apac"] * (rows // 3)))
    path = tmp / f"{version}-{seed}.parquet"
    pq.write_table(table, path)
    args = ["models", "import", "fraud", "--version", version, "--file", str(path), "--prediction", "prediction"]
    out = CliRunner().invoke(cli, [*args, "--segment", "region", "--data", data])
    assert out.exit_code == 0, out.output


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> str:
    tmp = tmp_path_factory.mktemp("model-reading")
    data = str(tmp / "data")
    _import(data, tmp, "v1", 1, False)
    _import(data, tmp, "v2", 2, True)
    return data


def _signature(report) -> list[tuple]:
    return [
        (d.name, d.segment, d.status, round(d.p_value, 12), round(d.p_adjusted, 12), round(d.effect, 12), d.focus)
        for d in sorted(report.dimensions, key=lambda d: d.name)
    ] + [(s.value, s.verdict, tuple(s.moved)) for s in report.segments]


def _report(root: str, by: str | None = None):
    con = connect_ml(root)
    return drift.build_model_report(
        con, "fraud", SideSpec(version="v1"), SideSpec(version="v2"), settings=StatSettings(), data_root=root, by=by
    )


@pytest.mark.parametrize("by", [None, "region"])
def test_reading_features_a_slice_at_a_time_changes_no_figure(
    root: str, by: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = _report(root, by)
    monkeypatch.setattr(drift, "FEATURES_PER_READ", 3)
    sliced = _report(root, by)
    assert _signature(sliced) == _signature(whole)
    assert (sliced.verdict.verdict, sliced.verdict.score, sliced.verdict.score_low) == (
        whole.verdict.verdict,
        whole.verdict.score,
        whole.verdict.score_low,
    )
    # and the same as comparing every column at once, in memory
    con = connect_ml(root)
    resends = sides.has_resends(con, "fraud")  # the report's read path: the same rows in the same order
    a = sides.load_side(con, "fraud", SideSpec(version="v1"), resends=resends)
    b = sides.load_side(con, "fraud", SideSpec(version="v2"), resends=resends)
    names = ["prediction", "prediction_class", *sides.feature_columns(con)]
    if by is None:
        keys = (a.sample_keys(con), b.sample_keys(con))
        ca, cb = a.fetch(con, names), b.fetch(con, names)
        comparison, _, _ = drift.compare_columns(ca, cb, a.n, b.n, StatSettings(), keys=keys)
        plain = {(r.name, r.status, round(r.p_adjusted, 12), round(r.effect, 12)) for r in comparison.results}
        assert plain == {(d.name, d.status, round(d.p_adjusted, 12), round(d.effect, 12)) for d in sliced.dimensions}


def test_a_resent_inference_is_read_once(tmp_path) -> None:
    """Files holding a retry of the same inferences: the diff reads through the de-duplicating view and
    finds the same figures as on the data without the resend."""
    clean, doubled = str(tmp_path / "clean"), str(tmp_path / "doubled")
    _import(clean, tmp_path, "v1", 1, False)
    _import(clean, tmp_path, "v2", 2, True)
    shutil.copytree(clean, doubled)
    con = connect_ml(doubled)
    assert not sides.has_resends(con, "fraud")
    # a receiver's retry: the same rows again, received later, in another file
    files = sorted((tmp_path / "doubled" / "inferences").rglob("*.parquet"))
    again = pq.read_table(files[0])
    again = again.set_column(
        again.schema.get_field_index("received_at"),
        "received_at",
        pc.add(again.column("received_at"), pa.scalar(10**9, pa.duration("ns"))),
    )
    pq.write_table(again, files[0].with_name("retry-" + files[0].name))
    con = connect_ml(doubled)
    assert sides.has_resends(con, "fraud")
    assert _signature(_report(doubled)) == _signature(_report(clean))
    assert _report(doubled).baseline.runs == N


def test_the_ks_merge_matches_scipy_with_and_without_ties() -> None:
    rng = np.random.default_rng(7)
    for trial in range(300):
        na, nb = (int(x) for x in rng.integers(1, 400, 2))
        if trial % 3 == 0:  # heavy ties, as in integer counts
            a, b = rng.integers(0, 5, na).astype(float), rng.integers(0, 6, nb).astype(float)
        elif trial % 5 == 1:  # two values only: a run of ties ends where one side runs out
            a, b = rng.integers(0, 2, na).astype(float), rng.integers(0, 2, nb).astype(float)
        else:
            a, b = rng.normal(size=na), rng.normal(0.2, size=nb)
        sa, sb = np.sort(a), np.sort(b)
        expected = ks_2samp(a, b).statistic
        assert significance.ks_merge(sa, sb) == pytest.approx(expected, abs=1e-12)
        assert significance.ks_statistic(sa, sb) == pytest.approx(expected, abs=1e-12)


def test_the_compiled_merge_is_used_when_built_and_refuses_other_types() -> None:
    if significance._KS_SORTED is None:
        pytest.skip("the compiled KS merge is not built here")
    with pytest.raises(TypeError, match="float64"):
        significance._KS_SORTED(np.arange(3, dtype=np.int64), np.arange(3, dtype=np.int64))
    assert significance._KS_SORTED(np.array([]), np.array([1.0])) == 0.0


def test_discreteness_from_sorted_values_agrees_with_the_plain_check() -> None:
    rng = np.random.default_rng(3)
    cases = [
        (rng.integers(0, 20, 500).astype(float), rng.integers(0, 20, 400).astype(float)),
        (rng.integers(0, 21, 500).astype(float), rng.integers(0, 22, 400).astype(float)),
        (rng.integers(0, 5, 500) + 0.5, rng.integers(0, 5, 400) + 0.5),
        (rng.normal(size=300), rng.normal(size=300)),
        (np.array([]), np.array([1.0, 2.0])),
        (np.array([3.0] * 10), np.array([3.0] * 5)),
    ]
    for a, b in cases:
        assert significance.is_discrete(np.sort(a), np.sort(b), presorted=True) == significance.is_discrete(a, b)


def test_missing_flags_encode_as_the_strings_did() -> None:
    a = pa.chunked_array([[1.0, None, 3.0], [None, None]])
    b = pa.chunked_array([[None, 2.0, 3.0, 4.0]])
    dim = Dimension("m", "m", "category", "m", 1.0, 0.02, 0.1)
    flags = encode(dim, {"m": drift.missing_flags(a)}, {"m": drift.missing_flags(b)})
    strings = encode(
        dim,
        {"m": pc.if_else(pc.is_null(a), "missing", "present")},
        {"m": pc.if_else(pc.is_null(b), "missing", "present")},
    )
    assert flags.labels == strings.labels == ["present", "missing"]
    assert flags.a.tolist() == strings.a.tolist() and flags.b.tolist() == strings.b.tolist()
    none_missing = encode(dim, {"m": drift.missing_flags(pa.array([1.0]))}, {"m": drift.missing_flags(pa.array([2.0]))})
    assert none_missing.labels == ["present"]


def test_the_sink_writes_row_groups_every_core_can_read(tmp_path) -> None:
    table = pa.table({"x": np.arange(ROW_GROUP_ROWS * 2 + 5)})
    path = str(tmp_path / "f.parquet")
    ParquetSink(str(tmp_path)).write_file(table, path, "inferences")
    assert pq.ParquetFile(path).metadata.num_row_groups == 3


def test_inference_files_use_a_codec_that_decodes_fast_and_spans_keep_zstd(tmp_path) -> None:
    """A model diff reads every feature of a million inferences: their files are Snappy (ZSTD decoding
    was half the read's CPU); span files stay ZSTD (text and ids that it shrinks several times)."""
    sink = ParquetSink(str(tmp_path))
    table = pa.table({"x": np.arange(10.0)})
    for dataset, expected in (("inferences", "SNAPPY"), ("spans", "ZSTD"), ("labels", "ZSTD")):
        path = str(tmp_path / f"{dataset}.parquet")
        sink.write_file(table, path, dataset)
        assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == expected
