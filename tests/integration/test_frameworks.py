"""Each agent framework for real: a two-tool agent through the framework's own API, against the loopback
OpenAI-compatible server, traced by ``setup(instrument="auto")``, exported over OTLP/HTTP to a real
receiver, and checked on the canonical rows and the runs (agent, tool sequence, tokens equal to the
server's usage — each model call counted once).

Each framework lives in its own environment (``.envs/<env>``, made and cached by ``make frameworks``;
their pins conflict). A framework whose environment is missing is skipped with the reason, except in
CI, where ``make test`` has made them all and a missing one is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.db import connect
from tests.llm_server import USAGE, LLMServer

ROOT = Path(__file__).parents[2]
AGENTS = ROOT / "tests" / "frameworks" / "agents"
ENVS = Path(os.environ.get("DRIFTLINE_FRAMEWORK_ENVS", ROOT / ".envs"))
RUNS = 2


@dataclass(frozen=True)
class Case:
    framework: str
    env: str
    agent: str  # the agent name the runs must carry
    tools: tuple[str, ...]  # the tool sequence of every run
    chose: str  # what the log must say was chosen
    wraps: bool = True  # the framework's own LLM spans wrap the SDK's (CrewAI's instrumentor has none)
    counted_scope: str = "driftline.instrumentation"  # whose model-call spans are the counted ones


CASES = (
    Case(
        "llamaindex",
        "agents",
        "FunctionAgent",
        ("get_weather", "lookup_order"),
        "llamaindex traced by openinference.instrumentation.llama_index",
    ),
    Case(
        "smolagents",
        "agents",
        "order_agent",
        ("get_weather", "lookup_order", "final_answer"),
        "smolagents traced by openinference.instrumentation.smolagents",
    ),
    Case(
        "haystack",
        "agents",
        "Agent",
        ("get_weather", "lookup_order"),
        "haystack traced by openinference.instrumentation.haystack",
    ),
    Case(
        "crewai",
        "crewai",
        "order_agent",
        ("get_weather", "lookup_order"),
        "crewai traced by openinference.instrumentation.crewai",
        wraps=False,
    ),
    Case(
        "autogen",
        "autogen",
        "order_agent",
        ("get_weather", "lookup_order"),
        "autogen traces itself",
        wraps=False,
    ),
    Case(
        "dspy",
        "agents",
        "ReAct",
        ("get_weather", "lookup_order", "finish"),
        "dspy: driftline.instrumentation.dspy.DSPyUsageInstrumentor added",
        wraps=False,  # LiteLLM calls the server itself: the LM span is the call, with our callback's usage
        counted_scope="openinference.instrumentation.dspy",
    ),
    Case(
        "ag2",
        "ag2",
        "order_agent",
        ("get_weather", "lookup_order"),
        "ag2: driftline.instrumentation.ag2.AG2Instrumentor added",
    ),
)


def _python(env: str) -> Path:
    return ENVS / env / "bin" / "python"


def run_agent(case: Case, llm: LLMServer, endpoint: str, zero_code: bool = False) -> subprocess.CompletedProcess:
    """The case's agent script in its environment: with ``setup(instrument="auto")``, or (``zero_code``)
    under ``opentelemetry-instrument`` configured by the standard OTEL_* variables only."""
    python = _python(case.env)
    if not python.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{python} is missing: `make frameworks` should have made it")
        pytest.skip(f"{case.framework}: no environment at {python.parent.parent} (run `make frameworks`)")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VIRTUAL_ENV"))},
        # nothing may be fetched at run time: every outbound connection except loopback is refused
        "HTTP_PROXY": "http://127.0.0.1:9",
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "HF_HUB_OFFLINE": "1",
        "CREWAI_DISABLE_TELEMETRY": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "CREWAI_DISABLE_VERSION_CHECK": "true",
        "HAYSTACK_TELEMETRY_ENABLED": "False",
        "OPENAI_API_KEY": "test",
    }
    script = AGENTS / f"{case.framework}_agent.py"
    args = [str(python), str(script), "--llm", llm.base_url, "--endpoint", endpoint, "--runs", str(RUNS)]
    if zero_code:
        env.update(
            OTEL_SERVICE_NAME="framework-agent",
            OTEL_RESOURCE_ATTRIBUTES="service.version=v1",
            OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_TRACES_EXPORTER="otlp",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
        )
        args = [str(python.parent / "opentelemetry-instrument"), *args, "--zero-code"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    return done


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[c.framework for c in CASES])
def test_a_framework_agent_lands_as_runs_with_its_tools_and_tokens_counted_once(
    case: Case, llm_server: LLMServer, receiver_factory
) -> None:
    app = receiver_factory()
    done = run_agent(case, llm_server, f"http://127.0.0.1:{app.http_port}")
    assert app.flush(20)
    assert case.chose in done.stderr, done.stderr[-2000:]
    check_runs(case, app.config.data, llm_server)


def check_runs(case: Case, data: str, llm_server: LLMServer) -> None:
    """The runs of the case's agent: agent, version, tools, and tokens equal to the server's usage."""
    con = connect(data)
    if os.environ.get("DRIFTLINE_SHOW_SPANS"):
        for row in con.execute(
            "SELECT scope_name, name, operation, request_model, response_model, tool_name, input_tokens, output_tokens,"
            " span_id, parent_span_id, attributes FROM spans ORDER BY start_time"
        ).fetchall():
            print(row, file=sys.stderr)
    runs = con.execute(
        "SELECT agent, version, tool_sequence, llm_calls, input_tokens, output_tokens FROM runs ORDER BY start_time"
    ).fetchall()
    chats = sum(
        1
        for path, body in llm_server.requests
        if path.endswith("/chat/completions") and "[compile-" not in json.dumps(body)  # optimizers: untraced
    )
    assert chats >= RUNS * len(case.tools)
    assert len(runs) == RUNS, runs
    for agent, version, tools, _calls, _in, _out in runs:
        assert (agent, version, tuple(tools)) == (case.agent, "v1", case.tools), runs
    assert sum(r[3] for r in runs) == chats
    assert sum(r[4] for r in runs) == chats * USAGE["prompt_tokens"]
    assert sum(r[5] for r in runs) == chats * USAGE["completion_tokens"]
    # the conformance report says which spans were counted: our SDK spans, not the framework's wrappers
    out = CliRunner().invoke(cli, ["conventions", "--data", data, "--format", "json"])
    assert out.exit_code == 0, out.output
    scopes = {row["scope"]: row["model_calls"] for row in json.loads(out.output)}
    assert {k: v["counted"] for k, v in scopes.items() if v["counted"]} == {case.counted_scope: chats}
    assert (sum(v["wrappers"] for v in scopes.values()) >= chats) == case.wraps
    if case.framework in ("crewai", "smolagents"):  # the task and the agents' prompts are content, not attributes
        quoted = {"crew_tasks", "crew_agents", "crew_inputs", "formatted_description", "smolagents.task"}
        for (attrs,) in con.execute("SELECT attributes FROM spans").fetchall():
            assert not quoted & set(dict(attrs)), dict(attrs)
        roots = con.execute("SELECT input_hash FROM spans WHERE operation = 'invoke_agent'").fetchall()
        assert roots and all(h is not None for (h,) in roots)
    if case.framework == "crewai":  # the crew's task runs share its crew id
        assert (
            con.execute(
                "SELECT count(DISTINCT conversation_id) FROM spans WHERE conversation_id IS NOT NULL"
            ).fetchone()[0]
            == RUNS
        )
    if case.framework == "dspy":  # the optimizer did call the model, and left no run (asserted above)
        assert any("[compile-" in json.dumps(body) for _, body in llm_server.requests)
        # the callback put each predictor's signature on its LM call
        signatures = {
            dict(attrs).get("dspy.signature") for (attrs,) in con.execute("SELECT attributes FROM llm_calls").fetchall()
        }
        assert signatures == {
            "question, trajectory -> next_thought, next_tool_name, next_tool_args",
            "question, trajectory -> reasoning, answer",
        }


# Not Haystack: OpenInference's Haystack instrumentor wraps the components imported when it starts, and
# under opentelemetry-instrument it starts before the app imports any (README, "Agent frameworks").
ZERO_CODE = [c for c in CASES if c.framework in ("smolagents", "dspy")]


@pytest.mark.slow
@pytest.mark.parametrize("case", ZERO_CODE, ids=[c.framework for c in ZERO_CODE])
def test_opentelemetry_instrument_gives_the_same_runs_with_no_code(
    case: Case, llm_server: LLMServer, receiver_factory
) -> None:
    """``opentelemetry-instrument python app.py`` with the OTEL_* variables: the maintained instrumentors
    and Driftline's (Haystack's tools, DSPy's usage) come from their entry points, with the same runs."""
    app = receiver_factory()
    run_agent(case, llm_server, f"http://127.0.0.1:{app.http_port}", zero_code=True)
    assert app.flush(20)
    check_runs(case, app.config.data, llm_server)


