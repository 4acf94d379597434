"""Setting up the review project: project settings, reviewer accounts, task import, the worker's webhook.

Every step compares what the server has with what is wanted and changes only the difference,
so running setup again with the same manifest changes nothing and imports nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
    """What setup found and what it changed."""

    project_id: int
    project_created: bool = False
    settings_updated: list[str] = field(default_factory=list)
    reviewers_created: list[str] = field(default_factory=list)
    reviewers_existing: list[str] = field(default_factory=list)
    tasks_imported: int = 0
    tasks_already_present: int = 0
    webhook: str | None = None

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
        lines.append(f"Reviewers: {len(self.reviewers_created)} accounts created, {len(self.reviewers_existing)} already there")
        if self.reviewers_created:
            lines.append(
                "New accounts have no password yet: on the server run `label-studio reset_password "
                "--username EMAIL --password ...` for each, or have reviewers sign up with the "
                "organisation's invite link before setup."
            )
        if self.webhook:
            lines.append(f"Webhook: {self.webhook}")
        if not self.changed_anything:
            lines.append("Nothing to change.")
        return "\n".join(lines)


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
) -> SetupReport:
    """Create or update the project titled `title` so it holds `attacks` for `reviewers`.

    `attacks` are manifest records (each with `attack_id`); `on_imported(n)` is called after
    each batch of n tasks, for a progress bar. `ledger` (live_project.Ledger), when given, says
    which attacks are imported already without listing the project's tasks.
    """
    if reviewers_per_task < 1:
        raise ValueError("reviewers_per_task must be at least 1")
    check_webhook_secret(webhook_url, webhook_secret)
    wanted = project_settings(reviewers_per_task, contact)
    project, created, updated = label_studio.create_or_update_project(client, title, wanted)
    report = SetupReport(project_id=project.id, project_created=created, settings_updated=updated)
    _ensure_reviewers(client, reviewers, report)
    _import_new_attacks(client, project.id, attacks, report, batch_size, on_imported, ledger)
    if webhook_url:
        report.webhook = _ensure_webhook(client, project.id, webhook_url, webhook_secret)
    return report


def _ensure_reviewers(client: LabelStudio, reviewers: list[Reviewer], report: SetupReport) -> None:
    existing = label_studio.users_by_email(client)
    for reviewer in reviewers:
        if reviewer.email.lower() in existing:
            report.reviewers_existing.append(reviewer.email)
            continue
        with translated_errors(server_url(client), f"creating the account of {reviewer.email}"):
            client.users.create(
                username=reviewer.email,
                email=reviewer.email,
                first_name=reviewer.first_name,
                last_name=reviewer.last_name,
            )
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
