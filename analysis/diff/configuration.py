"""Configuration fingerprint of a side — models, snapshots, parameters, tools, prompts — and its changes.

Why next to behaviour: most drift is explained by a configuration change (a new model, a longer
prompt, a lower max_tokens). Listing those changes beside the dimensions that moved, and letting
hypotheses cite them, turns "tokens +30%" into "tokens +30% since the system prompt changed". A
provider's silent model update — the served snapshot (``response_model``) changes while the request
and the app version do not — is named as such.
"""

from __future__ import annotations

from typing import Any

import duckdb

from driftline.analysis.report.model import ConfigChange

# fingerprint key -> (runs column, is a list column)
KEYS: dict[str, tuple[str, bool]] = {
    "providers": ("providers", True),
    "models": ("request_models", True),
    "snapshots": ("response_models", True),
    "temperature": ("temperatures", True),
    "max_tokens": ("max_tokens", True),
    "tools": ("tool_sequence", True),
    "prompts": ("prompt_hashes", True),
}
TITLES = {
    "providers": "provider",
    "models": "requested model",
    "snapshots": "served model snapshot",
    "temperature": "temperature",
    "max_tokens": "max tokens",
    "tools": "tools called",
    "prompts": "prompt template (hash)",
}


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, dict[str, float]]:
    """Per key, each value with the share of the side's runs that used it."""
    n = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] or 1
    parts = [
        f"SELECT '{key}' AS k, CAST(v AS VARCHAR) AS v, count(DISTINCT run_id) AS c "
        f"FROM (SELECT run_id, unnest({column}) AS v FROM {table}) WHERE v IS NOT NULL GROUP BY v"
        for key, (column, _) in KEYS.items()
    ]
    rows = con.execute(" UNION ALL ".join(parts) + " ORDER BY k, c DESC, v").fetchall()
    out: dict[str, dict[str, float]] = {key: {} for key in KEYS}
    for key, value, count in rows:
        if len(out[key]) < 50:
            out[key][_label(key, value)] = count / n
    return out


def _label(key: str, value: Any) -> str:
    if key == "prompts":
        return str(value)[:12]
    if key == "temperature":
        return f"{float(value):g}"
    return str(value)


def changes(
    baseline: dict[str, dict[str, float]], candidate: dict[str, dict[str, float]], same_version: bool
) -> list[ConfigChange]:
    """What the candidate's configuration added or dropped, key by key."""
    result = []
    for key in KEYS:
        a, b = set(baseline.get(key, {})), set(candidate.get(key, {}))
        if a == b:
            continue
        added, removed = sorted(b - a), sorted(a - b)
        kind = "changed" if added and removed else ("added" if added else "removed")
        note = f"{TITLES[key]}: " + "; ".join(
            p
            for p in (f"new {', '.join(added)}" if added else "", f"gone {', '.join(removed)}" if removed else "")
            if p
        )
        if key == "snapshots" and set(baseline.get("models", {})) == set(candidate.get("models", {})):
            kind = "silent_model_update" if same_version else "snapshot_changed"
            what = "the app version did not change" if same_version else "the requested model did not change"
            note = (
                f"the provider now serves {', '.join(added) or '—'} instead of {', '.join(removed) or '—'} "
                f"for the same request ({', '.join(sorted(candidate.get('models', {}))) or 'same model'}); {what}"
            )
        result.append(ConfigChange(key, kind, sorted(a), sorted(b), note))
    return result
