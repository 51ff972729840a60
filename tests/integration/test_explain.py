"""`driftline diff --explain` against a fake OpenAI-compatible server on loopback: a valid answer is
shown and grounded in the report's facts; a malformed answer, an answer citing facts the report does
not have, a severity that contradicts the verdict, a timeout, an HTTP 500 and an unreachable endpoint
each fall back to the rules and say why. The explainer's own call lands as a run of agent
`driftline-explain` in the receiver it exports to; model reports are explained too."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb
import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.demo.answers import answers
from driftline.analysis.report.json_render import schema
from tests.integration.test_semantic_diff import export_runs
from tests.ml_tables import Population

REQUESTS: list[dict[str, Any]] = []


def _content(model: str, body: dict[str, Any]) -> str:
    facts = json.loads(body["messages"][1]["content"])["facts"]
    first = facts[0]["id"] if facts else "dimension:none"
    verdict = json.loads(body["messages"][1]["content"])["verdict"]["verdict"]
    good = {
        "summary": "The candidate answers about a different subject than the baseline.",
        "severity": "high" if verdict == "block" else "medium",
        "causes": [{"cause": "The prompt now steers answers to another topic.", "evidence": [first, "made:up"]}],
        "next_steps": ["Read the candidate answers side by side with the baseline's."],
    }
    if model == "good":
        return json.dumps(good)
    if model == "fenced":
        return "```json\n" + json.dumps(good) + "\n```"
    if model == "malformed":
        return '{"summary": "cut off'
    if model == "uncited":
        return json.dumps({**good, "causes": [{"cause": "Something else.", "evidence": ["dimension:imaginary"]}]})
    if model == "contradicting":
        return json.dumps({**good, "severity": "low" if verdict in ("block", "review") else "high"})
    raise AssertionError(model)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        REQUESTS.append(body)
        model = body["model"]
        if model == "slow":
            time.sleep(3)
        if model in ("error-500", "slow"):
            self.send_response(500)
            self.end_headers()
            return
        answer = {
            "id": "chatcmpl-x",
            "object": "chat.completion",
            "model": model + "-2026",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": _content(model, body)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 120, "total_tokens": 1020},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def llm() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.fixture
def data(receiver_factory) -> tuple[str, Any]:
    app = receiver_factory(store_content=True)
    export_runs(app.grpc_port, "v1", answers(40, seed=1, mix={"refund": 1.0}))
    export_runs(app.grpc_port, "v2", answers(40, seed=2, mix={"shipping": 1.0}))
    assert app.flush(20)
    return str(app.config.data), app


def explain(data: str, tmp_path: Path, rca: str, *extra: str) -> tuple[int, str]:
    config = tmp_path / "driftline.toml"
    config.write_text("[rca]\n" + rca)
    result = CliRunner().invoke(cli, ["--config", str(config), "diff", "v1", "v2", "--data", data, "--explain", *extra])
    return result.exit_code, result.output


def test_a_valid_answer_is_shown_grounded_and_its_call_lands_as_a_run(data, llm: str, tmp_path: Path) -> None:
    root, app = data
    rca = f'endpoint = "{llm}"\nmodel = "good"\ntimeout = 5\notlp_endpoint = "http://127.0.0.1:{app.grpc_port}"\n'
    code, out = explain(root, tmp_path, rca, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    e = doc["explanation"]
    assert e["source"] == "llm" and e["model"] == "good" and e["fallback_reason"] is None
    sent = json.loads(REQUESTS[-1]["messages"][1]["content"])
    known = {f["id"] for f in sent["facts"]}
    assert "dimension:semantic" in known and e["causes"][0]["evidence"] == [sent["facts"][0]["id"]]  # made:up dropped
    assert sent["examples"]["baseline"] and sent["examples"]["candidate"]  # representative answers went along
    assert REQUESTS[-1]["response_format"] == {"type": "json_object"}
    code, out = explain(root, tmp_path, rca)
    assert code == 0 and "Explanation by good" in out and "Cause:" in out
    code, out = explain(root, tmp_path, rca.replace('"good"', '"fenced"'), "--format", "markdown")
    assert code == 0 and "### Explanation" in out and "_Explanation by fenced" in out
    # the explainer's own call: a run of agent driftline-explain, with its chat call's model and tokens
    assert app.flush(20)
    con = duckdb.connect()
    spans = con.sql(
        f"SELECT operation, agent_name, request_model, input_tokens, output_tokens, outcome "
        f"FROM read_parquet('{root}/spans/**/*.parquet') WHERE service_name = 'driftline-explain' ORDER BY operation"
    ).fetchall()
    assert ("chat", None, "good", 900, 120, None) in spans
    assert ("invoke_agent", "driftline-explain", None, None, None, "explained") in spans


@pytest.mark.parametrize(
    ("model", "timeout", "reason"),
    [
        ("malformed", 5, "not JSON"),
        ("uncited", 5, "cites no fact of the report"),
        ("contradicting", 5, "contradicts the verdict"),
        ("slow", 1, "did not answer within 1 s"),
        ("error-500", 5, "answered HTTP 500"),
        ("unreachable", 5, "is unreachable"),
    ],
)
def test_every_failure_falls_back_to_the_rules_and_says_why(
    data, llm: str, tmp_path: Path, model: str, timeout: float, reason: str
) -> None:
    root, _ = data
    endpoint = llm
    if model == "unreachable":
        with socket.socket() as s:  # a port nothing listens on
            s.bind(("127.0.0.1", 0))
            endpoint = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    started = time.monotonic()
    code, out = explain(
        root, tmp_path, f'endpoint = "{endpoint}"\nmodel = "{model}"\ntimeout = {timeout}\n', "--format", "json"
    )
    assert code == 0, out
    e = json.loads(out)["explanation"]
    assert e["source"] == "rules" and reason in e["fallback_reason"], e["fallback_reason"]
    assert e["severity"] in ("medium", "high") and e["next_steps"]
    if model == "slow":
        assert time.monotonic() - started < 3  # the diff did not wait for the slow endpoint


def test_without_rca_the_rules_explain_and_bad_config_is_one_line(data, tmp_path: Path) -> None:
    root, _ = data
    result = CliRunner().invoke(cli, ["diff", "v1", "v2", "--data", root, "--explain", "--format", "json"])
    e = json.loads(result.output)["explanation"]
    assert e["source"] == "rules" and "no LLM configured" in e["fallback_reason"]
    code, out = explain(root, tmp_path, 'endpoint = "http://x/v1"\nmodel = "m"\ntimeout = "fast"\n')
    assert code == 1 and "[rca] timeout: expected a positive number" in out
    code, out = explain(root, tmp_path, 'endpont = "http://x/v1"\n')
    assert code == 1 and "unknown key(s) endpont" in out


def test_a_model_report_is_explained_too(llm: str, tmp_path: Path) -> None:
    pop, root = Population(), str(tmp_path / "data")
    for version, seed, shifted in (("v1", 1, False), ("v2", 2, True)):
        table = pa.table({k.removeprefix("feature."): v for k, v in pop.sample(3000, seed, shifted=shifted).items()})
        pq.write_table(table, tmp_path / f"{version}.parquet")
        args = ["models", "import", "fraud", "--version", version, "--file", str(tmp_path / f"{version}.parquet")]
        assert CliRunner().invoke(cli, [*args, "--prediction", "prediction", "--data", root]).exit_code == 0
    config = tmp_path / "driftline.toml"
    config.write_text(f'[rca]\nendpoint = "{llm}"\nmodel = "good"\n')
    args = [
        "--config",
        str(config),
        "diff",
        "--model",
        "fraud",
        "v1",
        "v2",
        "--data",
        root,
        "--explain",
        "--format",
        "json",
    ]
    result = CliRunner().invoke(cli, args)
    doc = json.loads(result.output)
    sent = json.loads(REQUESTS[-1]["messages"][1]["content"])
    assert sent["kind"] == "model" and sent["baseline"]["inferences"] == 3000
    assert doc["explanation"]["source"] == "llm" and doc["explanation"]["causes"][0]["evidence"][0].startswith(
        "dimension:"
    )
