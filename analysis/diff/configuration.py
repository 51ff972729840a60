"""Configuration fingerprint of a side — models, snapshots, parameters, tools, prompts — and its changes.

Why next to behaviour: most drift is explained by a configuration change (a new model, a longer
prompt, a lower max_tokens). Listing those changes beside the dimensions that moved, and letting
hypotheses cite them, turns "tokens +30%" into "tokens +30% since the system prompt changed". A
provider's silent model update — the served snapshot (``response_model``) changes while the request
and the app version do not — is named as such.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from driftline.analysis.report.model import ConfigChange

KEYS: dict[str, str] = {  # fingerprint key -> the runs list column it counts
    "providers": "providers",
    "models": "request_models",
    "snapshots": "response_models",
    "temperature": "temperatures",
    "max_tokens": "max_tokens",
    "tools": "tool_sequence",
    "tools_offered": "tools_offered",
    "prompts": "prompt_hashes",
}
TITLES = {
    "providers": "provider",
    "models": "requested model",
    "snapshots": "served model snapshot",
    "temperature": "temperature",
    "max_tokens": "max tokens",
    "tools": "tools called",
    "tools_offered": "tools offered",
    "prompts": "prompt template (hash)",
}


def fingerprint(columns: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per key, each value with the share of the side's runs that used it (from the side's Arrow
    columns: a value counted once per run even when a run used it several times)."""
    out: dict[str, dict[str, float]] = {}
    for key, column in KEYS.items():
        lists = columns.get(column)
        if lists is None or len(lists) == 0:
            out[key] = {}
            continue
        lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
        flat = pc.list_flatten(lists)
        parents = pc.list_parent_indices(lists).to_numpy()
        encoded = pc.dictionary_encode(pc.cast(flat, pa.string()))
        codes = encoded.indices.to_numpy(zero_copy_only=False)
        valid = pc.is_valid(flat).to_numpy(zero_copy_only=False)
        k = max(len(encoded.dictionary), 1)
        if len(lists) * k <= 50_000_000:  # a presence matrix: far faster than sorting the pairs
            present = np.zeros((len(lists), k), dtype=bool)
            present[parents[valid], codes[valid]] = True
            counts = present.sum(axis=0)
        else:
            pairs = np.unique(parents[valid].astype(np.int64) * k + codes[valid])
            counts = np.bincount(pairs % k, minlength=k)
        names = encoded.dictionary.to_pylist()
        ranked = sorted(((names[i], int(c)) for i, c in enumerate(counts) if c), key=lambda vc: (-vc[1], vc[0]))[:50]
        out[key] = {_label(key, v): c / len(lists) for v, c in ranked}
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
