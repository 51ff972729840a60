"""``driftline playground``: one prompt as a chosen agent version, through the configured endpoint, as a run."""

from __future__ import annotations

import json
from dataclasses import asdict

import click

from driftline.analysis import settings as config


@click.command(
    epilog="""\b
Examples:
  driftline playground "Where is my refund?" --version v2.1 --agent support --otlp-endpoint http://127.0.0.1:4317
  driftline playground "Where is my refund?" --version v2.2 --system "Answer in one sentence." --format json
  driftline baseline promote golden RUN_ID    # the printed run id, once it landed
\b
The endpoint and model come from [playground] (else [rca]) in driftline.toml; the run goes to
--otlp-endpoint, [playground] otlp_endpoint or OTEL_EXPORTER_OTLP_ENDPOINT, with environment "playground"."""
)
@click.argument("prompt")
@click.option("--version", "version", required=True, help="The agent version the run is recorded as.")
@click.option("--agent", default="playground", show_default=True, help="The agent name the run is recorded as.")
@click.option("--system", default=None, help="A system prompt (default: [playground] system).")
@click.option("--model", default=None, help="The model to ask (default: [playground] model).")
@click.option(
    "--otlp-endpoint",
    default=None,
    metavar="URL",
    help="The receiver's OTLP endpoint (default: [playground] otlp_endpoint, else OTEL_EXPORTER_OTLP_ENDPOINT).",
)
@click.option(
    "--protocol",
    type=click.Choice(["grpc", "http/protobuf"]),
    default=None,
    help="OTLP protocol (default: OTEL_EXPORTER_OTLP_PROTOCOL, else grpc).",
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def playground(
    prompt: str,
    version: str,
    agent: str,
    system: str | None,
    model: str | None,
    otlp_endpoint: str | None,
    protocol: str | None,
    fmt: str,
) -> None:
    """Send PROMPT as agent --agent version --version; the call lands as a run you can promote."""
    from driftline.analysis.playground import config_from, send

    try:
        settings = config_from(config.current())
        run = send(
            settings,
            prompt,
            agent=agent,
            version=version,
            otlp_endpoint=otlp_endpoint or settings.otlp_endpoint,
            protocol=protocol,
            system=system,
            model=model,
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"{exc}; the run is not recorded") from exc
    if fmt == "json":
        click.echo(json.dumps(asdict(run), indent=1))
    else:
        click.echo(run.output if run.error is None else f"error: {run.error}")
        tokens = f", {run.input_tokens} → {run.output_tokens} tokens" if run.input_tokens is not None else ""
        click.echo(f"run {run.run_id} ({run.agent} {run.version}, {run.model}{tokens})", err=True)
    if run.error is not None:
        raise SystemExit(1)
