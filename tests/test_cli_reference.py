"""Every command is documented: an example in its help, a section in docs/cli.md, a mention in the README."""

import importlib.util
from pathlib import Path

import click
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


def shown_examples(text: str) -> list[str]:
    """Every `review-project ...` command line in the text's indented examples and code blocks."""
    lines, joined = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if joined:
            joined += " " + line
        elif line.startswith("review-project ") and not line.startswith("review-project COMMAND"):
            joined = line
        else:
            continue
        if joined.endswith("\\"):
            joined = joined[:-1].rstrip()
            continue
        lines.append(joined)
        joined = ""
    return lines


def parse_with_the_real_cli(line: str) -> None:
    """Parse a shown command line as click would, without running it; raises click's usage errors."""
    import shlex

    words = shlex.split(line, comments=True)
    assert words[0] == "review-project", line
    # The group itself takes only --help and --version, so the command is the second word.
    name, *rest = words[1:]
    command = cli.commands.get(name)
    assert command is not None, f"no command {name!r} in: {line}"
    command.make_context(name, rest, parent=click.Context(cli, info_name="review-project"))


@pytest.mark.parametrize("document, at_least", [("docs/cli.md", 10), ("README.md", 5)])
def test_every_example_shown_parses_with_the_real_cli(document, at_least):
    examples = shown_examples((ROOT / document).read_text())
    assert len(examples) >= at_least, f"found only {len(examples)} examples in {document}"
    for line in examples:
        parse_with_the_real_cli(line)
    if document == "docs/cli.md":
        assert {line.split()[1] for line in examples} == set(cli.commands), "every command's help shows an example"


def test_a_wrong_example_would_be_caught():
    with pytest.raises(click.UsageError):
        parse_with_the_real_cli("review-project status --no-such-option")
    with pytest.raises(click.UsageError):
        parse_with_the_real_cli("review-project sample INPUT")  # -o is required
