"""Setting up the review project: project settings, the reviewers, task import, the worker's webhook.

Every step compares what the server has with what is wanted and changes only the difference,
so running setup again with the same manifest changes nothing and imports nothing.

Reviewers join Label Studio themselves, through the organisation's invite link: setup finds them
by email and names those who have not joined yet. It makes accounts only when asked
(create_accounts), because Label Studio has no API that sets a password and its sign-up form
refuses an email that has an account: such an account is usable only after
`label-studio reset_password` on the server, and setup says how to run it.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from review_project import label_studio
from review_project.label_studio import server_url, translated_errors
from review_project.records import attack_task_data
from review_project.reviewer_interface import label_config, reviewer_instructions
from review_project.shared import (
    WEBHOOK_ACTIONS,
    WEBHOOK_SECRET_HEADER,
    Reviewer,
    SetupError,
)

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

DEFAULT_TITLE = "Red-team review"
IMPORT_BATCH = 1000


@dataclass
class SetupReport:
    """What setup found and what it changed.

    reviewers_joined : emails of the reviewers file that have an account in Label Studio;
    reviewers_not_joined : those that have none (no account made); reviewers_created : accounts
    made with create_accounts; server_data_dir : the server's data folder, when setup knows it.
    """

    project_id: int
    project_created: bool = False
    settings_updated: list[str] = field(default_factory=list)
    reviewers_joined: list[str] = field(default_factory=list)
    reviewers_not_joined: list[str] = field(default_factory=list)
    reviewers_created: list[str] = field(default_factory=list)
    tasks_imported: int = 0
    tasks_already_present: int = 0
    webhook: str | None = None
    server_data_dir: str | None = None

    @property
    def changed_anything(self) -> bool:
        return bool(
            self.project_created or self.settings_updated or self.reviewers_created
            or self.tasks_imported or self.webhook in ("created", "updated")
        )

    def text(self, title: str, server_url: str) -> str:
        """What `review-project setup` prints: what it found, what it changed, and what is left to do."""
        verb = "Created" if self.project_created else "Found"
        lines = [f"{verb} project {self.project_id} {title!r} at {server_url}/projects/{self.project_id}"]
        if self.settings_updated:
            lines.append(f"Updated project settings: {', '.join(self.settings_updated)}")
        lines.append(f"Tasks: {self.tasks_imported} imported, {self.tasks_already_present} already present")
        lines.append(self.reviewers_text())
        if self.reviewers_created:
            lines += password_steps(self.reviewers_created, self.server_data_dir)
        if self.webhook:
            lines.append(f"Webhook: {self.webhook}")
        if not self.changed_anything:
            lines.append("Nothing to change.")
        return "\n".join(lines)

    def reviewers_text(self) -> str:
        """One line: who has joined Label Studio, who has not, and what to do about it."""
        listed = len(self.reviewers_joined) + len(self.reviewers_not_joined) + len(self.reviewers_created)
        if self.reviewers_created:
            created = len(self.reviewers_created)
            return f"Reviewers: {created} account{'s' if created != 1 else ''} created, {len(self.reviewers_joined)} of {listed} had joined already"
        if not self.reviewers_not_joined:
            return f"Reviewers: all {listed} have joined Label Studio"
        return (
            f"{len(self.reviewers_not_joined)} of {listed} reviewers have not joined Label Studio yet: "
            f"{', '.join(self.reviewers_not_joined)}; send them the invite (review-project invite) and re-run setup once they have"
        )


# Label Studio's own variable for its data folder; when set it wins over `--data-dir`.
DATA_DIR_VARIABLE = "LABEL_STUDIO_BASE_DATA_DIR"


def reset_password_command(email: str, data_dir: str | None = None) -> str:
    """The shell line that gives `email`'s account a password on the server (it asks for the password).

    The data folder goes in LABEL_STUDIO_BASE_DATA_DIR, not `--data-dir`: Label Studio applies
    `--data-dir` only when that variable is unset. Without a data_dir, DATA_DIR stands for it.
    """
    folder = shlex.quote(data_dir) if data_dir else "DATA_DIR"
    return f"{DATA_DIR_VARIABLE}={folder} label-studio reset_password --username {shlex.quote(email)}"


def password_steps(emails: list[str], data_dir: str | None) -> list[str]:
    """What the lead must run for accounts setup made without a password, one command per account."""
    where = "on this machine" if data_dir else "where the server runs"
    lines = [
        f"{'The new account has' if len(emails) == 1 else f'The {len(emails)} new accounts have'} no password, "
        f"and Label Studio has no API to set one: {where} run "
        "(each asks for the new password and must print \"Password successfully changed\"):",
        *(f"  {reset_password_command(email, data_dir)}" for email in emails),
    ]
    if not data_dir:
        lines.append(
            "DATA_DIR is the server's data folder, the one holding label_studio.sqlite3: its --data-dir or "
            f"{DATA_DIR_VARIABLE}, else ~/.local/share/label-studio of the user running it (a server on PostgreSQL needs "
            "its DJANGO_DB and POSTGRE_* variables too). \"User with username ... not found\" means the wrong folder. "
            "In Docker: docker exec -it CONTAINER label-studio reset_password --username EMAIL"
        )
    return lines


def local_server_data_dir(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The data folder of the server at `url` when review_project/local_server.py started it (the
    demo's, the tests'), or None: LABEL_STUDIO_BASE_DATA_DIR names the folder (the demo's env file
    sets it) and local_server's admin file in it names this URL."""
    from review_project.local_server import ADMIN_FILE

    folder = (os.environ if environ is None else environ).get(DATA_DIR_VARIABLE)
    if not folder:
        return None
    try:
        admin = json.loads((Path(folder) / ADMIN_FILE).read_text())
    except (OSError, ValueError):
        return None
    same = isinstance(admin, dict) and str(admin.get("url", "")).rstrip("/") == url.rstrip("/")
    return str(Path(folder).resolve()) if same else None


