"""Approved baselines, recorded in the data root as an append-only log of immutable records.

Why immutable: a report must be able to say which baseline it was judged against, months later.
``baseline set`` writes a new record (who, when, which version, and exactly which runs: their time
range, count and a digest of their ids); re-pointing writes another; ``clear`` writes a tombstone.
The current baseline of a scope (agent, environment) is its newest record.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from driftline.collector.schema import filesystem

DIRECTORY = "_baselines"


def _dir(root: str) -> tuple[pafs.FileSystem, str]:
    fs, base = filesystem(root)
    return fs, f"{base}/{DIRECTORY}"


def records(root: str) -> list[dict[str, Any]]:
    """Every record ever written, oldest first."""
    fs, path = _dir(root)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    out = []
    for info in fs.get_file_info(pafs.FileSelector(path)):
        if info.path.endswith(".json"):
            with fs.open_input_stream(info.path) as f:
                out.append(json.loads(f.read()))
    return sorted(out, key=lambda r: (r["set_at"], r["id"]))


def current(root: str, agent: str | None = None, env: str | None = None) -> dict[str, Any] | None:
    scoped = [r for r in records(root) if r.get("agent") == agent and r.get("env") == env]
    if not scoped or scoped[-1].get("cleared"):
        return None
    return scoped[-1]


def _write(root: str, record: dict[str, Any]) -> dict[str, Any]:
    fs, path = _dir(root)
    fs.create_dir(path, recursive=True)
    name = f"{path}/{record['set_at'].replace(':', '')}-{record['id']}.json"
    with fs.open_output_stream(name) as f:
        f.write(json.dumps(record, indent=1, sort_keys=True).encode())
    return record


def _user() -> str:
    try:
        return os.environ.get("DRIFTLINE_USER") or getpass.getuser()
    except Exception:  # no login name (containers): still record something
        return "unknown"


def set_baseline(
    root: str, con: Any, version: str, agent: str | None, env: str | None, note: str | None = None
) -> dict[str, Any]:
    """Record ``version`` (its runs as of now) as the approved baseline of the scope."""
    from driftline.analysis.diff.sides import SideSpec, run_filters

    where, params = run_filters(SideSpec(version, agent=agent, env=env), version)
    n, first, last = con.execute(
        f"SELECT count(*), min(start_time), max(start_time) FROM runs WHERE {where}", params
    ).fetchone()
    if not n:
        raise ValueError(
            f"no runs of version {version!r}"
            + (f" for agent {agent!r}" if agent else "")
            + (f" in {env!r}" if env else "")
        )
    ids = [r[0] for r in con.execute(f"SELECT run_id FROM runs WHERE {where} ORDER BY run_id", params).fetchall()]
    record = {
        "id": uuid.uuid4().hex[:12],
        "version": version,
        "agent": agent,
        "env": env,
        "set_by": _user(),
        "set_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "runs": n,
        "first_run": first.astimezone(UTC).isoformat(),
        "last_run": last.astimezone(UTC).isoformat(),
        "runs_digest": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "note": note,
        "replaces": (current(root, agent, env) or {}).get("id"),
    }
    return _write(root, record)


def clear(root: str, agent: str | None, env: str | None) -> dict[str, Any] | None:
    existing = current(root, agent, env)
    if existing is None:
        return None
    return _write(
        root,
        {
            "id": uuid.uuid4().hex[:12],
            "agent": agent,
            "env": env,
            "cleared": True,
            "replaces": existing["id"],
            "set_by": _user(),
            "set_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "version": None,
        },
    )
