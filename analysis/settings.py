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


def _keys(command: click.Command) -> dict[str, str]:
    """Config key -> parameter name: an option is named in the file as its parameter (``min_runs``)
    or as its long flag (``format`` for ``--format``, whose parameter is ``fmt``)."""
    out: dict[str, str] = {}
    for p in command.params:
        if isinstance(p, click.Option) and p.name:
            for flag in p.opts:
                if flag.startswith("--"):
                    out[flag[2:].replace("-", "_")] = p.name
            out[p.name] = p.name
    return out


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
        params = _keys(command)
        entry = {params[k]: v for k, v in {**shared, **stats}.items() if k in params}
        own = per_command.get(name, {})
        bad = sorted(k for k in own if k.replace("-", "_") not in params and not isinstance(own[k], dict))
        if bad:
            raise ConfigError(f"[cli.{name}]: '{name}' has no option(s) {', '.join(bad)}")
        entry.update({params[k.replace("-", "_")]: v for k, v in own.items() if not isinstance(v, dict)})
        if isinstance(command, click.Group):
            entry.update(default_map({**doc, "cli": own}, command))
        if entry:
            result[name] = entry
    return result


def _option(group: click.Group, key: str, command: str | None = None) -> click.Option | None:
    """The option a config ``key`` sets on ``command`` (or on the first command that has it)."""
    commands = [group.commands[command]] if command and command in group.commands else group.commands.values()
    for cmd in commands:
        name = _keys(cmd).get(key.replace("-", "_"))
        for p in cmd.params:
            if isinstance(p, click.Option) and p.name == name:
                return p
    return None


def _expected(kind: click.ParamType) -> str:
    if isinstance(kind, click.Choice):
        return "one of " + ", ".join(map(str, kind.choices))
    if isinstance(kind, click.IntRange | click.FloatRange):
        what = "a whole number" if isinstance(kind, click.IntRange) else "a number"
        low = f" >= {kind.min}" if kind.min is not None else ""
        high = f" <= {kind.max}" if kind.max is not None else ""
        return what + (low + (" and" if low and high else "") + high if low or high else "")
    return {"integer": "a whole number", "float": "a number", "boolean": "true or false"}.get(kind.name, kind.name)


def _check_value(where: str, key: str, value: Any, option: click.Option | None) -> None:
    if option is None or isinstance(value, dict):
        return
    values = value if isinstance(value, list) and (option.multiple or option.nargs != 1) else [value]
    for v in values:
        if isinstance(v, bool) and option.type.name in ("integer", "float", "integer range", "float range"):
            raise ConfigError(f"{where} {key} = {value!r}: expected {_expected(option.type)}")
        try:
            converted = option.type.convert(v, option, None)
            if option.callback is not None:  # an option checked by its callback (diff --format: plugins)
                option.callback(None, option, converted)  # type: ignore[arg-type]
        except click.BadParameter as exc:
            why = f"expected {_expected(option.type)}" if option.callback is None else exc.message
            raise ConfigError(f"{where} {key} = {value!r}: {why}") from None


def validate(doc: dict[str, Any], path: Path | None, group: click.Group) -> None:
    """Check the whole file when it is loaded, so a mistake is reported once, naming the file, the key
    and what is expected — not later by a command that blames its own flag, or never (a rule that
    silently does not apply)."""
    where = str(path or DEFAULT_FILE)
    for key, value in doc.items():
        if key in _SECTIONS:
            continue
        if isinstance(value, dict | list):
            raise ConfigError(f"{where}: unknown table [{key}]; known: {', '.join(sorted(_SECTIONS))}")
        option = _option(group, key)
        if option is None:
            raise ConfigError(f"{where}: unknown key {key!r} (no command has an option --{key.replace('_', '-')})")
        _check_value(f"{where}:", key, value, option)
    for key, value in doc.get("stats", {}).items():
        _check_value(f"{where} [stats]", key, value, _option(group, key, "diff"))
    for name, table in doc.get("cli", {}).items():
        if name not in group.commands:
            raise ConfigError(f"{where}: [cli.{name}]: no command {name!r}")
        if isinstance(table, dict):
            for key, value in table.items():
                _check_value(f"{where} [cli.{name}]", key, value, _option(group, key, name))
    try:
        _check_sections(doc)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_sections(doc: dict[str, Any]) -> None:
    """The tables that tune the diff, the schedules and the explainer, by the loaders that use them."""
    from driftline.analysis.diff import hypotheses
    from driftline.analysis.diff.dimensions import all_dimensions, configured
    from driftline.analysis.explain.config import config_from as rca_config
    from driftline.analysis.ml import hypotheses as model_hypotheses
    from driftline.analysis.playground import config_from as playground_config
    from driftline.analysis.schedule.entries import parse as parse_reports
    from driftline.collector.embed.model import config_from as semantic_config

    configured(doc.get("dimensions"))
    names = {d.name for d in all_dimensions()}
    for rule in hypotheses.load_rules(doc.get("hypothesis")):
        if "dimension" in rule and rule["dimension"] not in names:
            raise ValueError(f"[[hypothesis]] {rule['id']}: unknown dimension {rule['dimension']!r}")
        if rule.get("direction", "any") not in ("up", "down", "any"):
            raise ValueError(f"[[hypothesis]] {rule['id']}: direction must be up, down or any")
    model_hypotheses.load_rules(doc.get("model_hypothesis"))
    parse_reports(doc)
    semantic_config(doc.get("semantic"))
    rca_config(doc.get("rca"))
    playground_config(doc)


def current(ctx: click.Context | None = None) -> dict[str, Any]:
    """The parsed config document of this invocation (empty without a file)."""
    ctx = ctx or click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return (root.obj or {}).get("config", {}) if root else {}
