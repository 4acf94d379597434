"""The README's "What may import what", read off the code: every import of review_project/ and
workers/ is parsed (ast), with where it runs (at import time, inside a function, or for type
checking only), and a rule of the map that an import breaks fails here with the module and line."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Modules that do no I/O: no network, database, files of their own, subprocess or Slack, at import
# time or in a function (README, "The map"). Tested alone.
PURE = {
    "review_project.schema", "review_project.spreadsheet", "review_project.progress", "review_project.planning",
    "review_project.disputes",
    *(f"review_project.agreement.{m}" for m in (
        "kappa", "ordinal", "arrays", "contract", "summary", "success", "paper", "models", "topics", "reviewers",
        "disagreement", "items")),
    *(f"review_project.results.{m}" for m in (
        "attacks", "successful", "models", "ordinal", "pairs", "proxy", "reviewers")),
    "workers.milestones", "workers.pacing", "workers.survey", "workers.webhook", "workers.inbox",
}
# What doing I/O means, as an import.
IO = ("label_studio_sdk", "httpx", "psycopg", "psycopg_pool", "sqlite3", "slack_sdk", "slack_bolt", "subprocess",
      "socket", "uvicorn", "starlette", "review_project.label_studio", "review_project.live_project",
      "review_project.local_server", "workers.store", "workers.label_studio_api", "workers.slack_delivery")
# Every call to Label Studio's API goes through these (one-line errors, no transcript logged).
TALKS_TO_LABEL_STUDIO = {"review_project.label_studio", "review_project.local_server", "review_project.demo",
                         "workers.label_studio_api"}
# The modules that know about the command line: the only ones that may reach the worker.
COMMANDS = {"review_project.cli", "review_project.cli_options", "review_project.reviewer_commands"}
# What of the lead's side the worker uses: the shared contracts, the export's table, and (the
# digest, the ledger's read for the lead) the agreement, dispute and progress counts themselves.
WORKERS_MAY_USE = ("review_project.shared", "review_project.schema", "review_project.export",
                   "review_project.live_project", "review_project.agreement", "review_project.disputes",
                   "review_project.progress")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    name: str  # what it imports, dotted
    line: int
    when: str  # "import" (module level), "call" (inside a function) or "typing" (TYPE_CHECKING only)

    def __str__(self) -> str:
        return f"{self.module} (line {self.line}, {self.when}) imports {self.name}"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _imports(path: Path) -> list[Import]:
    module, found = _module_name(path), []

    def visit(node, when):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, "typing")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, "call" if when != "typing" else when)
            elif isinstance(child, ast.Import):
                found.extend(Import(module, alias.name, child.lineno, when) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.extend(Import(module, f"{child.module}.{alias.name}", child.lineno, when) for alias in child.names)
            else:
                visit(child, when)

    visit(ast.parse(path.read_text(encoding="utf-8")), "import")
    return found


IMPORTS = [i for package in ("review_project", "workers") for path in sorted((ROOT / package).rglob("*.py"))
           for i in _imports(path)]


def _is(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_the_modules_called_pure_do_no_io():
    assert PURE <= {i.module for i in IMPORTS}, "a module named in PURE does not exist"
    broken = [str(i) for i in IMPORTS if i.module in PURE and i.when != "typing" and _is(i.name, IO)]
    assert broken == []


def test_only_the_label_studio_modules_talk_to_label_studio():
    broken = [str(i) for i in IMPORTS if _is(i.name, ("label_studio_sdk", "httpx")) and i.when != "typing"
              and i.module not in TALKS_TO_LABEL_STUDIO]
    assert broken == []


def test_the_lead_side_reaches_the_worker_only_through_workers_init_when_a_command_runs():
    into_workers = [i for i in IMPORTS if i.module.startswith("review_project") and _is(i.name, ("workers",))]
    broken = [str(i) for i in into_workers
              if i.module not in COMMANDS or i.when != "call" or i.name.count(".") > 1]
    assert broken == []
    assert into_workers, "the commands reach the worker through workers/__init__.py"


def test_the_worker_uses_only_the_lead_sides_contracts_and_counts():
    broken = [str(i) for i in IMPORTS if i.module.startswith("workers") and _is(i.name, ("review_project",))
              and not _is(i.name, WORKERS_MAY_USE)]
    assert broken == []


def test_the_lead_sides_commands_import_nothing_heavy_at_import_time():
    heavy = ("label_studio_sdk", "httpx")
    lead = {*COMMANDS, "review_project.console", "review_project.shared", "review_project.manifest",
            "review_project.label_studio", "review_project.project_setup", "review_project.adjudication",
            "review_project.live_project"}
    broken = [str(i) for i in IMPORTS if i.module in lead and i.when == "import" and _is(i.name, heavy)]
    assert broken == []


@pytest.mark.parametrize("rule", ["does no I/O", "may import"])
def test_the_readme_states_the_rules_this_file_checks(rule):
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "tests/test_import_rules.py" in text
    if rule == "does no I/O":
        for module in ("planning", "spreadsheet", "disputes", "milestones", "pacing", "survey", "webhook", "inbox"):
            assert module in text.split("What may import what", 1)[1].split("One annotation's path", 1)[0], module
