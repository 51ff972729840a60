"""``driftline init``: a commented driftline.toml, and the three lines that instrument an app.

Why: a new user should not have to read the whole README to learn which settings exist. The file
written here is valid as it is (every setting but ``data`` is commented out with its default), and
the configuration check that runs on every command reads it (a test keeps the two in step).
"""

from __future__ import annotations

from pathlib import Path

import click

TEMPLATE = """\
# driftline.toml: defaults for every driftline command run from this directory.
# Precedence: command-line flags > DRIFTLINE_* environment variables > this file > built-in defaults.
# `driftline config` shows what is in force and where each value comes from.

# Where the receiver writes and every command reads (a directory, or s3://bucket/prefix).
data = "{data}"

# pricing = "my-prices.toml"     # your own prices per million tokens (default: shipped list prices)
# agent = "support"              # only this agent's runs, for every command
# env = "prod"                   # only this environment's runs

[stats]
# alpha = 0.05                   # error rate of the correction (over all dimensions of a report)
# correction = "holm"            # or "bh" (Benjamini-Hochberg)
# min_runs = 30                  # runs per side below which no verdict is given
# bootstrap = 400                # resamples for the intervals
# block_score = 0.5              # a score whose lower bound blocks

# [dimensions.tools]             # tune one dimension: weight, floor (minimal effect), block, enabled
# weight = 0.15
# floor = 0.02

# [[hypothesis]]                 # your own explanation for a moved dimension
# id = "refund_prompt"
# dimension = "tools"
# direction = "down"
# text = "`{{focus}}` is called less: did the refund policy prompt change?"

# [[report]]                     # a scheduled report (driftline schedule)
# name = "hourly"
# cron = "5 * * * *"
# baseline = "7d..1d"
# candidate = "1h"
# formats = ["markdown", "html"]
# output_dir = "reports"

# [rca]                          # an OpenAI-compatible endpoint that explains reports (--explain)
# endpoint = "http://localhost:11434/v1"
# model = "llama3.1"
"""

INSTRUMENT = """\
Instrument your app (pip install driftline), then run it:
  from driftline.instrumentation import setup
  setup(service_name="my-agent", version="v1", endpoint="http://localhost:4317")
  # ... your agent code (OpenAI, Anthropic, LangChain and agent frameworks are traced: instrument="auto")
Receive its spans: driftline serve --data {data}     Compare versions: driftline diff v1 v2 --data {data}"""


@click.command(
    "init",
    epilog="""\b
Examples:
  driftline init                         # ./driftline.toml, data in ./driftline-data
  driftline init --data s3://bucket/driftline --path ops/driftline.toml""",
)
@click.option(
    "--path",
    type=click.Path(dir_okay=False),
    default="driftline.toml",
    show_default=True,
    help="Where to write the file.",
)
@click.option("--data", "data_root", default="./driftline-data", show_default=True, help="The data root it names.")
@click.option("--force", is_flag=True, help="Replace an existing file.")
def init(path: str, data_root: str, force: bool) -> None:
    """Write a commented driftline.toml and print how to instrument an app."""
    target = Path(path)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists: keep it, or replace it with --force")
    if '"' in data_root or "\\" in data_root:
        raise click.BadParameter("a data root without quotes or backslashes", param_hint="--data")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATE.format(data=data_root))
    click.echo(f"wrote {target}")
    click.echo(INSTRUMENT.format(data=data_root))
