"""The Playground page in a real headless Chromium, on `driftline serve --ui-port` (receiver and console
in one process) with a loopback OpenAI-compatible server as the endpoint: prompts sent as two agent
versions land as runs, the picked ones are promoted to a named baseline, and the drift report compares
a version against it."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_live import _start
from tests.llm_server import LLMServer

TOKEN = "playground-token"


def _ask(page: Any, version: str, prompt: str) -> None:
    form = page.get_by_role("form", name="Send a prompt")
    form.get_by_label("Version").fill(version)
    form.get_by_label("Prompt", exact=True).fill(prompt)
    form.get_by_role("button", name=re.compile("^Send as")).click()


def test_prompts_land_as_runs_and_picked_ones_become_a_named_baseline(browser: Any, tmp_path: Path) -> None:
    with LLMServer() as llm:
        config = tmp_path / "driftline.toml"
        config.write_text(f'[playground]\nendpoint = "{llm.base_url}"\nmodel = "gpt-4o-mini"\nsystem = "Be brief."\n')
        proc, url, log = _start(tmp_path / "data", "--ui-auth-token", TOKEN, "--store-content", config=config)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            page.goto(url + "/playground")
            page.get_by_label(re.compile("needs a bearer token")).fill(TOKEN)
            page.get_by_role("button", name="Use token").click()
            form = page.get_by_role("form", name="Send a prompt")
            expect(form.get_by_label("System prompt")).to_have_value("Be brief.")
            form.get_by_label("Agent").fill("support")
            _ask(page, "v9", "Where is order 42?")
            _ask(page, "v9", "When does it ship?")
            _ask(page, "v10", "Is it late?")
            cards = page.locator("article.response")
            expect(cards).to_have_count(3, timeout=30_000)
            expect(cards.first).to_contain_text("Order 42 ships Monday.")
            expect(page.get_by_role("link", name="run landed")).to_have_count(3, timeout=45_000)
            assert [body["messages"][0] for _, body in llm.requests] == [{"role": "system", "content": "Be brief."}] * 3

            # landed answers are picked; leave the v10 one out of the baseline
            v10 = cards.filter(has_text="support v10")
            v10.get_by_role("checkbox").uncheck()
            promote = page.get_by_role("region", name="Promote")
            promote.get_by_label("Name").fill("golden")
            promote.get_by_label("Note").fill("reviewed in the playground")
            promote.get_by_role("button", name="Promote 2 runs").click()
            expect(promote.get_by_role("status")).to_have_text("@golden now holds 2 runs")
            named = page.get_by_role("table", name="named baselines")
            expect(named).to_contain_text("@golden")
            expect(named).to_contain_text("v9")
            screenshot(page, "playground")

            named.get_by_label("candidate for @golden").select_option("v10")
            named.get_by_role("link", name="Compare @golden → v10").click()
            expect(page.get_by_role("heading", level=1)).to_have_text("@golden → v10", timeout=60_000)
            expect(page.locator(".summary-grid")).to_contain_text("2 baseline runs")
            report = httpx.get(
                url + "/api/v1/diff",
                params={"baseline": "@golden", "candidate": "v10"},
                headers={"Authorization": f"Bearer {TOKEN}"},
                timeout=60,
            ).json()
            assert report["baseline"]["versions"] == ["v9"] and report["baseline_record"]["note"] == (
                "reviewed in the playground"
            )
            runs = httpx.get(url + "/api/v1/runs", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30).json()
            assert {r["environment"] for r in runs["runs"]} == {"playground"} and len(runs["runs"]) == 3
        finally:
            context.close()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=60)
        assert proc.returncode == 0, "".join(log)[-3000:]
        assert not errors, errors
