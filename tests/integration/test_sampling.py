"""Sampling for high-volume apps: setup(sample_rate=…) keeps whole traces at that rate, every span says
so, and the reports scale counts and cost back and say the data were sampled (issue 19)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from click.testing import CliRunner

from driftline.analysis.cli import cli

APP = textwrap.dedent("""
    import sys
    from opentelemetry import trace
    import driftline.instrumentation as dl

    dl.setup(service_name="busy", endpoint=sys.argv[1], protocol="http/protobuf", sample_rate=float(sys.argv[2]))
    tracer = trace.get_tracer("app")
    for version in ("v1", "v2"):
        for i in range(int(sys.argv[3])):
            with dl.agent_run("busy", version=version):
                attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                         "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}
                with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attrs):
                    pass
    dl.shutdown()
""")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_sampled_runs_are_whole_counted_back_and_said(receiver, tmp_path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    per_version = 400
    done = subprocess.run(
        [sys.executable, str(script), f"http://127.0.0.1:{receiver.http_port}", "0.25", str(per_version)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert receiver.flush(10)
    data = receiver.config.data
    code, out, _ = run(
        "sql",
        "--data",
        data,
        "--format",
        "json",
        "SELECT version, count(*) AS runs, min(llm_calls) AS calls, min(sample_rate) AS lo, "
        "max(sample_rate) AS hi FROM runs GROUP BY 1 ORDER BY 1",
    )
    rows = {r["version"]: r for r in json.loads(out)}
    for v in ("v1", "v2"):  # about a quarter of the runs, each whole (its chat call kept with it)
        assert 60 <= rows[v]["runs"] <= 140 and rows[v]["calls"] == 1 and rows[v]["lo"] == rows[v]["hi"] == 0.25
    code, out, err = run("cost", "--by", "version", "--format", "json", "--data", data)
    cost = {r["version"]: r for r in json.loads(out)}
    for v in ("v1", "v2"):  # the kept calls weighed by 1 / rate: the app's traffic, not the sample's
        assert cost[v]["calls"] == rows[v]["runs"] * 4 and cost[v]["input_tokens"] == rows[v]["runs"] * 4000
    assert "sampled data (sample rate 25%)" in err
    code, out, _ = run("diff", "v1", "v2", "--data", data, "--format", "json")
    doc = json.loads(out)
    assert doc["baseline"]["sample_rates"] == [0.25]
    assert doc["baseline"]["runs_estimated"] == rows["v1"]["runs"] * 4
    code, out, _ = run("diff", "v1", "v2", "--data", data, "--format", "markdown")
    assert code == 0 and "> Sampled data: baseline" in out and "kept at 25% of traces" in out
    code, out, _ = run("versions", "--data", data)
    assert code == 0 and f"(≈{rows['v1']['runs'] * 4:,} sampled)" in out


def test_a_bad_rate_is_refused() -> None:
    import pytest

    import driftline.instrumentation as dl

    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="sample_rate must be in"):
            dl.setup(sample_rate=bad)
