"""``driftline diff``: compare two sides and render the drift report (``report_file.py`` writes it to a
file, signed or not, with the same options).

Exit codes (documented in the README): 0 done, 1 failure (bad data root, unknown version, …),
2 usage error, 3 the gate did not pass (``--fail-on-drift`` and the verdict is not stable, or the
score exceeds ``--max-score``).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from driftline.analysis import plugins
from driftline.analysis import settings as config
from driftline.analysis.commands.common import EXIT_GATE, load_prices_or_fail, open_data, open_ml_data, scope_options

EXAMPLES = """\b
Examples:
  driftline diff v1.0 v2.0
  driftline diff previous latest --agent support --fail-on-drift
  driftline diff v2.0                      # against the recorded baseline (driftline baseline set)
  driftline diff v1.0 v1.0 --baseline-until 2025-06-01 --candidate-since 2025-06-01   # silent model update?
  driftline diff --baseline-since 7d --baseline-until 1d --candidate-since 1d --by tenant.id
  driftline diff v1.0 v2.0 --format markdown --output drift.md --html drift.html
  driftline diff --model fraud v1 v2                   # feature and prediction drift of a classical model
  driftline diff --model fraud --reference train v2 --by country --fail-on block"""


def diff_options(f: Any) -> Any:
    options = [
        click.argument("sides", nargs=-1, metavar="[BASELINE] [CANDIDATE]"),
        scope_options,
        click.option("--since", default=None, help="Only runs since (7d, 12h, or an ISO date), both sides."),
        click.option("--last", type=click.IntRange(min=1), default=None, help="Only the last N runs of each side."),
        click.option("--baseline-since", default=None, help="Baseline window start."),
        click.option("--baseline-until", default=None, help="Baseline window end."),
        click.option("--candidate-since", default=None, help="Candidate window start."),
        click.option("--candidate-until", default=None, help="Candidate window end."),
        click.option(
            "--by", "by", default=None, help="Slice both sides by a runs column or attribute (--model: a segment key)."
        ),
        click.option(
            "--model",
            default=None,
            help="Compare a classical model's inferences: sides are its versions (or windows); see --reference.",
        ),
        click.option(
            "--reference",
            default=None,
            help="With --model: the baseline is this imported reference set (driftline models import).",
        ),
        click.option(
            "--chunk",
            "perf_window",
            default="day",
            show_default=True,
            help="With --model: windows (chunks) of the performance table — hour, day, week, or N inferences.",
        ),
        click.option(
            "--label-coverage",
            type=click.FloatRange(0, 1),
            default=0.8,
            show_default=True,
            help="With --model: a window with fewer of its inferences labelled is provisional (shown, not judged).",
        ),
        click.option(
            "--weight",
            "weights",
            multiple=True,
            metavar="FEATURE=W",
            help="With --model: a feature's importance (its weight in the correction; others 1). Repeat.",
        ),
        click.option(
            "--positive",
            default=None,
            help="With --model: the positive class of a binary classifier (default: 1, true or yes, else the rarer).",
        ),
        click.option(
            "--alpha",
            type=click.FloatRange(0, 1, min_open=True, max_open=True),
            default=0.05,
            show_default=True,
            envvar="DRIFTLINE_ALPHA",
            help="Error rate of the correction.",
        ),
        click.option(
            "--correction",
            type=click.Choice(["holm", "bh"]),
            default="holm",
            show_default=True,
            envvar="DRIFTLINE_CORRECTION",
            help="Weighted Holm (family-wise) or Benjamini-Hochberg.",
        ),
        click.option(
            "--min-runs",
            type=click.IntRange(min=2),
            default=30,
            show_default=True,
            envvar="DRIFTLINE_MIN_RUNS",
            help="Runs per side below which no verdict is given.",
        ),
        click.option(
            "--seed", type=int, default=0, show_default=True, help="Bootstrap seed (reports are reproducible)."
        ),
        click.option(
            "--bootstrap", type=click.IntRange(min=50), default=400, show_default=True, help="Bootstrap resamples."
        ),
        click.option(
            "--block-score",
            type=click.FloatRange(0, 1),
            default=0.5,
            show_default=True,
            help="Score whose lower CI bound blocks (with at least one moved dimension).",
        ),
        click.option(
            "--explain",
            is_flag=True,
            help="Also explain the report with the LLM of [rca] in driftline.toml; when it is not configured, "
            "unreachable, slow or invalid, the rule-based hypotheses explain it and the report says why.",
        ),
        click.option(
            "--max-bootstrap-side",
            type=click.IntRange(min=100),
            default=1000,
            show_default=True,
            help="Runs per side resampled; larger sides are subsampled and rescaled.",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _sides(ctx_args: dict[str, Any]) -> tuple[Any, Any, dict[str, Any] | None]:
    from driftline.analysis import baselines
    from driftline.analysis.diff.sides import ANY, SelectionError, SideSpec, parse_time

    sides = ctx_args["sides"]
    if len(sides) > 2:
        raise click.UsageError("give at most two sides: BASELINE CANDIDATE")
    windows = any(ctx_args[k] for k in ("baseline_since", "baseline_until", "candidate_since", "candidate_until"))
    record = None
    try:
        since = parse_time(ctx_args["since"])
        common = {"agent": ctx_args["agent"], "env": ctx_args["env"], "last": ctx_args["last"]}
        if len(sides) == 2:
            base_v, cand_v = sides
        elif len(sides) == 1 and not windows:
            record = baselines.current(ctx_args["data"], ctx_args["agent"], ctx_args["env"])
            if record is None:
                raise click.UsageError(
                    "one side given and no baseline recorded for this scope: give BASELINE CANDIDATE, "
                    "or record one with: driftline baseline set VERSION"
                )
            base_v, cand_v = record["version"], sides[0]
        elif len(sides) == 1:
            base_v = cand_v = sides[0]
        elif windows:
            base_v = cand_v = ANY
        else:
            raise click.UsageError("give BASELINE and CANDIDATE (a version, latest, previous) or windows")
        b_since = parse_time(ctx_args["baseline_since"]) or since
        c_since = parse_time(ctx_args["candidate_since"]) or since
        b_until = parse_time(ctx_args["baseline_until"])
        if record is not None:  # exactly the runs the baseline was approved on
            b_since = max(filter(None, [b_since, datetime.fromisoformat(record["first_run"])]))
            b_until = datetime.fromisoformat(record["last_run"]) + timedelta(microseconds=1)
        baseline = SideSpec(base_v, since=b_since, until=b_until, **common)
        candidate = SideSpec(cand_v, since=c_since, until=parse_time(ctx_args["candidate_until"]), **common)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from exc
    return baseline, candidate, record


def compute(args: dict[str, Any]) -> Any:
    """Build the report for the parsed command-line arguments (shared by diff and report)."""
    from driftline.analysis.diff import hypotheses
    from driftline.analysis.diff.build import build_report
    from driftline.analysis.diff.dimensions import configured
    from driftline.analysis.diff.engine import StatSettings
    from driftline.analysis.diff.sides import SelectionError
    from driftline.analysis.explain.config import config_from as rca_config
    from driftline.collector.embed.model import config_from

    doc = config.current()
    if args.get("reference") and not args.get("model"):
        raise click.UsageError("--reference needs --model (a reference set belongs to a model)")
    try:
        stats = StatSettings(
            alpha=args["alpha"],
            correction=args["correction"],
            min_runs=args["min_runs"],
            bootstrap=args["bootstrap"],
            seed=args["seed"],
            block_score=args["block_score"],
            max_bootstrap_side=args["max_bootstrap_side"],
        )
        stats = replace(stats, dimensions=configured(doc.get("dimensions")))
        rules = hypotheses.load_rules(doc.get("hypothesis"))
        semantic = config_from(doc.get("semantic"))
        rca = rca_config(doc.get("rca"))
    except ValueError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    if args.get("model"):
        return _explained(_compute_model(args, stats, doc.get("model_hypothesis")), rca, args)
    baseline, candidate, record = _sides(args)
    prices = load_prices_or_fail(args["pricing"])
    # a diff reads only the runs view, unless --by names an attribute (read from the spans)
    from driftline.analysis.diff.build import SEGMENT_COLUMNS

    con = open_data(args["data"], args["pricing"], only_runs=args["by"] is None or args["by"] in SEGMENT_COLUMNS)
    try:
        report = build_report(
            con,
            baseline,
            candidate,
            settings=stats,
            prices=prices,
            data_root=args["data"],
            rules=rules,
            by=args["by"],
            baseline_record=record,
            semantic=semantic,
        )
        return _explained(report, rca, args)
    except SelectionError as exc:
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _explained(report: Any, rca: Any, args: dict[str, Any]) -> Any:
    """``report`` with an explanation when --explain asked for one (never fails: the rules stand in)."""
    if args.get("explain"):
        from driftline.analysis.explain.llm import explain

        report.explanation = explain(report, rca)
    return report


def _model_sides(args: dict[str, Any]) -> tuple[Any, Any]:
    """BASELINE CANDIDATE versions of the model (``--reference`` is the baseline), or windows."""
    from driftline.analysis.diff.sides import ANY, SelectionError, SideSpec, parse_time

    sides = list(args["sides"])
    if args["agent"]:
        raise click.UsageError("--agent selects agent runs; with --model, sides are the model's versions")
    if args["reference"]:
        sides = [args["reference"], *sides]
    windows = any(args[k] for k in ("baseline_since", "baseline_until", "candidate_since", "candidate_until"))
    if len(sides) > 2:
        raise click.UsageError("give at most two sides: BASELINE CANDIDATE (--reference counts as the baseline)")
    if len(sides) == 2:
        base_v, cand_v = sides
    elif len(sides) == 1 and windows:
        base_v = cand_v = sides[0]
    elif not sides and windows:
        base_v = cand_v = ANY
    else:
        raise click.UsageError("give BASELINE and CANDIDATE versions of the model (or --reference NAME CANDIDATE)")
    try:
        since = parse_time(args["since"])
        common = {"env": args["env"], "last": args["last"]}
        baseline = SideSpec(
            base_v,
            since=parse_time(args["baseline_since"]) or (None if args["reference"] else since),
            until=parse_time(args["baseline_until"]),
            **common,
        )
        c_since, c_until = parse_time(args["candidate_since"]) or since, parse_time(args["candidate_until"])
        candidate = SideSpec(cand_v, since=c_since, until=c_until, **common)
    except SelectionError as exc:
        raise click.UsageError(str(exc)) from exc
    return baseline, candidate


def parse_weights(pairs: tuple[str, ...] | list[str]) -> dict[str, float]:
    """``--weight amount=3 --weight country=2`` → {"amount": 3.0, "country": 2.0}; a bad one is a usage error."""
    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not sep or not name or not weight > 0:
            raise click.UsageError(f"--weight {pair!r}: use FEATURE=W with W a positive number")
        out[name.removeprefix("feature.")] = weight
    return out


def _compute_model(args: dict[str, Any], stats: Any, rule_overrides: list[dict[str, Any]] | None = None) -> Any:
    import duckdb

    from driftline.analysis.diff.sides import SelectionError
    from driftline.analysis.ml import hypotheses as model_hypotheses
    from driftline.analysis.ml.drift import PerformanceOptions, build_model_report

    baseline, candidate = _model_sides(args)
    window = str(args.get("perf_window") or "day")
    if window not in ("hour", "day", "week") and not (window.isdigit() and int(window) > 0):
        raise click.UsageError(f"--chunk {window!r}: use hour, day, week or a number of inferences")
    options = PerformanceOptions(window, float(args.get("label_coverage", 0.8)), args.get("positive"))
    try:
        model_hypotheses.load_rules(rule_overrides)  # a bad [[model_hypothesis]] is a configuration error
    except ValueError as exc:
        raise click.ClickException(f"configuration: {exc}") from exc
    weights = parse_weights(args.get("weights") or ())
    con = open_ml_data(args["data"], "UTC")
    try:
        return build_model_report(
            con,
            args["model"],
            baseline,
            candidate,
            settings=stats,
            data_root=args["data"],
            by=args["by"],
            performance=options,
            rules=rule_overrides,
            weights=weights,
        )
    except (SelectionError, ValueError, duckdb.Error) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from exc


FAIL_ON = {"review": {"review", "block", "insufficient"}, "block": {"block"}}


def gate(report: Any, fail_on_drift: bool, max_score: float | None, fail_on: str | None = None) -> None:
    v = report.verdict
    if fail_on_drift and v.verdict != "stable":
        click.echo(f"gate: verdict is {v.verdict} (--fail-on-drift)", err=True)
        sys.exit(EXIT_GATE)
    if fail_on and v.verdict in FAIL_ON[fail_on]:
        click.echo(f"gate: verdict is {v.verdict} (--fail-on {fail_on})", err=True)
        sys.exit(EXIT_GATE)
    if max_score is not None and v.score > max_score:
        click.echo(f"gate: drift score {v.score:.3f} exceeds --max-score {max_score}", err=True)
        sys.exit(EXIT_GATE)


def write_report(path: str, text: str) -> None:
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc}") from exc


FORMATS = ("terminal", "markdown", "json", "html")


def _check_format(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A built-in format, or one a plugin adds (looked up only then: the scan costs every command start)."""
    if value in FORMATS or value in plugins.renderer_names():
        return value
    known = ", ".join((*FORMATS, *plugins.renderer_names()))
    raise click.BadParameter(f"{value!r} is not one of {known}")


