"""Every command is documented: an example in its help, a section in docs/cli.md, a mention in the README."""

import importlib.util
from pathlib import Path

import pytest

from review_project.cli import cli

ROOT = Path(__file__).resolve().parent.parent


def load_reference_script():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_cli_md_is_current():
    reference = load_reference_script()
    assert (ROOT / "docs" / "cli.md").read_text() == reference.render(), "run: .venv/bin/python scripts/cli_reference.py"


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_has_an_example_and_is_in_the_readme(name):
    assert "Example:" in (cli.commands[name].help or "")
    assert f"review-project {name}" in (ROOT / "README.md").read_text() or f"`{name}`" in (ROOT / "README.md").read_text()
