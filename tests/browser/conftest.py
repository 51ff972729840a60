"""Headless Debian Chromium driven by Playwright (never a downloaded browser), and the console server.

Screenshots go to ``tests/artifacts/`` (not committed); with ``DRIFTLINE_README_SCREENSHOTS=DIR``
(``make screenshots``) the README's two are written there too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).parents[1] / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: `make browser` (apt-get install chromium) should have done it")
        pytest.skip("Debian's chromium is not installed (make browser)")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def screenshot(page: object, name: str, readme: bool = False) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]
    target = os.environ.get("DRIFTLINE_README_SCREENSHOTS")
    if readme and target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(ARTIFACTS / f"{name}.png", Path(target) / f"{name}.png")


def demo_data(root: Path, runs: int) -> str:
    """Data made by the real pipeline: `driftline demo` (instrumentation → OTLP → receiver → Parquet)."""
    out = subprocess.run(
        [sys.executable, "-m", "driftline.analysis.cli", "demo", "--runs", str(runs), "--data", str(root)],
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return str(root)