@click.command(epilog=EXAMPLES)
@diff_options
@click.option(
    "--format",
    "fmt",
    default="terminal",
    show_default=True,
    callback=_check_format,
    metavar="[terminal|markdown|json|html|PLUGIN]",
    help="Report format (plugins add more: driftline plugins).",
)
@click.option("--output", "-o", default=None, help="Write the report to this file instead of stdout.")
@click.option("--html", "html_path", default=None, help="Also write the self-contained HTML report here.")
@click.option("--fail-on-drift", is_flag=True, help=f"Exit {EXIT_GATE} unless the verdict is stable (CI gate).")
@click.option(
    "--fail-on",
    type=click.Choice(["review", "block"]),
    default=None,
    help=f"Exit {EXIT_GATE} when the verdict is at least this (block: only block).",
)
@click.option(
    "--max-score", type=click.FloatRange(0, 1), default=None, help=f"Exit {EXIT_GATE} if the score exceeds X."
)
@click.option("--verbose", "-v", is_flag=True, help="Also list dimensions without data.")
def diff(
    fmt: str,
    output: str | None,
    html_path: str | None,
    fail_on_drift: bool,
    fail_on: str | None,
    max_score: float | None,
    verbose: bool,
    **args: Any,
) -> None:
    """Compare the runs of BASELINE and CANDIDATE: what changed in behaviour, how sure, what it costs.

    Each side is a version, `latest`, `previous`, or (with window options) a time window. With one
    side, the candidate is compared against the recorded baseline of the --agent/--env scope.
    With --model, the sides are versions of a classical model (or windows, or --reference): every
    feature, its missing rate and the prediction are tested as one family.
    """
    report = compute(args)
    from driftline.analysis.report import html, json_render, markdown, terminal

    if html_path:
        write_report(html_path, html.render(report))
    if fmt == "terminal" and output is None:
        terminal.render(report, verbose=verbose)
        if html_path:
            click.echo(f"HTML report: {Path(html_path).resolve()}")
    else:
        renderer = {
            "terminal": markdown.render,
            "markdown": markdown.render,
            "json": json_render.render,
            "html": html.render,
            **plugins.renderers(),
        }
        if fmt not in renderer:
            raise click.ClickException(f"the {fmt!r} report format's plugin did not load (see driftline plugins)")
        text = renderer[fmt](report)
        if output:
            write_report(output, text)
            click.echo(f"report written to {output}", err=True)
        else:
            click.echo(text, nl=False)
    gate(report, fail_on_drift, max_score, fail_on)
