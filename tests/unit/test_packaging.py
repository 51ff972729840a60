"""Every package directory ships in the wheel (editable installs would hide a missing entry)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_every_package_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    found = set()
    for name, directory in mapping.items():
        for init in (ROOT / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / directory)
            found.add(".".join([name, *relative.parts]) if relative.parts else name)
    assert found == set(config["packages"])
    for pattern in config.get("package-data", {}).get("driftline.analysis", []):
        assert list((ROOT / "analysis").glob(pattern)), pattern
