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


def test_every_library_review_project_imports_is_a_declared_dependency():
    """`pip install red-team-review` must give everything the lead's commands import (ijson was missing)."""
    import ast
    import re
    import sys
    from importlib.metadata import packages_distributions

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-") for requirement in project["dependencies"]}
    distributions = packages_distributions()
    # The worker is reached only through its extra, imported when a worker command runs.
    ours = {"review_project", "workers", "label_configs"}
    missing = {}
    for path in (ROOT / "review_project").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for top in {name.split(".")[0] for name in names} - ours - sys.stdlib_module_names:
                wanted = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not wanted & declared:
                    missing.setdefault(top, path.relative_to(ROOT).as_posix())
    assert not missing, f"imported but not in [project] dependencies: {missing}"
