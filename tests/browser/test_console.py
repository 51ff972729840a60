"""The web console in a real headless Chromium over `driftline demo` data: the token prompt, runs with
filters and URL state, a run's waterfall, the v1.0 → v2.0 drift report (verdict and top hypothesis
as the API computes them), set-as-baseline, theme toggle remembered, trends, cost, keyboard use."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from driftline.analysis.api.app import Settings, create_app
from driftline.analysis.api.console import built
from driftline.analysis.commands.console import ConsoleServer
from tests.browser.conftest import demo_data, screenshot

TOKEN = "console-test-token"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    if not built():
        pytest.fail("the console is not built: make console (npm ci && npm run build in analysis/web)")
    root = demo_data(tmp_path_factory.mktemp("console") / "data", 150)
    server = ConsoleServer(create_app(Settings(root, auth_token=TOKEN)), "127.0.0.1", 0).start()
    yield server.url, root
    server.stop()


@pytest.fixture
def page(browser: Any, site: tuple[str, str]) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(20_000)
    pg.goto(site[0] + "/")
    pg.get_by_label(re.compile("needs a bearer token")).fill(TOKEN)
    pg.get_by_role("button", name="Use token").click()
    pg.locator("table.runs tbody tr").first.wait_for()
    yield pg
    context.close()
    assert not errors, errors


def api(site: tuple[str, str], path: str) -> Any:
    r = httpx.get(site[0] + "/api/v1" + path, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    r.raise_for_status()
    return r.json()


def test_runs_filters_live_in_the_url_and_highlight_errors_and_slow_runs(page: Any, site: tuple[str, str]) -> None:
    assert page.url.endswith("/runs")
    assert page.locator("table.runs tbody tr").count() == 50
    page.get_by_label("Version").select_option("v2.0")
    page.wait_for_url(re.compile(r"version=v2\.0"))
    page.wait_for_function(
        "() => [...document.querySelectorAll('table.runs tbody tr td:nth-child(4)')]"
        ".every(td => td.textContent === 'v2.0')"
    )
    page.get_by_label("Status").select_option("ERROR")
    page.wait_for_url(re.compile(r"status=ERROR"))
    errors = api(site, "/runs?version=v2.0&status=ERROR")["runs"]
    assert errors, "the demo's order-service timeouts give some failed runs"
    expect(page.locator("table.runs tbody tr.is-error")).to_have_count(len(errors))
    # the filtered view is a URL: open it fresh in the same session and get the same rows
    shared = page.url
    page.goto(site[0] + "/versions")
    page.goto(shared)
    expect(page.locator("table.runs tbody tr.is-error")).to_have_count(len(errors))
    expect(page.get_by_label("Version")).to_have_value("v2.0")
    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("Only slow runs").check()
    page.wait_for_url(re.compile(r"slow=1"))
    slow = api(site, "/runs?slow=true&limit=500")["runs"]
    expect(page.locator("table.runs tbody tr.is-slow")).to_have_count(min(50, len(slow)))
    expect(page.locator("table.runs tbody tr:not(.is-slow)")).to_have_count(0)
    # "/" jumps to the search box; typing a trace id prefix narrows to that run
    first = api(site, "/runs?limit=1")["runs"][0]
    page.get_by_label("Only slow runs").uncheck()
    page.locator("body").press("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type(first["trace_id"][:12])
    expect(page.locator("table.runs tbody tr")).to_have_count(1)


def test_a_run_opens_as_a_waterfall_with_span_details(page: Any, site: tuple[str, str]) -> None:
    run = api(site, "/runs?limit=1&status=OK")["runs"][0]
    page.goto(f"{site[0]}/runs?status=OK")
    page.locator(f'tr[data-run-id="{run["run_id"]}"] a').click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]+(:|%3A)"))
    rows = page.get_by_role("treeitem")
    detail = api(site, "/runs/" + run["run_id"])
    expect(rows).to_have_count(len(detail["spans"]))
    assert page.locator('[data-span-kind="agent"]').count() >= 1
    llm = page.locator('[data-span-kind="llm"]').first
    llm.click()
    panel = page.get_by_label("Span details")
    assert "gpt-4o-mini-2024-07-18" in panel.inner_text()
    assert re.search(r"cost\s*\$0\.\d+ \(pricing\)", panel.inner_text())
    assert "span=" in page.url  # the selected span is part of the URL
    # keyboard: the arrow keys move the selection down the tree
    llm.press("ArrowDown")
    selected = page.locator('[role="treeitem"][aria-selected="true"]')
    assert selected.get_attribute("data-span-kind") == "tool"
    assert "execute_tool" in panel.inner_text()
    # the run's decisions, signals and memory operations: marks on the agent's bar, words in its details
    agent_row = page.locator('[data-span-kind="agent"]').first
    assert agent_row.locator('.wf-event[data-event="decision"]').count() == 1
    assert agent_row.locator('.wf-event[data-event="signal"]').count() == 1
    agent_row.click()
    events = page.get_by_label("Agent events")
    text = events.inner_text()
    decision = r"response_mode: chose (answer|escalate) among answer, escalate, because \w+ \(confidence 0\.\d+\)"
    assert re.search(decision, text), text
    assert "output signal schema_valid = " in text and "memory read customer:" in text
    screenshot(page, "run-waterfall", readme=True)


def test_an_exception_reads_as_type_message_and_stack_trace(page: Any, site: tuple[str, str]) -> None:
    run = api(site, "/runs?limit=1&status=ERROR")["runs"][0]
    page.goto(f"{site[0]}/runs/{run['run_id']}")
    failed = page.locator('[data-span-kind="error"]').first
    failed.click()
    panel = page.get_by_label("Span details")
    event = panel.get_by_label("Span events").locator('li[data-event="exception"]')
    expect(event).to_contain_text("TimeoutError: order service did not answer within 5 s")
    event.locator("summary").click()
    expect(event.locator("pre.stacktrace")).to_contain_text("Traceback")
    assert '"exception.type"' not in panel.inner_text()  # not a JSON blob among the attributes


def test_versions_to_drift_report_shows_the_verdict_and_top_hypothesis(page: Any, site: tuple[str, str]) -> None:
    page.get_by_role("link", name="Versions").click()
    page.get_by_label("baseline v1.0").check()
    page.get_by_label("candidate v2.0").check()
    page.get_by_role("button", name="Compare v1.0 → v2.0").click()
    page.wait_for_url(re.compile(r"/diff\?baseline=v1\.0&candidate=v2\.0"))
    doc = api(site, "/diff?baseline=v1.0&candidate=v2.0")
    verdict = page.locator(".page-head .verdict")
    assert doc["verdict"]["verdict"].upper() == "BLOCK"
    expect(verdict).to_have_text("BLOCK", timeout=60_000)
    top = page.locator("ol.hypotheses li").first
    expect(top).to_have_attribute("data-rule", doc["hypotheses"][0]["rule"])
    assert top.inner_text().startswith(doc["hypotheses"][0]["text"].replace("`", ""))
    assert f"{doc['verdict']['score']:.2f}" in page.locator(".summary-grid").inner_text()
    # moved dimensions are open with their charts; the others open on click
    moved = [d["name"] for d in doc["dimensions"] if d["status"] == "moved"]
    for name in moved:
        expect(page.locator(f'details[data-dimension="{name}"][open] canvas')).to_have_count(1)
    quiet = next(d["name"] for d in doc["dimensions"] if d["status"] == "unchanged")
    page.locator(f'details[data-dimension="{quiet}"] summary').click()
    expect(page.locator(f'details[data-dimension="{quiet}"][open] canvas')).to_have_count(1)
    assert page.get_by_label("Tool-sequence changes").locator("tbody tr").count() > 1
    # a dimension that moved on the same runs as another says so, and backticks read as code
    echo = next(d for d in doc["dimensions"] if d.get("echo_of"))
    expect(page.locator(f'details[data-dimension="{echo["name"]}"] .echo')).to_contain_text(
        f"same runs as {echo['echo_of']}"
    )
    assert page.locator("ol.hypotheses li code").count() >= 1
    assert "per 10k runs" in page.locator(".summary-grid").inner_text()
    # what the agent says: the demo stores content and v2.0's answers turn curt; themes and the
    # comparer show both sides' answers (the API's, in the API's order)
    assert "semantic" in moved
    themes = page.get_by_label("themes", exact=True).locator("tbody tr")
    expect(themes).to_have_count(len(doc["semantic"]["themes"]))
    first = doc["semantic"]["themes"][0]
    expect(themes.first).to_have_attribute("data-change", first["change"])
    comparer = page.locator(f'details.comparer[data-theme="{first["theme"]}"]')
    for answer in first["baseline_answers"] + first["candidate_answers"]:
        expect(comparer.locator("blockquote").filter(has_text=answer[:60]).first).to_be_visible()
    expect(page.get_by_label("novel answers").locator("li")).to_have_count(len(doc["semantic"]["novel"]))
    # explanation on demand: no [rca] here, so the rules explain and say why
    page.get_by_role("button", name="Explain this report").click()
    card = page.locator('.explanation .card[data-source="rules"]')
    expect(card).to_contain_text("no LLM configured")
    expect(card.get_by_label("likely causes").locator("li").first).to_contain_text(
        doc["hypotheses"][0]["text"].replace("`", "")[:40]
    )
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "drift-report", readme=True)
    # set the candidate as baseline (a write: the bearer token is in the session)
    page.get_by_role("button", name="Set v2.0 as baseline").click()
    expect(page.get_by_role("status").filter(has_text="now the baseline")).to_contain_text("v2.0 is now the baseline")
    assert api(site, "/baselines")["baselines"][-1]["version"] == "v2.0"


def test_theme_toggle_is_remembered_and_trends_cost_ingest_teach(page: Any, site: tuple[str, str]) -> None:
    before = page.evaluate("document.documentElement.dataset.theme")
    page.get_by_role("button", name=re.compile("Switch to .* theme")).click()
    after = page.evaluate("document.documentElement.dataset.theme")
    assert {before, after} == {"light", "dark"}
    page.reload()
    page.locator("table.runs tbody tr").first.wait_for()
    assert page.evaluate("document.documentElement.dataset.theme") == after
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != ""
    screenshot(page, f"runs-{after}")
    # trends: no scheduled report yet -> how to configure one
    page.get_by_role("link", name="Trends").click()
    expect(page.locator("main")).to_contain_text("[[report]]")
    # cost: the stacked chart and a budget line from the URL
    page.goto(site[0] + "/cost?budget=0.00001&bucket=hour&since=30d")
    page.locator("main canvas").wait_for()
    expect(page.get_by_role("status").filter(has_text="budget")).to_contain_text("over the budget")
    total = api(site, "/cost?since=30d")["total"]
    expect(page.locator(".page-head")).to_contain_text(f"${total:.4f}")
    # ingest without a receiver attached says how to attach one
    page.get_by_role("link", name="Ingest").click()
    expect(page.locator("main")).to_contain_text("--receiver")
    # keyboard: the first Tab lands on the skip link, then the navigation
    page.goto(site[0] + "/versions")
    page.get_by_role("table", name="Versions").wait_for()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Runs"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/runs$"))


def test_trends_plot_a_scheduled_report(page: Any, site: tuple[str, str], tmp_path: Any) -> None:
    config = tmp_path / "driftline.toml"
    config.write_text(
        '[[report]]\nname = "demo-drift"\ncron = "0 * * * *"\nbaseline = "v1.0"\ncandidate = "v2.0"\n'
        f'formats = ["json"]\noutput_dir = "{tmp_path / "reports"}"\n'
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftline.analysis.cli",
            "--config",
            str(config),
            "schedule",
            "--data",
            site[1],
            "--once",
            "demo-drift",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode in (0, 3), out.stderr[-2000:]
    history = api(site, "/history")["history"]
    assert [h["report"] for h in history] == ["demo-drift"]
    page.goto(site[0] + "/trends")
    table = page.get_by_role("table", name="Scheduled runs")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator(".verdict")).to_have_text(history[0]["verdict"].upper())
    expect(table).to_contain_text(f"{history[0]['score']:.2f}")
    # the score, and the meaning of the answers over time (the semantic stability trend)
    expect(page.locator("main canvas")).to_have_count(2)
    semantic = history[0]["semantic"]
    assert semantic["status"] == "moved"
    expect(table).to_contain_text(f"{semantic['effect']:.3f} moved")
    expect(page.get_by_label("Report")).to_have_value("demo-drift")


def test_models_page_shows_the_cards_with_the_time_range_in_the_url(page: Any, site: tuple[str, str]) -> None:
    page.get_by_role("link", name="Models").click()
    page.wait_for_url(re.compile(r"/models"))
    volume = page.locator('[data-card="volume"] .kpi-value')
    expect(volume).not_to_have_text("")
    cards = api(site, "/models/fraud/cards?version=v2&range=2h")
    assert cards["volume"]["inferences"] > 0  # the demo's v2 served the last hour
    expect(volume).to_have_text(f"{cards['volume']['inferences']:,}")
    expect(page.locator('[data-card="labels"] .kpi-value')).to_have_text(
        f"{100 * cards['labels']['label_coverage']:.1f}% labelled"
    )
    for card in ("per-minute", "segments", "scatter"):
        page.locator(f'[data-card="{card}"] canvas').wait_for()
    # the range, version, feature and colour key are in the URL, and a reload keeps them
    page.get_by_label("Range").select_option("24h")
    page.wait_for_url(re.compile(r"range=24h"))
    page.get_by_label("Version").select_option("v1")
    page.wait_for_url(re.compile(r"version=v1"))
    page.get_by_label("Colour by").select_option("country")
    page.wait_for_url(re.compile(r"colour=country"))
    page.get_by_label("Feature").select_option("tx_last_24h")
    page.wait_for_url(re.compile(r"feature=tx_last_24h"))
    page.reload()
    v1 = api(site, "/models/fraud/cards?version=v1&range=24h")
    expect(page.locator('[data-card="volume"] .kpi-value')).to_have_text(f"{v1['volume']['inferences']:,}")
    assert page.get_by_label("Feature").input_value() == "tx_last_24h"
    expect(page.get_by_role("img", name="prediction against tx_last_24h")).to_be_visible()
    screenshot(page, "models")


def test_models_page_without_inferences_shows_how_to_log_one(browser: Any, tmp_path: Any) -> None:
    server = ConsoleServer(create_app(Settings(str(tmp_path / "empty"))), "127.0.0.1", 0).start()
    try:
        pg = browser.new_page()
        pg.goto(server.url + "/models")
        expect(pg.get_by_role("region", name="getting started with models")).to_contain_text("log_inference(")
        pg.close()
    finally:
        server.stop()


def test_a_model_drift_report_shows_features_and_performance_per_window(browser: Any, tmp_path: Any) -> None:
    """Models page → compare v1 and v2 → the model's drift report: features by effect with their
    overlays, the multivariate signal, and performance per window with its band, label coverage and
    CBPE's estimate; a window whose labels are 30% in is shown as provisional."""
    import numpy as np

    from tests.ml_tables import classifier_rows, write_classifier

    root = str(tmp_path / "data")
    day = 86_400
    t0 = 1_780_272_000.0  # 2026-06-01T00:00:00Z
    write_classifier(root, "v1", t0, classifier_rows(3000, 1), seed=1)
    write_classifier(root, "v2", t0 + 2 * day, classifier_rows(3000, 2, flip=0.12), seed=2)
    partial = np.random.default_rng(3).random(3000) < 0.3
    write_classifier(root, "v2", t0 + 3 * day, classifier_rows(3000, 4, sd=0.58), labelled=partial, seed=4)
    server = ConsoleServer(create_app(Settings(root)), "127.0.0.1", 0).start()
    errors: list[str] = []
    try:
        pg = browser.new_page(viewport={"width": 1280, "height": 900})
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.set_default_timeout(30_000)
        pg.goto(server.url + "/models?model=fraud")
        form = pg.get_by_role("form", name="Model drift report")
        form.get_by_label("Baseline").select_option("v1")
        form.get_by_label("Candidate").select_option("v2")
        form.get_by_role("link", name="Drift report: v1 → v2").click()
        pg.wait_for_url(re.compile(r"/diff\?.*model=fraud"))
        perf = pg.get_by_role("region", name="Performance against labels")
        expect(perf).to_contain_text("positive class “fraud”")
        r = httpx.get(server.url + "/api/v1/models/fraud/diff?baseline=v1&candidate=v2", timeout=60).json()
        windows = {w["label"]: w for w in r["performance"]["windows"]}
        assert not windows["2026-06-03"]["provisional"] and windows["2026-06-04"]["provisional"]
        fell = perf.locator('tr[data-window="2026-06-03"] td[data-status]')
        expect(fell).to_have_text("fell")
        expect(perf.locator('tr[data-window="2026-06-04"] td[data-status]')).to_have_text(
            "provisional (labels not all in)"
        )
        accuracy = next(m for m in windows["2026-06-03"]["metrics"] if m["name"] == "accuracy")
        expect(perf.locator('tr[data-window="2026-06-03"]')).to_contain_text(f"{accuracy['value']:.3f}")
        expect(perf.locator('tr[data-window="2026-06-03"]')).to_contain_text(f"{accuracy['estimated']:.3f}")
        expect(pg.get_by_role("img", name=re.compile("Accuracy per window with 95% interval"))).to_be_visible()
        perf.get_by_label("performance metric").select_option("roc_auc")
        expect(pg.get_by_role("img", name=re.compile("ROC AUC per window"))).to_be_visible()
        expect(pg.locator('[data-dimension="multivariate.pca_error"]')).to_be_visible()
        expect(pg.locator('[data-dimension="feature.x"]')).to_be_visible()
        screenshot(pg, "model-drift")
        pg.close()
    finally:
        server.stop()
    assert not errors, errors
