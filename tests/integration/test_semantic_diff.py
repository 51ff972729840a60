"""Semantic drift end to end: agent runs whose answers change topic, exported with the OTel SDK to a
receiver that stores content, then `driftline diff` — the meaning moves while the structure holds; a
second diff embeds nothing; without stored answers or without the model the dimension is left out."""

from __future__ import annotations

import json

import jsonschema
from click.testing import CliRunner
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from driftline.analysis.cli import cli
from driftline.analysis.demo.answers import answers
from driftline.analysis.report.json_render import schema
from driftline.analysis.semantic import drift as semantic_drift
from driftline.collector.embed.model import SemanticUnavailable

RUNS = 40


def export_runs(port: int, version: str, texts: list[str]) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent", "service.version": version}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}", insecure=True))
    )
    tracer = provider.get_tracer("test")
    for text in texts:
        message = [{"role": "assistant", "parts": [{"type": "text", "content": text}], "finish_reason": "stop"}]
        attributes = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.output.messages": json.dumps(message),
        }
        with tracer.start_as_current_span("invoke_agent support", attributes=attributes):
            pass
    provider.shutdown()


def diff(data: str, *before: str) -> dict:
    result = CliRunner().invoke(cli, [*before, "diff", "v1", "v2", "--data", data, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_change_of_meaning_is_found_in_stored_answers_and_embedded_once(
    receiver_factory, monkeypatch, tmp_path
) -> None:
    app = receiver_factory(store_content=True)
    export_runs(app.grpc_port, "v1", answers(RUNS, seed=1, mix={"refund": 1.0}))
    export_runs(app.grpc_port, "v2", answers(RUNS, seed=2, mix={"shipping": 1.0}))
    assert app.flush(20)
    data = str(app.config.data)
    doc = diff(data)
    semantic = {d["name"]: d for d in doc["dimensions"]}["semantic"]
    assert semantic["status"] == "moved" and semantic["effect_name"] == "centroid_cosine_distance"
    assert semantic["ci_low"] > semantic["floor"] and semantic["test"].startswith("MMD²")
    assert semantic["baseline_distribution"]["texts"] == RUNS
    assert doc["verdict"]["verdict"] in ("review", "block")
    assert doc["settings"]["semantic"]["embedded_now"] == 2 * RUNS
    jsonschema.validate(doc, schema())
    themes = doc["semantic"]["themes"]  # refunds in v1, shipping in v2: one theme shrank, one grew
    assert {t["change"] for t in themes} >= {"grew", "shrank"}
    grew = next(t for t in themes if t["change"] == "grew")
    assert grew["share_baseline"] == 0 and grew["baseline_answers"] == [] and grew["candidate_answers"]
    # the terminal and Markdown briefly, the HTML in full (every theme's answers side by side)
    out = CliRunner().invoke(cli, ["diff", "v1", "v2", "--data", data, "--html", str(tmp_path / "r.html")]).output
    assert "Themes of the answers" in out and "least like any baseline answer" in out
    md = CliRunner().invoke(cli, ["diff", "v1", "v2", "--data", data, "--format", "markdown"]).output
    assert "### Themes of the answers" in md and "| theme | baseline | candidate |" in md
    page = (tmp_path / "r.html").read_text()
    assert 'id="comparer"' in page and grew["candidate_answers"][0].replace("'", "&#39;") in page
    assert diff(data)["settings"]["semantic"]["embedded_now"] == 0  # a second diff embeds nothing
    # the same runs against themselves: the meaning does not move
    result = CliRunner().invoke(cli, ["diff", "v1", "v1", "--data", data, "--format", "json"])
    same = {d["name"]: d for d in json.loads(result.output)["dimensions"]}["semantic"]
    assert same["status"] == "unchanged"

    # without the model (extra not installed) the dimension is skipped and the diff still runs
    def unavailable(config=None):
        raise SemanticUnavailable("semantic drift needs onnxruntime and tokenizers: install the semantic extra")

    monkeypatch.setattr(semantic_drift, "embedder", unavailable)
    doc = diff(data)
    assert "semantic" not in {d["name"] for d in doc["dimensions"]}
    assert "install the semantic extra" in doc["settings"]["semantic"]["skipped"]
    # and it can be turned off like any dimension
    (tmp_path / "off.toml").write_text("[dimensions.semantic]\nenabled = false\n")
    doc = diff(data, "--config", str(tmp_path / "off.toml"))
    assert "semantic" not in {d["name"] for d in doc["dimensions"]} and "semantic" not in doc["settings"]


def test_without_stored_content_there_is_no_semantic_dimension(receiver_factory) -> None:
    app = receiver_factory()  # content hashed, not stored
    export_runs(app.grpc_port, "v1", answers(RUNS, seed=1, mix={"refund": 1.0}))
    export_runs(app.grpc_port, "v2", answers(RUNS, seed=2, mix={"shipping": 1.0}))
    assert app.flush(20)
    doc = diff(str(app.config.data))
    assert "semantic" not in {d["name"] for d in doc["dimensions"]} and "semantic" not in doc["settings"]


def test_scheduled_reports_keep_the_semantic_trend_and_an_explanation(receiver_factory, tmp_path) -> None:
    """Each scheduled run records the meaning's effect, interval and the themes that moved (the stability
    trend the Trends page plots), and with ``explain = true`` the explanation (here the rules', since no
    [rca] is configured, saying so)."""
    from driftline.analysis.schedule import history

    app = receiver_factory(store_content=True)
    export_runs(app.grpc_port, "v1", answers(RUNS, seed=1, mix={"refund": 1.0}))
    export_runs(app.grpc_port, "v2", answers(RUNS, seed=2, mix={"shipping": 1.0}))
    assert app.flush(20)
    data = str(app.config.data)
    conf = tmp_path / "driftline.toml"
    conf.write_text(
        '[[report]]\nname = "meaning"\ncron = "0 * * * *"\nbaseline = "v1"\ncandidate = "v2"\nexplain = true\n'
        f'formats = ["json", "markdown"]\noutput_dir = "{tmp_path / "reports"}"\n'
    )
    result = CliRunner().invoke(cli, ["--config", str(conf), "schedule", "--data", data, "--once", "meaning"])
    assert result.exit_code == 0, result.output
    (row,) = history.read(data, "meaning")
    assert row["semantic"]["status"] == "moved" and row["semantic"]["ci_low"] > 0.01
    assert {t["change"] for t in row["semantic"]["themes"]} >= {"grew", "shrank"}
    assert row["explanation"]["source"] == "rules" and "no LLM configured" in row["explanation"]["fallback_reason"]
    assert "### Explanation" in (tmp_path / "reports" / "meaning" / "latest.md").read_text()
    conf.write_text(conf.read_text().replace("explain = true", 'explain = "yes"'))
    result = CliRunner().invoke(cli, ["--config", str(conf), "schedule", "--data", data, "--list"])
    assert result.exit_code != 0 and "explain must be true or false" in result.output
