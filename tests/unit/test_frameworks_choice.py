"""``setup(instrument="auto")``: which tracing each framework gets, and that the names are real."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pytest

from driftline.instrumentation import _requested, frameworks
from driftline.instrumentation.frameworks import Framework


def test_native_tracing_wins_then_the_maintained_instrumentor_then_nothing() -> None:
    native = Framework("x", "json", native=True, instrumentor=("json", "JSONDecoder"))
    assert frameworks.choose(native) == ("native", None)
    maintained = Framework("y", "json", native=False, instrumentor=("json", "JSONDecoder"))
    assert frameworks.choose(maintained) == ("instrumentor", ("json", "JSONDecoder"))
    missing = Framework("z", "json", native=False, instrumentor=("no_such_instrumentor_pkg", "I"))
    assert frameworks.choose(missing) == ("none", None)


def test_an_installed_framework_without_tracing_says_which_extra_to_install(caplog) -> None:
    missing = Framework("smolagents", "json", native=False, instrumentor=("no_such_instrumentor_pkg", "I"))
    with caplog.at_level(logging.WARNING, logger="driftline.instrumentation"):
        assert frameworks.instrument(missing, None) == []
    assert "pip install 'driftline[smolagents]'" in caplog.text


def test_frameworks_are_found_without_importing_them() -> None:
    assert frameworks.installed(Framework("j", "json", native=False, instrumentor=None))
    assert not frameworks.installed(Framework("n", "no_such_framework_pkg", native=False, instrumentor=None))


def test_auto_means_every_importable_sdk_and_framework() -> None:
    names = _requested("auto")
    assert {"openai", "anthropic", "langchain"} <= set(names)  # the dev environment has all three SDKs
    assert [n for n in names if n in frameworks.BY_NAME] == [f.name for f in frameworks.present()]
    assert _requested(("openai",)) == ["openai"] and _requested("openai") == ["openai"]


def test_an_unknown_name_is_refused_with_the_choices() -> None:
    from driftline.instrumentation import _instrument, settings

    with pytest.raises(ValueError, match=r"choose from .*llamaindex"):
        _instrument("llamaindexx", settings.Settings())


def test_every_maintained_instrumentor_named_is_an_extra_and_ours_are_entry_points() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for f in frameworks.FRAMEWORKS:
        if f.instrumentor:
            dist = f.instrumentor[0].replace(".", "-").replace("_", "-")
            assert any(r.startswith(dist) for r in extras[f.name]), (f.name, extras.get(f.name))
    ours = {ep.value for ep in entry_points(group="opentelemetry_instrumentor") if ep.name.startswith("driftline")}
    drivers = {f"{f.driver[0]}:{f.driver[1]}" for f in frameworks.FRAMEWORKS if f.driver}
    assert drivers <= ours


class _Broken:
    is_instrumented_by_opentelemetry = False

    def instrument(self, **kwargs: object) -> None:
        raise RuntimeError("unknown framework release")


def test_an_instrumentor_that_fails_is_logged_and_the_app_goes_on(caplog, monkeypatch) -> None:
    import sys
    import types

    module = types.ModuleType("driftline_test_broken_instrumentor")
    module.Broken = _Broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    broken = Framework("x", "json", native=False, instrumentor=(module.__name__, "Broken"))
    monkeypatch.setattr(frameworks, "_available", lambda target: True)
    with caplog.at_level(logging.WARNING, logger="driftline.instrumentation"):
        assert frameworks.instrument(broken, None) == []
    assert "could not turn on driftline_test_broken_instrumentor.Broken (RuntimeError" in caplog.text
