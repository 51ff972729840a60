"""Runs derived ahead of the query: ``driftline runs rebuild`` and ``serve``'s ``--no-derive-runs``,
``--runs-grace`` and ``--runs-pricing`` (the receiver's derivation at the close of each hour).

Why one module: the receiver's derivation and the rebuild write the same files with the same rule
(``run_derivation.derive_group``: one file per hour and receiver instance, or per file no receiver
wrote, then ``run_crossing.settle``: the runs of traces cut in two by an hour boundary), and readers
use them only when they account for every span of the hour.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click

from driftline.analysis.commands.common import pricing_option
from driftline.common.options import data_option, missing_extra

RUNS_OPTIONS = (
    click.Option(
        ["--no-derive-runs"],
        envvar="DRIFTLINE_NO_DERIVE_RUNS",
        is_flag=True,
        help="Do not derive each hour's runs when it closes (readers then derive them at query time).",
    ),
    click.Option(
        ["--runs-grace"],
        envvar="DRIFTLINE_RUNS_GRACE",
        type=click.FloatRange(min=0),
        default=300.0,
        show_default=True,
        help="Seconds after an hour ends (or after a late span into it) before its runs are derived.",
    ),
    click.Option(
        ["--runs-pricing"],
        envvar="DRIFTLINE_PRICING",
        type=click.Path(dir_okay=False),
        default=None,
        help="Pricing file the derived runs are costed with (a reader with another derives its own).",
    ),
)
RUNS_EXAMPLE = (
    "driftline serve --data ./driftline-data --runs-grace 60   # derive an hour's runs a minute after it ends"
)


def derive_beside_receiver(
    own: dict[str, Any], _receiver: dict[str, Any]
) -> Callable[[Any], Callable[[], None]] | None:
    """``serve``'s extension: the hook that starts deriving runs once the receiver is up."""
    if own["no_derive_runs"]:
        return None
    try:
        from driftline.analysis.cost import load_prices
        from driftline.analysis.run_crossing import settle
        from driftline.analysis.run_derivation import INGEST_MEMORY_LIMIT, derive_group
    except ImportError as exc:  # no [collector] extra: serve says what to install
        raise missing_extra(exc) from exc
    try:
        prices = load_prices(own["runs_pricing"])
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--runs-pricing") from exc

    def hook(app: Any) -> Callable[[], None]:
        root, instance = app.config.data, app.config.instance_id

        def derive(partition: str, files: list[str]) -> None:
            derive_group(root, partition, files, instance, prices)
            settle(root, prices, memory_limit=INGEST_MEMORY_LIMIT)  # the traces the new hour cut in two

        return app.derive_runs(derive, grace_s=own["runs_grace"])

    return hook


@click.command(
    epilog="""\b
Examples:
  driftline runs rebuild --data ./driftline-data              # every hour
  driftline runs rebuild --since 7d --pricing my-prices.toml  # the last week, with your prices"""
)
@data_option
@pricing_option
@click.option("--since", default=None, help="Only hours since (7d, 12h, or an ISO date).")
def rebuild(data: str, pricing: str | None, since: str | None) -> None:
    """Derive the runs of every hour (or of hours since SINCE) again and store them beside the spans,
    replacing what receivers derived — e.g. after an upgrade that changed how runs are derived, or to
    derive the hours an older receiver wrote. A diff then reads them instead of deriving."""
    from pathlib import Path

    import pyarrow.fs as pafs

    import driftline.collector.crypto as crypto
    from driftline.analysis.cost import load_prices
    from driftline.analysis.run_crossing import settle
    from driftline.analysis.run_derivation import derive_group, list_partitions
    from driftline.collector.schema import RUNS_DIR, filesystem, is_finished_parquet, partition_start, span_file_group
    from driftline.common.times import when

    try:
        prices = load_prices(pricing)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--pricing") from exc
    try:
        start = when(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    fs, base = filesystem(data)
    if fs.get_file_info(base).type != pafs.FileType.Directory:
        raise click.ClickException(f"data root {data} does not exist")
    if crypto.key_for(fs, base) is not None:
        raise click.ClickException("an encrypted root keeps no derived runs (they would be stored in the clear)")
    started = time.perf_counter()
    hours = files_written = 0
    for part in list_partitions(fs, base, data):
        hour = partition_start(part.name)
        if start is not None and hour is not None and hour.timestamp() + 3600 <= start.timestamp():
            continue
        groups: dict[str, list[str]] = {}
        for path, _, _ in part.files:
            groups.setdefault(span_file_group(Path(path).name), []).append(path)
        written = {
            Path(derive_group(data, part.name, files, group, prices, threads=None)).name
            for group, files in groups.items()
        }
        directory = f"{base}/{RUNS_DIR}/{part.name}"
        for info in fs.get_file_info(pafs.FileSelector(directory)):  # files of groups that are gone
            if info.type == pafs.FileType.File and is_finished_parquet(info.path) and info.base_name not in written:
                fs.delete_file(info.path)
        hours += 1
        files_written += len(written)
    pieces = settle(data, prices, threads=None) if hours else 0
    click.echo(
        f"derived the runs of {hours} hour(s) into {files_written} file(s) and {pieces} piece(s) of runs that "
        f"cross hours in {time.perf_counter() - started:.1f} s"
    )
