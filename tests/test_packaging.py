"""What a wheel holds: setuptools ships only the packages pyproject.toml lists, subpackages included."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_project_is_listed_for_the_wheel():
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("review_project", "workers", "label_configs")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= set(listed), f"not in [tool.setuptools] packages: {sorted(found - set(listed))}"
