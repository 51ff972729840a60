"""The compiled reader against the Python readers on generated inputs: a hypothesis corpus of invalid and
valid events, and byte-level mutations of valid requests (fixed seed, bounded). The oracle and the
builders are those of ``test_native_logscan.py``."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from driftline.collector import otlp
from driftline.instrumentation.ml import convention as cv
from tests.unit.test_native_logscan import (
    RECEIVED,
    _logscan,
    any_value,
    assert_same_rows,
    assert_same_verdict,
    inference,
    label,
    needs_native,
    record,
    request,
)

# --- randomized corpus ------------------------------------------------------------------------------

_names = st.text(alphabet=st.sampled_from([*list('ab.é_"\\ \x01€'), "😀"]), min_size=0, max_size=6)
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
)
_maps = st.recursive(
    st.lists(st.tuples(_names, _scalars), max_size=5),
    lambda inner: st.lists(st.tuples(_names, st.one_of(_scalars, inner, st.tuples(_scalars))), max_size=4),
    max_leaves=12,
)


def _json_text(value: Any, draw: Any) -> str:
    """JSON text from pairs (keys may repeat), with random spacing and escaping."""
    space = draw(st.sampled_from(["", " ", "\n  "]))
    if isinstance(value, list):
        items = [
            f"{json.dumps(k, ensure_ascii=draw(st.booleans()))}{space}:{space}{_json_text(v, draw)}" for k, v in value
        ]
        return "{" + space + f",{space}".join(items) + space + "}"
    if isinstance(value, tuple):
        return "[" + ",".join(_json_text(v, draw) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(value)  # NaN / Infinity: json.loads reads them
    if isinstance(value, int) and not isinstance(value, bool) and draw(st.booleans()):
        return f"{value}.0" if abs(value) < 2**53 else str(value)
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


@st.composite
def _records(draw: Any) -> LogRecord:
    kind = draw(st.sampled_from([cv.INFERENCE_EVENT, cv.LABEL_EVENT, "attr", "other", ""]))
    attrs: list[tuple[str, Any]] = []
    if kind == "attr":
        attrs.append(("event.name", draw(st.sampled_from([cv.INFERENCE_EVENT, cv.LABEL_EVENT, 7]))))
    keys = [cv.MODEL, cv.MODEL_VERSION, cv.REQUEST_ID, cv.PREDICTION, cv.LABEL_VALUE, cv.LATENCY_MS, cv.NONFINITE]
    good: dict[str, Any] = {
        cv.MODEL: st.sampled_from(["fraud", "pricing", "", "Zürich-model"]),
        cv.MODEL_VERSION: st.one_of(st.sampled_from(["v1", "v2", ""]), st.integers(-5, 5)),
        cv.REQUEST_ID: st.one_of(st.text(min_size=0, max_size=8), st.integers(0, 99)),
        cv.PREDICTION: _scalars,
        cv.LABEL_VALUE: _scalars,
        cv.LATENCY_MS: st.one_of(st.floats(min_value=-1, max_value=1e6), st.integers(-1, 100), st.none()),
        cv.NONFINITE: st.integers(-3, 3),
    }
    for key in draw(st.lists(st.sampled_from(keys), max_size=9)):
        value = draw(
            st.one_of(good[key], _scalars, st.just(("array",)), st.just(b"raw"))
            if draw(st.integers(0, 9)) == 0
            else good[key]
        )
        attrs.append((key, value))
    if draw(st.booleans()):
        attrs.append(("other.key", draw(_scalars)))
    body: Any = None
    shape = draw(st.sampled_from(["none", "json", "json", "map", "text", "scalar"]))
    if shape in ("json", "map"):
        parts = draw(
            st.lists(
                st.tuples(
                    st.sampled_from([cv.FEATURES, cv.FEATURES, cv.SEGMENT, cv.PROBABILITIES, "other"]),
                    st.one_of(_maps, st.none(), _scalars),
                ),
                max_size=3,
            )
        )
        body = any_value(parts) if shape == "map" else _json_text(parts, draw)
    elif shape == "text":
        body = draw(st.text(max_size=12))
    elif shape == "scalar":
        body = draw(_scalars)
    ids = draw(st.sampled_from([b"", b"\x01" * 16, b"\x00" * 16, b"\x03" * 5]))
    return record(
        attrs,
        body,
        name=kind if kind in (cv.INFERENCE_EVENT, cv.LABEL_EVENT, "other") else "",
        t=draw(st.sampled_from([0, 1_700_000_000_000_000_000, 1_700_000_003_600_000_000])),
        tid=ids if len(ids) != 5 else b"",
        sid=b"\x02" * 8 if draw(st.booleans()) else (b"\x02" * 3 if len(ids) == 5 else b""),
    )


_leaf_names = st.text(alphabet=st.sampled_from([*"abcxyz_.-é€", "\U0001f600"]), min_size=1, max_size=8)
_good_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**17), max_value=10**17),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=6),
)
_good_maps = st.recursive(
    st.dictionaries(_leaf_names, _good_scalars, max_size=6),
    lambda inner: st.dictionaries(_leaf_names, st.one_of(_good_scalars, inner), max_size=4),
    max_leaves=15,
)


@st.composite
def _valid_records(draw: Any) -> LogRecord:
    """Events the SDK could have sent (so the compiled reader reads most of them itself)."""
    if draw(st.integers(0, 3)) == 0:
        return label(draw(st.text(min_size=1, max_size=6)), draw(_good_scalars), draw(st.sampled_from(["fraud", ""])))
    body: dict[str, Any] = {cv.FEATURES: draw(_good_maps)}
    if draw(st.booleans()):
        body[cv.SEGMENT] = draw(st.dictionaries(_leaf_names, _good_scalars, max_size=4))
    if draw(st.booleans()):
        body[cv.PROBABILITIES] = draw(st.dictionaries(st.text(max_size=3), st.floats(0, 1) | st.none(), max_size=3))
    text = json.dumps(
        body, ensure_ascii=draw(st.booleans()), separators=draw(st.sampled_from([(",", ":"), (", ", ": ")]))
    )
    extra = {cv.LATENCY_MS: draw(st.floats(0, 1e4))} if draw(st.booleans()) else {}
    return inference(
        draw(st.text(min_size=1, max_size=6)),
        None,
        model=draw(st.sampled_from(["fraud", "pricing", "Zürich"])),
        prediction=draw(_good_scalars),
        body=text if draw(st.integers(0, 3)) else any_value(body),
        **extra,
    )


@needs_native
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(st.lists(_records() | _valid_records(), min_size=1, max_size=4), min_size=1, max_size=3))
def test_randomized_requests_give_the_same_verdict_and_rows(batches: list[list[LogRecord]]) -> None:
    payloads = [request(*records, scopes=1 + i % 2) for i, records in enumerate(batches)]
    for payload in payloads:
        assert_same_verdict(payload)
    assert_same_rows(payloads)


@needs_native
def test_mutated_bytes_never_crash_and_never_disagree() -> None:
    """Byte-level fuzzing: truncations, flips and insertions into valid requests (fixed seed, bounded)."""
    rng = random.Random(20261201)
    seeds = [
        request(inference("a", {"x": 1.5, "c": "FR", "u": {"v": True}}, **{cv.LATENCY_MS: 2.0}), label("a", 1)),
        request(
            inference(
                "b",
                None,
                body=any_value([(cv.FEATURES, [("x", 1), ("m", [("n", "s")])]), (cv.PROBABILITIES, [("p", 0.5)])]),
            )
        ),
        request(
            record([("gen_ai.system", "x")], "body", tid=b"\x01" * 16, sid=b"\x02" * 8), inference("c", {"k": None})
        ),
    ]
    tried = parsed = 0
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            op = rng.random()
            at = rng.randrange(len(data))
            if op < 0.4:
                data[at] = rng.randrange(256)
            elif op < 0.6:
                del data[at:]
                if not data:
                    data = bytearray(b"\x0a")
            elif op < 0.8:
                data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 4)))
            else:
                data[at : at + 8] = struct.pack("<d", rng.choice([math.nan, -0.0, 1e308, -1.0]))
        payload = bytes(data)
        tried += 1
        verdict = assert_same_verdict(payload)
        batch = _logscan.MLBatch()
        batch.scan(payload, RECEIVED, lambda raw: ("s", None, None))
        try:
            otlp.parse("logs", payload)
        except otlp.MalformedRequest:
            continue
        parsed += 1
        if verdict is not None or parsed % 10 == 0:
            assert_same_rows([payload])
    assert tried == 3000 and parsed > 150
