"""Performance against late labels, end to end: inferences and labels written by the receiver's Parquet
writer, ``driftline diff --model`` in every format, and a scheduled ``[[report]] model = "fraud"`` that
reads a window as provisional while 30% of its labels are in, then as final once the rest arrive —
the history keeps both readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

from driftline.analysis.cli import cli
from driftline.analysis.report.json_render import schema
from driftline.analysis.schedule import history
from driftline.analysis.schedule.entries import parse
from driftline.analysis.schedule.scheduler import Scheduler
from tests.ml_tables import classifier_rows, write_classifier

DAY = 86_400
T0 = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
N = 3000


@pytest.fixture()
def data(tmp_path: Path) -> tuple[str, dict, np.ndarray]:
    """v1 (fully labelled) on June 1; v2 on June 3 whose labels flip 12% (the model got worse), only
    30% of them in so far."""
    root = str(tmp_path / "data")
    write_classifier(root, "v1", T0, classifier_rows(N, 1), seed=1)
    rows = classifier_rows(N, 2, flip=0.12)
    first = np.random.default_rng(9).random(N) < 0.3
    write_classifier(root, "v2", T0 + 2 * DAY, rows, labelled=first, seed=2)
    return root, rows, first


def _diff(root: str, *args: str) -> tuple[int, str]:
    out = CliRunner().invoke(cli, ["diff", "--model", "fraud", "v1", "v2", *args, "--data", root])
    return out.exit_code, out.output


def test_a_window_is_provisional_until_its_labels_land_then_judged(data: tuple[str, dict, np.ndarray]) -> None:
    root, rows, first = data
    code, out = _diff(root, "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    perf = doc["performance"]
    assert perf["task"] == "binary" and perf["positive"] == "fraud"
    (window,) = perf["windows"]
    assert window["provisional"] and 0.25 < window["coverage"] < 0.35
    assert {m["status"] for m in window["metrics"]} == {"provisional"}
    accuracy = next(m for m in window["metrics"] if m["name"] == "accuracy")
    assert accuracy["estimated"] is not None and accuracy["estimation_error"] is None  # partial labels: no error
    assert doc["verdict"]["verdict"] == "stable"  # a provisional window is never part of the verdict
    assert any("Provisional" in r for r in doc["verdict"]["reasons"])
    write_classifier(root, "v2", T0 + 2 * DAY, rows, labelled=~first, seed=2, inferences=False, stem="late")
    code, out = _diff(root, "--format", "json")
    doc = json.loads(out)
    (window,) = doc["performance"]["windows"]
    assert not window["provisional"] and window["coverage"] == 1.0
    accuracy = next(m for m in window["metrics"] if m["name"] == "accuracy")
    assert accuracy["status"] == "worse" and accuracy["difference"] < -0.05
    assert accuracy["estimated"] is not None  # CBPE's estimate beside the realised value, and its error
    assert accuracy["estimation_error"] == pytest.approx(accuracy["value"] - accuracy["estimated"])

    assert doc["verdict"]["verdict"] == "review"
    worse = [r for r in doc["verdict"]["reasons"] if r.startswith("Performance worse in window 2026-06-03")]
    assert worse and "Accuracy fell 0.9" in worse[0] and "Log loss rose" in worse[0]


def test_terminal_markdown_html_and_options(data: tuple[str, dict, np.ndarray], tmp_path: Path) -> None:
    root, _, _ = data
    code, out = _diff(root, "--format", "markdown", "--chunk", "1000")
    assert code == 0, out
    assert "### Performance against labels" in out and "| #3 |" in out and "provisional" in out
    code, out = _diff(root, "--format", "terminal", "--positive", "legit", "--label-coverage", "0.2")
    assert code == 0 and "Performance against labels" in out and "positive class 'legit'" in out
    html_path = tmp_path / "r.html"
    code, _ = _diff(root, "--html", str(html_path))
    assert code == 0 and 'id="performance"' in html_path.read_text()
    code, out = _diff(root, "--chunk", "fortnight")
    assert code == 2 and "--chunk 'fortnight'" in out
    code, out = _diff(root, "--positive", "spam")
    assert code == 1 and "not a class of this model" in out


def test_a_scheduled_model_report_keeps_the_provisional_and_the_final_reading(
    data: tuple[str, dict, np.ndarray], tmp_path: Path
) -> None:
    root, rows, first = data
    doc = {
        "report": [
            {
                "name": "fraud-daily",
                "cron": "0 6 * * *",
                "model": "fraud",
                "baseline": "v1",
                "candidate": "v2",
                "formats": ["json"],
                "output_dir": str(tmp_path / "out"),
            }
        ]
    }
    sched = Scheduler(root, parse(doc), doc)
    day4 = datetime(2026, 6, 4, 6, tzinfo=UTC)
    (first_run,) = sched.run_pending(day4 - timedelta(minutes=1), day4)
    assert first_run.verdict == "stable"
    write_classifier(root, "v2", T0 + 2 * DAY, rows, labelled=~first, seed=2, inferences=False, stem="late")
    (second_run,) = sched.run_pending(day4 + timedelta(days=1) - timedelta(minutes=1), day4 + timedelta(days=1))
    assert second_run.verdict == "review"
    past = history.read(root, "fraud-daily")
    assert [r["verdict"] for r in past] == ["stable", "review"]
    readings = [r["performance"][0] for r in past]
    assert [w["provisional"] for w in readings] == [True, False]
    assert [w["window"] for w in readings] == ["2026-06-03", "2026-06-03"]
    assert readings[1]["metrics"]["accuracy"]["status"] == "worse"
    latest = json.loads((tmp_path / "out" / "fraud-daily" / "latest.json").read_text())
    assert latest["performance"]["windows"][0]["coverage"] == 1.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"agent": "a"}, "an agent or a model, not both"),
        ({"sequential": True}, "sequential monitoring is for agent reports"),
        ({"chunk": "fortnight"}, "chunk must be"),
    ],
)
def test_bad_model_entries_are_refused(extra: dict, message: str) -> None:
    doc = {"report": [{"name": "m", "cron": "0 6 * * *", "model": "fraud", **extra}]}
    with pytest.raises(ValueError, match=message):
        parse(doc)


def test_hypotheses_read_the_findings_together(data: tuple[str, dict, np.ndarray], tmp_path: Path) -> None:
    """Accuracy fell while the inputs did not move and CBPE expected no fall: concept drift, in the
    report's hypotheses; a [[model_hypothesis]] override rewords it."""
    root, rows, first = data
    write_classifier(root, "v2", T0 + 2 * DAY, rows, labelled=~first, seed=2, inferences=False, stem="late")
    code, out = _diff(root, "--format", "json")
    assert code == 0, out
    found = json.loads(out)["hypotheses"]
    assert found and found[0]["rule"] == "performance_concept" and "concept drift" in found[0]["text"]
    conf = tmp_path / "driftline.toml"
    conf.write_text('[[model_hypothesis]]\nid = "performance_concept"\ntext = "Labels changed meaning in {window}."\n')
    out = CliRunner().invoke(
        cli, ["--config", str(conf), "diff", "--model", "fraud", "v1", "v2", "--format", "json", "--data", root]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["hypotheses"][0]["text"] == "Labels changed meaning in 2026-06-03."
    conf.write_text('[[model_hypothesis]]\nid = "x"\nwhen = "sometimes"\ntext = "?"\n')
    out = CliRunner().invoke(cli, ["--config", str(conf), "diff", "--model", "fraud", "v1", "v2", "--data", root])
    assert out.exit_code == 1 and "needs text and when = one of" in out.output


def test_performance_per_segment_names_the_segment_that_fell(tmp_path: Path) -> None:
    """--by country: v2 got worse only in FR (its labels flipped 15% there); FR's performance is compared
    with FR's baseline, in the same family, and a hypothesis names the segment."""
    root = str(tmp_path / "data")
    countries = np.array(["FR", "DE", "US"] * (N // 3))
    write_classifier(root, "v1", T0, classifier_rows(N, 1), seed=1, segment=countries)
    good, bad = classifier_rows(N, 2), classifier_rows(N, 3, flip=0.15)
    fr = countries == "FR"
    mixed = {k: np.where(fr, bad[k], good[k]) for k in good}
    write_classifier(root, "v2", T0 + 2 * DAY, mixed, seed=2, segment=countries)
    code, out = _diff(root, "--format", "json", "--by", "country")
    assert code == 0, out
    doc = json.loads(out)
    jsonschema.validate(doc, schema())
    segments = {w["label"]: w for w in doc["performance"]["segments"]}
    assert set(segments) == {"country=FR", "country=DE", "country=US"}

    def accuracy(w: dict) -> dict:
        return next(m for m in w["metrics"] if m["name"] == "accuracy")

    assert accuracy(segments["country=FR"])["status"] == "worse"
    assert accuracy(segments["country=DE"])["status"] in ("unchanged", "negligible")
    assert any(r.startswith("Performance worse in segment country=FR") for r in doc["verdict"]["reasons"])
    rules = [h["rule"] for h in doc["hypotheses"]]
    assert "performance_segment" in rules
    text = next(h["text"] for h in doc["hypotheses"] if h["rule"] == "performance_segment")
    assert "segment country=FR" in text
    code, out = _diff(root, "--format", "markdown", "--by", "country")
    assert "| country=FR |" in out
