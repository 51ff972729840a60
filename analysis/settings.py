"""``driftline.toml``: shared defaults for every command, statistics thresholds, rule overrides.

Precedence, highest first: command-line flags > ``DRIFTLINE_*`` environment variables >
``driftline.toml`` > built-in defaults. Click already resolves flag > env var > ``default_map`` >
default, so the file is turned into a ``default_map``: top-level keys (``data``, ``pricing``,
``agent``, ``env``, …) apply to every command that has that option, ``[cli.<command>]`` tables to one
command, and ``[stats]`` to the commands that compute a diff. ``[dimensions.<name>]`` and
``[[hypothesis]]`` tune the diff itself.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import click

CONFIG_ENV = "DRIFTLINE_CONFIG"
DEFAULT_FILE = "driftline.toml"
STATS_KEYS = ("alpha", "correction", "min_runs", "bootstrap", "seed", "block_score", "max_bootstrap_side")
# tables that are not command defaults
_SECTIONS = {
    "cli",
    "stats",
    "dimensions",
    "hypothesis",
    "model_hypothesis",
    "report",
    "alerts",
    "semantic",
    "rca",
    "playground",
}


class ConfigError(click.ClickException):
    pass


def find(path: str | None) -> Path | None:
    """The config file in use: --config, else $DRIFTLINE_CONFIG, else ./driftline.toml if present."""
    chosen = path or os.environ.get(CONFIG_ENV)
    if chosen:
        if not Path(chosen).is_file():
            raise ConfigError(f"config file {chosen} does not exist")
        return Path(chosen)
    return Path(DEFAULT_FILE) if Path(DEFAULT_FILE).is_file() else None


def load(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def default_map(doc: dict[str, Any], group: click.Group) -> dict[str, dict[str, Any]]:
    """Click defaults for each command of ``group`` from the file's shared keys and tables."""
    shared = {k.replace("-", "_"): v for k, v in doc.items() if k not in _SECTIONS and not isinstance(v, dict | list)}
    stats = {k: v for k, v in doc.get("stats", {}).items()}
    unknown = sorted(set(stats) - set(STATS_KEYS))
    if unknown:
        raise ConfigError(f"[stats]: unknown key(s) {', '.join(unknown)}; known: {', '.join(STATS_KEYS)}")
    per_command = doc.get("cli", {})
    result: dict[str, dict[str, Any]] = {}
    for name, command in group.commands.items():
        params = {p.name for p in command.params if isinstance(p, click.Option)}
        entry = {k: v for k, v in {**shared, **stats}.items() if k in params}
        own = per_command.get(name, {})
        bad = sorted(k for k in own if k.replace("-", "_") not in params and not isinstance(own[k], dict))
        if bad:
            raise ConfigError(f"[cli.{name}]: '{name}' has no option(s) {', '.join(bad)}")
        entry.update({k.replace("-", "_"): v for k, v in own.items() if not isinstance(v, dict)})
        if isinstance(command, click.Group):
            entry.update(default_map({**doc, "cli": own}, command))
        if entry:
            result[name] = entry
    return result


def current(ctx: click.Context | None = None) -> dict[str, Any]:
    """The parsed config document of this invocation (empty without a file)."""
    ctx = ctx or click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return (root.obj or {}).get("config", {}) if root else {}
