"""Import boundaries (design §1): instrumentation imports neither other package; analysis imports
only ``collector.schema`` (and the collector's CLI registration) of the collector."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).parents[2]


def _imports(package_dir: str) -> list[tuple[str, str]]:
    found = []
    for path in (ROOT / package_dir).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.append((str(path.relative_to(ROOT)), node.module))
            elif isinstance(node, ast.Import):
                found.extend((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
    return found


def test_instrumentation_imports_no_other_driftline_package() -> None:
    bad = [
        (f, m) for f, m in _imports("instrumentation") if m.startswith(("driftline.collector", "driftline.analysis"))
    ]
    assert not bad


def test_analysis_imports_only_the_schema_of_the_collector() -> None:
    # the schema (the data contract), and the switch of compiled accelerators
    # (DRIFTLINE_NATIVE: one rule for the collector's reader and the diff's KS merge)
    # and the embedding model with its vector store (one model for the receiver's embeddings-only mode and
    # the diff's semantic dimension: a vector is only ever compared with vectors of the same file)
    # and the inventory of a dataset's files (which files every reader may read: on-disk layout), and the
    # encryption at rest of those files (the key that reads them: one rule for the writer and every reader)
    allowed = {
        "driftline.collector.crypto",
        "driftline.collector.schema",
        "driftline.collector.inventory",
        "driftline.collector.native",
        "driftline.collector.embed.model",
        "driftline.collector.embed.store",
        "driftline.collector.embed.text",
    }
    # the root group registers the collector's commands (serve with the console's extension, models import)
    registration = {
        ("analysis/cli.py", "driftline.collector.cli"),
        ("analysis/commands/models.py", "driftline.collector.cli"),
    }
    # `driftline demo` embeds a receiver: that is what the demo shows, end to end
    demo = {
        ("analysis/commands/demo.py", "driftline.collector.app"),
        ("analysis/commands/demo.py", "driftline.collector.config"),
        # `driftline conventions` prints the collector's mapping report beside the analysis's counting rule
        ("analysis/commands/conventions.py", "driftline.collector.conventions_report"),
        ("analysis/commands/conventions.py", "driftline.collector.conflicts"),
        # `driftline reset` picks the runs (analysis) and has the collector erase their traces (it writes the root)
        ("analysis/commands/reset.py", "driftline.collector.sink.erase"),
        # `driftline status` asks the receiver's health as the doctor does
        ("analysis/commands/live.py", "driftline.collector.doctor"),
    }
    bad = [
        (f, m)
        for f, m in _imports("analysis")
        if m.startswith("driftline.collector") and m not in allowed and (f, m) not in demo | registration
    ]
    assert not bad


def test_collector_never_imports_analysis() -> None:
    assert not [(f, m) for f, m in _imports("collector") if m.startswith("driftline.analysis")]


def test_the_neutral_module_imports_neither_package() -> None:
    """``driftline.common`` (time parsing, the shared options) is imported by both: it imports neither."""
    assert not [(f, m) for f, m in _imports("common") if m.startswith(("driftline.collector", "driftline.analysis"))]
