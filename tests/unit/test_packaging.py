"""Every package directory ships in the wheel (editable installs would hide a missing entry)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def test_every_package_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    found = set()
    for name, directory in mapping.items():
        for init in (ROOT / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / directory)
            found.add(".".join([name, *relative.parts]) if relative.parts else name)
    # a data-only directory is listed too (else setuptools warns it "would be ignored") and says what it ships
    data_only = set(config["packages"]) - found
    assert found <= set(config["packages"]) and data_only <= set(config["package-data"]), data_only
    for package, patterns in config["package-data"].items():
        if package == "driftline.analysis.api":
            continue  # the built console: checked below
        top, *rest = package.split(".")[1:]
        directory = ROOT / mapping[f"driftline.{top}"] / Path(*rest)
        for pattern in patterns:
            assert [p for p in directory.glob(pattern) if p.is_file()], f"{package}: {pattern}"


def test_the_wheel_carries_the_built_console() -> None:
    """The console's build output is package data (it is not in git; `make console` builds it)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["driftline.analysis.api"]
    static = ROOT / "analysis" / "api"
    if not (static / "static" / "index.html").exists():
        if os.environ.get("CI"):
            pytest.fail("the console is not built: `make setup` runs `make console` before the tests")
        pytest.skip("the console is not built in this checkout (make console)")
    matched = {p.relative_to(static).as_posix() for pattern in patterns for p in static.glob(pattern) if p.is_file()}
    built = {p.relative_to(static).as_posix() for p in (static / "static").rglob("*") if p.is_file()}
    assert built <= matched and "static/index.html" in matched
    assert any(name.endswith(".js") for name in matched)
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "analysis/api/static/" in ignored and "node_modules/" in ignored


@pytest.mark.slow
def test_the_wheel_builds_with_the_compiled_reader_and_without_a_compiler(tmp_path: Path) -> None:
    """gcc present: the wheel carries ``_logscan``, ``_spanscan`` and ``_ks``; no compiler (CC=/bin/false): the
    build still succeeds and the wheel has only the Python readers (``optional = true`` in pyproject.toml)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    contents = {}
    skip = shutil.ignore_patterns("*.so", "build", "node_modules", "web", "__pycache__", "*.egg-info")
    for name, env in (("gcc", {}), ("none", {"CC": "/bin/false"})):
        src, out = tmp_path / f"src-{name}", tmp_path / name  # a clean tree: no build/ or in-place module
        for part in ("common", "collector", "analysis", "instrumentation"):
            shutil.copytree(ROOT / part, src / part, ignore=skip)
        for part in ("pyproject.toml", "README.md", "LICENSE"):
            shutil.copy(ROOT / part, src / part)
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
            check=True,
            capture_output=True,
            env={**os.environ, **env},
            timeout=300,
        )
        (wheel,) = out.glob("*.whl")
        contents[name] = zipfile.ZipFile(wheel).namelist()
    for module in ("_logscan", "_spanscan"):  # the compiled readers of logs and of spans
        compiled = [n for n in contents["gcc"] if n.startswith(f"driftline/collector/native/{module}")]
        assert compiled and compiled[0].endswith(".so"), module
        assert not [n for n in contents["none"] if module in n]
    assert "driftline/collector/native/__init__.py" in contents["none"]
    assert "driftline/analysis/ml/hypotheses.toml" in contents["none"]  # the model rules ship as data
    # the vendored tokenizer of the embedding model, and its licence notice
    assert {
        "driftline/collector/embed/data/all-MiniLM-L6-v2.tokenizer.json",
        "driftline/collector/embed/data/NOTICE",
    } <= set(contents["none"])
    # the diff's KS merge likewise: compiled where gcc is, the numpy merge (significance.py) where not
    assert [n for n in contents["gcc"] if n.startswith("driftline/analysis/stats/_ks") and n.endswith(".so")]
    assert not [n for n in contents["none"] if "/_ks" in n]


@pytest.mark.slow
def test_the_sdist_carries_what_the_extensions_are_built_from(tmp_path: Path) -> None:
    """Built from the sdist, the compiled readers need their shared header (``depends`` in pyproject)."""
    import shutil
    import subprocess
    import sys
    import tarfile

    src = tmp_path / "src"  # a clean tree, as in git
    skip = shutil.ignore_patterns("*.so", "build", "node_modules", "web", "__pycache__", "*.egg-info")
    for part in ("common", "collector", "analysis", "instrumentation"):
        shutil.copytree(ROOT / part, src / part, ignore=skip)
    for part in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / part, src / part)
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(tmp_path / "dist"), str(src)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (name,) = (tmp_path / "dist").glob("*.tar.gz")
    with tarfile.open(name) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    headers = {"collector/native/wire.h", "collector/native/arrowcols.h"}
    assert headers | {"collector/native/spanscan.c", "collector/native/logscan.c"} <= members