@pytest.mark.slow
def test_retrieval_spans_say_how_many_documents_and_which(llm_server: LLMServer, receiver_factory) -> None:
    """Haystack's BM25 retriever in a pipeline and a LlamaIndex vector retriever, each as OpenInference
    RETRIEVER spans: each keeps its document count, ids and content hashes; the text stays out."""
    case = Case("retrieval", "agents", "", (), "")
    app = receiver_factory()
    run_agent(case, llm_server, f"http://127.0.0.1:{app.http_port}")
    assert app.flush(20)
    rows = (
        connect(app.config.data)
        .execute("SELECT scope_name, name, attributes, output_content FROM spans WHERE operation = 'retrieval'")
        .fetchall()
    )
    listed = [
        (scope, name, dict(attrs), text)
        for scope, name, attrs, text in rows
        if "retrieval.documents.0.document.id" in dict(attrs)
    ]  # a retriever's outer span lists none
    scopes = {scope for scope, _, _, _ in listed}
    assert scopes == {"openinference.instrumentation.haystack", "openinference.instrumentation.llama_index"}, rows
    for scope, name, a, text in listed:
        assert text is None and a.get("driftline.retrieval.documents") == "2", (scope, name, a)
        hashes = json.loads(a["driftline.retrieval.document_hashes"])
        assert len(hashes) == 2 and all(len(h) == 64 for h in hashes)
        assert len(json.loads(a["driftline.retrieval.document_ids"])) == 2
    # the README's query
    query = "select attributes['driftline.retrieval.documents'] from spans where operation = 'retrieval'"
    out = CliRunner().invoke(cli, ["sql", query, "--data", app.config.data, "--format", "json"])
    assert out.exit_code == 0 and out.output.count('"2"') == len(listed), out.output