def project_settings(reviewers_per_task: int, contact: str | None) -> dict:
    """The project fields setup owns: interface, instructions, overlap and skipping."""
    return {
        "label_config": label_config(),
        "expert_instruction": reviewer_instructions(contact),
        "show_instruction": True,
        "show_skip_button": True,
        "maximum_annotations": reviewers_per_task,
        # 100% overlap: every task is served until that many distinct reviewers annotated it.
        "overlap_cohort_percentage": 100,
    }


def check_webhook_secret(webhook_url: str | None, webhook_secret: str | None) -> None:
    """A webhook without the shared secret would be refused by the worker: say so before any change."""
    if webhook_url and not webhook_secret:
        raise SetupError("--webhook-url needs WEBHOOK_SECRET set: the worker rejects webhooks without it")


def setup_project(
    client: LabelStudio,
    attacks: list[dict],
    reviewers: list[Reviewer],
    *,
    title: str = DEFAULT_TITLE,
    reviewers_per_task: int = 4,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    contact: str | None = None,
    batch_size: int = IMPORT_BATCH,
    on_imported: Callable[[int], None] | None = None,
    ledger=None,
    create_accounts: bool = False,
    server_data_dir: str | None = None,
) -> SetupReport:
    """Create or update the project titled `title` so it holds `attacks` for `reviewers`.

    `attacks` are manifest records (each with `attack_id`); `on_imported(n)` is called after
    each batch of n tasks, for a progress bar. `ledger` (live_project.Ledger), when given, says
    which attacks are imported already without listing the project's tasks. Reviewers are found
    among the organisation's users by email; `create_accounts` makes the missing ones (without a
    password: the report says how to set one, on `server_data_dir` when known).
    """
    if reviewers_per_task < 1:
        raise ValueError("reviewers_per_task must be at least 1")
    check_webhook_secret(webhook_url, webhook_secret)
    wanted = project_settings(reviewers_per_task, contact)
    project, created, updated = label_studio.create_or_update_project(client, title, wanted)
    report = SetupReport(project_id=project.id, project_created=created, settings_updated=updated, server_data_dir=server_data_dir)
    _find_reviewers(client, reviewers, report, create_accounts)
    _import_new_attacks(client, project.id, attacks, report, batch_size, on_imported, ledger)
    if webhook_url:
        report.webhook = _ensure_webhook(client, project.id, webhook_url, webhook_secret)
    return report


def _find_reviewers(client: LabelStudio, reviewers: list[Reviewer], report: SetupReport, create_accounts: bool) -> None:
    existing = label_studio.users_by_email(client)
    for reviewer in reviewers:
        if reviewer.email.lower() in existing:
            report.reviewers_joined.append(reviewer.email)
        elif not create_accounts:
            report.reviewers_not_joined.append(reviewer.email)
        else:
            label_studio.create_user(client, reviewer.email, reviewer.first_name, reviewer.last_name)
            report.reviewers_created.append(reviewer.email)


def _import_new_attacks(client, project_id, attacks, report, batch_size, on_imported, ledger) -> None:
    known = ledger.task_attack_ids(project_id) if ledger is not None else None
    present = label_studio.imported_attack_ids(client, project_id, known)
    new = [attack for attack in attacks if int(attack["attack_id"]) not in present]
    report.tasks_already_present = len(attacks) - len(new)
    for start in range(0, len(new), batch_size):
        batch = new[start : start + batch_size]
        # attack_id also in the meta: the worker and a re-run read it there without the transcript.
        tasks = [
            {"data": attack_task_data(attack, int(attack["attack_id"])), "meta": {"attack_id": int(attack["attack_id"])}}
            for attack in batch
        ]
        first, last = batch[0]["attack_id"], batch[-1]["attack_id"]
        with translated_errors(server_url(client), f"importing attacks {first}..{last}"):
            client.projects.import_tasks(id=project_id, request=tasks, return_task_ids=False)
        report.tasks_imported += len(batch)
        if on_imported:
            on_imported(len(batch))


def _ensure_webhook(client: LabelStudio, project_id: int, url: str, secret: str) -> str:
    wanted = {
        "url": url,
        "send_payload": True,
        "send_for_all_actions": False,
        "actions": list(WEBHOOK_ACTIONS),
        "headers": {WEBHOOK_SECRET_HEADER: secret},
        "is_active": True,
    }
    doing = f"registering the webhook for project {project_id}"
    with translated_errors(server_url(client), doing):
        hooks = [h for h in client.webhooks.list(project=str(project_id)) if h.url == url]
        if not hooks:
            client.webhooks.create(project=project_id, **wanted)
            return "created"
        hook = hooks[0]
        same = (
            sorted(hook.actions or []) == sorted(WEBHOOK_ACTIONS)
            and (hook.headers or {}) == wanted["headers"]
            and hook.send_payload and hook.is_active and not hook.send_for_all_actions
        )
        if same:
            return "unchanged"
        client.webhooks.update(id=hook.id, **wanted)
        return "updated"
