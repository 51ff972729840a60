"""``driftline conventions``: per service and instrumentation scope, what the mapping table understood.

Why: when a team points a new instrumentation at Driftline, the first question is whether its spans
were recognised. This report shows the convention that matched, how many spans got a model, tokens
and tool names, and the most frequent attribute keys no table entry claimed — each one a candidate
for a one-line addition to ``normalize/conventions.py``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow.dataset as ds
import pyarrow.fs as pafs

from driftline.collector import crypto, inventory
from driftline.collector.normalize.normalizer import EVENTS_KEY, LINKS_KEY, TRUNCATED_KEY
from driftline.collector.schema import SPAN_SCHEMA
from driftline.collector.sink.parquet import filesystem

_INTERNAL = {EVENTS_KEY, LINKS_KEY, TRUNCATED_KEY}
_COLUMNS = [
    "service_name",
    "scope_name",
    "convention",
    "operation",
    "request_model",
    "response_model",
    "input_tokens",
    "output_tokens",
    "tool_name",
    "attributes",
]


def convention_report(root: str, top: int = 10) -> list[dict[str, Any]]:
    fs, base = filesystem(root)
    if fs.get_file_info(f"{base}/spans").type != pafs.FileType.Directory:
        raise FileNotFoundError(f"{base}/spans")
    found = inventory.scan(fs, base, "spans")
    inventory.warn(found.unreadable, root)
    fmt = crypto.parquet_format(crypto.key_for(fs, base))
    dataset = ds.dataset(found.paths, schema=SPAN_SCHEMA, filesystem=fs, format=fmt)
    table = dataset.to_table(columns=_COLUMNS)
    groups: dict[tuple, dict[str, Any]] = {}
    cols = {name: table.column(name).to_pylist() for name in _COLUMNS if name != "attributes"}
    keys = [[k for k, _ in m] if m else [] for m in table.column("attributes").to_pylist()]
    for i in range(table.num_rows):
        gk = (cols["service_name"][i], cols["scope_name"][i])
        g = groups.setdefault(
            gk,
            {
                "service": gk[0],
                "scope": gk[1],
                "spans": 0,
                "conventions": Counter(),
                "model": 0,
                "tokens": 0,
                "tool_spans": 0,
                "tool_named": 0,
                "unmapped": Counter(),
            },
        )
        g["spans"] += 1
        g["conventions"][cols["convention"][i]] += 1
        g["model"] += bool(cols["request_model"][i] or cols["response_model"][i])
        g["tokens"] += cols["input_tokens"][i] is not None or cols["output_tokens"][i] is not None
        if cols["operation"][i] == "execute_tool":
            g["tool_spans"] += 1
            g["tool_named"] += cols["tool_name"][i] is not None
        g["unmapped"].update(k for k in keys[i] or () if k not in _INTERNAL)
    out = []
    for g in sorted(groups.values(), key=lambda g: (-g["spans"], str(g["service"]))):
        n = g["spans"]
        llm_like = n - g["tool_spans"]
        out.append(
            {
                "service": g["service"],
                "scope": g["scope"],
                "spans": n,
                "conventions": dict(g["conventions"].most_common()),
                "share_with_model": round(g["model"] / n, 3),
                "share_with_tokens": round(g["tokens"] / n, 3),
                "share_tool_spans_named": round(g["tool_named"] / g["tool_spans"], 3) if g["tool_spans"] else None,
                "non_tool_spans": llm_like,
                "top_unmapped_keys": [{"key": k, "spans": c} for k, c in g["unmapped"].most_common(top)],
            }
        )
    return out


def render_lines(r: dict[str, Any]) -> list[str]:
    """One group's lines of the table: its spans and conventions, what got mapped, what did not."""
    conv = ", ".join(f"{k} {v}" for k, v in r["conventions"].items())
    tools = "-" if r["share_tool_spans_named"] is None else f"{r['share_tool_spans_named']:.0%}"
    lines = [
        f"{r['service'] or '?'} / {r['scope'] or '?'}: {r['spans']} spans ({conv})",
        f"  with model {r['share_with_model']:.0%} · with tokens {r['share_with_tokens']:.0%} · "
        f"tool spans named {tools}",
    ]
    if r["top_unmapped_keys"]:
        lines.append("  unmapped: " + ", ".join(f"{u['key']} ({u['spans']})" for u in r["top_unmapped_keys"]))
    return lines