@pytest.mark.slow
def test_an_autogen_swarm_hand_off_shows_in_the_runs(llm_server: LLMServer, receiver_factory) -> None:
    """A Swarm hands off with a ``transfer_to_<agent>`` tool call. AutoGen's runtime records each message
    it publishes in a trace of its own, so each agent's turn is a run of its own (the hand-off is the
    triage run's last tool), and the runtime's message traces are not runs."""
    case = Case("autogen_swarm", "autogen", "", (), "autogen traces itself")
    app = receiver_factory()
    run_agent(case, llm_server, f"http://127.0.0.1:{app.http_port}")
    assert app.flush(20)
    con = connect(app.config.data)
    runs = con.execute("SELECT agent, tool_sequence, input_tokens FROM runs ORDER BY start_time").fetchall()
    assert runs and {agent for agent, _, _ in runs} == {"triage", "weather"}, runs
    triage_tools = [t for agent, tools, _ in runs if agent == "triage" for t in tools]
    assert triage_tools.count("transfer_to_weather") == RUNS and triage_tools.count("lookup_order") == RUNS
    chats = sum(1 for path, _ in llm_server.requests if path.endswith("/chat/completions"))
    assert sum(tokens or 0 for _, _, tokens in runs) == chats * USAGE["prompt_tokens"]
    spans = con.execute("SELECT count(DISTINCT trace_id) FROM spans").fetchone()[0]
    assert spans > len(runs)  # the runtime's message traces exist, and are not counted as runs
