"""Approved baselines, recorded in the data root as an append-only log of immutable records.

Why immutable: a report must be able to say which baseline it was judged against, months later.
``baseline set`` writes a new record (who, when, which version, and exactly which runs: their time
range, count and a digest of their ids); re-pointing writes another; ``clear`` writes a tombstone.
The current baseline of a scope (agent, environment) is its newest record.

A *named* baseline (``@golden``) is a hand-picked set of runs — promoted from the playground, or by
run id — rather than a version: its record lists the run ids themselves, and a diff side ``@golden``
is exactly those runs, whatever their version, agent or environment. Promoting more runs to a name
writes a new record holding the union (``replace`` starts over); the old record stays in the log.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs

from driftline.collector.schema import filesystem

DIRECTORY = "_baselines"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MARK = "@"  # a diff side "@golden" is the named baseline "golden"
MAX_RUNS = 100_000  # run ids one named baseline may hold (its record is one JSON file)


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
    scoped = [r for r in records(root) if not r.get("name") and r.get("agent") == agent and r.get("env") == env]
    if not scoped or scoped[-1].get("cleared"):
        return None
    return scoped[-1]


def named(root: str, name: str) -> dict[str, Any] | None:
    """The newest record of the named baseline, None when it was never promoted or is cleared."""
    mine = [r for r in records(root) if r.get("name") == name]
    if not mine or mine[-1].get("cleared"):
        return None
    return mine[-1]


def names(root: str) -> list[dict[str, Any]]:
    """The current record of every named baseline, by name."""
    latest: dict[str, dict[str, Any]] = {}
    for r in records(root):
        if r.get("name"):
            latest[r["name"]] = r
    return [r for _, r in sorted(latest.items()) if not r.get("cleared")]


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ValueError(
            f"baseline name {name!r}: use letters, digits, '.', '_' or '-' "
            "(at most 64, starting with a letter or digit)"
        )
    return name


def _write(root: str, record: dict[str, Any]) -> dict[str, Any]:
    fs, path = _dir(root)
    fs.create_dir(path, recursive=True)
    name = f"{path}/{record['set_at'].replace(':', '')}-{record['id']}.json"
    with fs.open_output_stream(name) as f:
        f.write(json.dumps(record, indent=1, sort_keys=True).encode())
    return record


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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
        "set_at": _now(),
        "runs": n,
        "first_run": first.astimezone(UTC).isoformat(),
        "last_run": last.astimezone(UTC).isoformat(),
        "runs_digest": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "note": note,
        "replaces": (current(root, agent, env) or {}).get("id"),
    }
    return _write(root, record)


MAX_PREFIXES = 200  # ids not found whole that are looked up as prefixes (one query each)


def promote(
    root: str, con: Any, name: str, run_ids: list[str], note: str | None = None, replace: bool = False
) -> dict[str, Any]:
    """Add ``run_ids`` to the named baseline (or, with ``replace``, make them all of it). Every id must
    be a run in the data now: a baseline never promises runs it does not have."""
    check_name(name)
    wanted = sorted({r.strip() for r in run_ids if r and r.strip()})
    if not wanted:
        raise ValueError("no run ids to promote")
    previous = named(root, name)
    keep = [] if replace or previous is None else list(previous["run_ids"])
    ids = sorted(set(keep) | set(wanted))
    if len(ids) > MAX_RUNS:
        raise ValueError(f"a named baseline holds at most {MAX_RUNS:,} runs; this would hold {len(ids):,}")
    found = con.execute(
        "SELECT run_id FROM runs WHERE run_id IN (SELECT unnest(CAST(? AS VARCHAR[])))",
        [wanted],
    ).fetchall()
    missing = sorted(set(wanted) - {r[0] for r in found})
    if missing and len(missing) <= MAX_PREFIXES:  # short ids as `driftline runs` prints them
        from driftline.analysis.run_ids import RunIdError, resolve

        resolved = {}
        for prefix in missing:
            try:
                resolved[prefix] = resolve(con, prefix)
            except RunIdError as exc:
                if "ambiguous" in str(exc):
                    raise ValueError(str(exc)) from None
        wanted = sorted((set(wanted) - set(resolved)) | set(resolved.values()))
        ids = sorted(set(keep) | set(wanted))
        missing = [m for m in missing if m not in resolved]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(
            f"no run {shown} in the data (a run just sent lands within a few seconds; check the id with driftline runs)"
        )
    n, first, last, versions = con.execute(
        "SELECT count(*), min(start_time), max(start_time), list(DISTINCT version ORDER BY version) "
        "FILTER (WHERE version IS NOT NULL) FROM runs WHERE run_id IN (SELECT unnest(CAST(? AS VARCHAR[])))",
        [ids],
    ).fetchone()
    record = {
        "id": uuid.uuid4().hex[:12],
        "name": name,
        "version": None,
        "versions": versions or [],
        "agent": None,
        "env": None,
        "set_by": _user(),
        "set_at": _now(),
        "runs": len(ids),
        "runs_present": n,
        "first_run": first.astimezone(UTC).isoformat() if first else None,
        "last_run": last.astimezone(UTC).isoformat() if last else None,
        "runs_digest": hashlib.sha256("\n".join(ids).encode()).hexdigest(),
        "run_ids": ids,
        "note": note,
        "replaces": (previous or {}).get("id"),
    }
    return _write(root, record)


def clear_named(root: str, name: str) -> dict[str, Any] | None:
    existing = named(root, name)
    if existing is None:
        return None
    return _write(
        root,
        {
            "id": uuid.uuid4().hex[:12],
            "name": name,
            "agent": None,
            "env": None,
            "cleared": True,
            "replaces": existing["id"],
            "set_by": _user(),
            "set_at": _now(),
            "version": None,
        },
    )


def summary(record: dict[str, Any]) -> dict[str, Any]:
    """A record without its run ids (reports and listings carry the digest, not thousands of ids)."""
    return {k: v for k, v in record.items() if k != "run_ids"}


def resolve_side(root: str, spec: Any) -> tuple[Any, dict[str, Any] | None]:
    """A side spec ``@name`` as the named baseline's runs (and its record); any other spec unchanged.
    The scope options (agent, environment, windows) do not narrow a named baseline: it is its runs."""
    from dataclasses import replace

    from driftline.analysis.diff.sides import ANY, SelectionError

    version = spec.version or ""
    if not version.startswith(MARK):
        return spec, None
    name = version[len(MARK) :]
    record = named(root, name)
    if record is None:
        known = [r["name"] for r in names(root)]
        hint = f"; named baselines: {', '.join(MARK + k for k in known)}" if known else ""
        raise SelectionError(f"no named baseline {name!r}{hint or ' (promote runs with: driftline baseline promote)'}")
    resolved = replace(
        spec,
        version=ANY,
        agent=None,
        env=None,
        since=None,
        until=None,
        last=None,
        run_ids=tuple(record["run_ids"]),
        label=MARK + name,
    )
    return resolved, summary(record)


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
            "set_at": _now(),
            "version": None,
        },
    )
