"""The compiled span batch's Arrow columns (``collector/native/arrowcols.h``): each cell kind gives the
array pyarrow's own conversion gives, a value pyarrow would quietly change is refused, and a row that
fails half-way leaves a batch that refuses to hand over columns of different lengths. (That the rows
themselves equal the Python normalizer's is ``test_native_spanscan.py``'s oracle.)"""

from __future__ import annotations

import random
from typing import Any

import pyarrow as pa
import pytest

from driftline.collector import native
from driftline.collector.normalize import attributes as at

spanscan = native.spanscan
RECEIVED = 1_767_225_600_123_456_789
START = 1_767_225_600_000_000_000


@pytest.mark.skipif(spanscan is None, reason="the compiled span path is not built")
def test_columns_built_in_c_are_what_pyarrow_builds() -> None:
    """The compiled batch writes its cells straight into Arrow buffers (``arrowcols.h``): for every
    kind of column, the array equals pyarrow's own conversion of the same Python values (nulls,
    empty and multi-byte strings, int64 limits, ints into floats, lists with null items)."""
    from driftline.collector.normalize.recipes import _array

    rng = random.Random(7)
    pools: dict[tuple[pa.DataType, str], list[Any]] = {
        (pa.string(), "s"): [None, "", "a", "é", "日本語", "x" * 300, "\x00", "\ud7ff"],
        (pa.int64(), "i"): [None, 0, -1, 2**63 - 1, -(2**63), 3.0, -0.0, 12],
        (pa.timestamp("ns", tz="UTC"), "i"): [None, 0, RECEIVED],
        (pa.float64(), "f"): [None, 0.0, -1.5, 1e300, float("inf"), -float("inf"), 3, True, False, 2**53, -(2**53)],
        (pa.list_(pa.string()), "L"): [None, [], ["a"], ("b", None), ["é", "x" * 100], [None]],
    }
    for (t, kind), pool in pools.items():
        for _ in range(60):
            values = [rng.choice(pool) for _ in range(rng.randint(0, 70))]
            built = _array(t, spanscan.column(kind, values))
            assert built.equals(pa.array(values, t)), (t, values)
            built.validate(full=True)
    nan = _array(pa.float64(), spanscan.column("f", [float("nan"), None]))
    assert repr(nan.to_pylist()) == "[nan, None]"


@pytest.mark.skipif(spanscan is None, reason="the compiled span path is not built")
@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("s", 1),
        ("s", b"x"),
        ("i", True),
        ("i", 1.5),
        ("i", float("nan")),
        ("i", 2**63),
        ("f", "x"),
        ("f", 2**53 + 1),
        ("f", 2**70),
        ("L", "ab"),
    ],
)
def test_a_cell_of_the_wrong_type_is_refused_not_converted(kind: str, value: Any) -> None:
    """Where pyarrow would refuse the value, or quietly change it (1.5 into an int64 column becomes
    1; a string into a list column becomes its characters), the compiled batch raises instead."""
    with pytest.raises((TypeError, OverflowError)):
        spanscan.column(kind, ["ok" if kind == "s" else None, value])


@pytest.mark.skipif(spanscan is None, reason="the compiled span path is not built")
def test_a_row_that_fails_half_way_leaves_a_batch_that_refuses_to_hand_over() -> None:
    """A cell of the wrong type fails a row after some of its columns were written: the batch then
    refuses ``take`` and ``scan`` (its columns would disagree in length) instead of misaligning rows."""
    from driftline.collector.normalize import recipes as rc
    from tests.benchmarks.bench_ingest import build_template

    def learn(raws: list[bytes], name: str) -> tuple[bytes, Any]:
        template: list[Any] = [None] * at.N_SPAN_COLUMNS
        template[rc.I_OPERATION] = 5  # an int where the schema holds a string
        return bytes(len(raws)), (tuple(template), (), (), None)

    book = spanscan.Recipes(
        learn, at.N_SPAN_COLUMNS, rc.I_ATTRS, rc.I_RATTRS, rc.I_RECEIVED, rc.I_AGENT_VERSION, 1000, rc.KINDS
    )
    batch = spanscan.SpanBatch(book, lambda raw: ("svc", None, None, (), ()), [])
    payload = build_template(start_ns=START)[0]
    with pytest.raises(TypeError, match="kind 's' cannot hold a int"):
        batch.scan(payload, RECEIVED)
    with pytest.raises(RuntimeError, match="disagree"):
        batch.take()
    with pytest.raises(RuntimeError, match="disagree"):
        batch.scan(payload, RECEIVED)
