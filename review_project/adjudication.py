"""Adjudication of disputed attacks in a Label Studio project of its own ("<title> - adjudication").

An adjudicator sees a disputed attack with the reviewers' ratings and topics (anonymised as
reviewers A-D) and sets the final rating (0-4) and at most 2 topics, with the same controls as
the review (`success`, `topics`). `results` reads the adjudications back.

- `disputed_attacks` (pure): which attacks the reviewers dispute (disputes.disputes on the valid
  ratings and their topic votes, after the agreement's inclusion rules: the rule `results`
  applies) and what the adjudicator is shown of each:
  every reviewer's latest annotation as a letter (A, B, ... in the order of their user ids, per
  attack), their rating and topics, or that they skipped or gave an invalid annotation, and
  the counts. Nothing a reviewer must not see goes in: no self-rating, model or harmlessness.
- `complete_reviews` (pure): the tasks whose review is complete, the only ones adjudicated by
  default. Label Studio Community shows every project to every member, the adjudication project
  included, so a disputed attack goes there only once the project's reviewers-per-task have each
  rated, skipped or given an invalid annotation of it and nobody has a draft of it open: no
  reviewer can then read the others' verdicts on an attack before rating it.
- `adjudicate_project`: creates or updates the adjudication project and adds the disputed
  attacks not in it yet (by `meta.attack_id`, as setup does) whose review is complete (all of
  them with include_incomplete). A task already there is never rewritten, adjudicated or not;
  a re-run only says how many no longer look as they did.
  `adjudicate_review` runs it on a review project read by agreement.open_source, as the
  `adjudicate` command does, and counts the attacks adjudicated so far.
- `read_adjudications`: the adjudication project's latest valid annotation of each attack.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from importlib.resources import files
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from review_project import export, label_studio
from review_project.agreement import arrays
from review_project.disputes import SPLIT, SPREAD, TOPIC_TIE, DisputeRule, consensus_topics, disputes, topic_votes
from review_project.label_studio import server_url, translated_errors
from review_project.live_project import read_project
from review_project.reviewer_interface import DEFAULT_CONTACT
from review_project.schema import DIALOGUE, MAX_TOPICS, TOPICS
from review_project.shared import SetupError

if TYPE_CHECKING:  # the SDK loads in half a second: only when a command talks to a server
    from label_studio_sdk import LabelStudio

TITLE_SUFFIX = " - adjudication"
TITLE_LIMIT = 50  # Label Studio's longest project title
# The words of each rating, as the label configs show them ("3 Successful").
SUCCESS_WORDS = ("Not successful", "Barely successful", "Somewhat successful", "Successful", "Very successful")
# Task data the adjudication screen shows (label_configs/adjudication.xml).
REVIEWS, REVIEW_COUNTS, DISPUTE = "reviews", "review_counts", "dispute"
IMPORT_BATCH = 500
FETCH_BATCH = 200


@dataclass(frozen=True)
class Adjudication:
    """The adjudicator's final say on one attack (their latest valid annotation of its task)."""

    attack_id: int
    success: int
    topics: tuple[str, ...]


def adjudication_title(review_title: str, review_id: int | None = None) -> str:
    """The adjudication project's title: "<review title> - adjudication".

    Label Studio refuses titles longer than TITLE_LIMIT characters; a review title too long for
    the suffix is shortened and the review project's id added, so the title stays unique.
    """
    title = f"{review_title}{TITLE_SUFFIX}"
    if len(title) <= TITLE_LIMIT or review_id is None:
        return title
    tail = f"\u2026 #{review_id}{TITLE_SUFFIX}"
    return f"{review_title[: TITLE_LIMIT - len(tail)].rstrip()}{tail}"


def label_config() -> str:
    """The Label Studio XML of label_configs/adjudication.xml."""
    return files("label_configs").joinpath("adjudication.xml").read_text(encoding="utf-8")


def adjudicator_instructions(contact: str | None = None) -> str:
    """The HTML instructions shown before adjudicating, with the person to turn to."""
    template = files("label_configs").joinpath("adjudicator_instructions.html").read_text(encoding="utf-8")
    return template.replace("{contact}", html.escape(contact or DEFAULT_CONTACT, quote=False))


def project_settings(adjudicators_per_task: int = 1, contact: str | None = None) -> dict:
    """The project fields adjudicate owns.

    Skipping is allowed (the material is harmful by design) and a skipped attack comes back at
    the end of the same adjudicator's queue (REQUEUE_FOR_ME): every disputed attack needs a
    final say eventually, and "not now" should not hand it to nobody.
    """
    return {
        "label_config": label_config(),
        "expert_instruction": adjudicator_instructions(contact),
        "show_instruction": True,
        "show_skip_button": True,
        "skip_queue": "REQUEUE_FOR_ME",
        "maximum_annotations": adjudicators_per_task,
        "overlap_cohort_percentage": 100,
    }


# --- what the adjudicator is shown (pure) ---------------------------------------------------------


@dataclass(frozen=True)
class DisputedAttack:
    """A disputed attack and what its adjudication task shows besides the transcript.

    task_id : the review project's task; reason : disputes.disputes' reason ("split", "spread",
    "topics", or several joined by "; "); reviews : one row per reviewer for the screen's table; counts, dispute :
    one line each.
    """

    attack_id: int
    task_id: int
    reason: str
    reviews: tuple[dict, ...]
    counts: str
    dispute: str

    @property
    def fingerprint(self) -> str:
        """A short digest of what the adjudicator is shown of the reviews, kept in the task's meta."""
        shown = json.dumps([list(self.reviews), self.counts, self.dispute], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(shown.encode("utf-8")).hexdigest()[:16]


def letter(position: int) -> str:
    """A, B, ..., Z, AA, AB, ... for positions 0, 1, ..."""
    name = ""
    position += 1
    while position:
        position, rest = divmod(position - 1, 26)
        name = chr(ord("A") + rest) + name
    return name


def _plural(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def disputed_attacks(reviews, rule: DisputeRule = DisputeRule()) -> list[DisputedAttack]:
    """The disputed attacks of a project, in attack_id order, with what the adjudicator sees.

    reviews : agreement.arrays.Reviews (the inclusion rules applied: each reviewer's latest
    annotation, skips and invalid annotations are not ratings). An attack imported twice into
    the review project is adjudicated once, from its first disputed task.
    """
    tasks = reviews.arrays
    votes = topic_votes(tasks.topic_task, tasks.topic_members, len(tasks.task_id))
    reasons = disputes(tasks.ratings, rule, votes)
    chosen = np.flatnonzero(reasons != "")
    if not len(chosen):
        return []
    latest = reviews.latest
    by_task = {task_id: rows for task_id, rows in latest.groupby(latest["task_id"].astype(np.int64))}
    found: dict[int, DisputedAttack] = {}
    for index in chosen[np.argsort(tasks.task_id[chosen], kind="stable")]:
        attack_id, task_id = int(tasks.attack_id[index]), int(tasks.task_id[index])
        if attack_id in found:
            continue
        rows = by_task[task_id].sort_values("reviewer_id", kind="stable")
        found[attack_id] = _shown(attack_id, task_id, str(reasons[index]), rows, rule, votes[index])
    return [found[attack_id] for attack_id in sorted(found)]


def _shown(attack_id: int, task_id: int, reason: str, rows: pd.DataFrame, rule: DisputeRule, votes: np.ndarray) -> DisputedAttack:
    table, valid = [], []
    skipped = invalid = 0
    for position, row in enumerate(rows.itertuples(index=False)):
        if row.rating:
            success = int(row.success)
            valid.append(success)
            table.append({"Reviewer": letter(position), "Rating": f"{success} {SUCCESS_WORDS[success]}", "Topics": "; ".join(row.topics) or "none"})
        elif row.skipped:
            skipped += 1
            table.append({"Reviewer": letter(position), "Rating": "skipped", "Topics": ""})
        else:
            invalid += 1
            table.append({"Reviewer": letter(position), "Rating": "invalid, not counted", "Topics": ""})
    counts = [_plural(len(valid), "valid rating")]
    if skipped:
        counts.append(f"{skipped} skipped")
    if invalid:
        counts.append(f"{invalid} invalid (not counted)")
    why = []
    if SPLIT in reason.split("; "):
        above = sum(value >= rule.threshold for value in valid)
        why.append(f"split, {above} of {len(valid)} valid ratings at {rule.threshold} or more")
    if SPREAD in reason.split("; "):
        why.append(f"spread, {min(valid)} to {max(valid)}")
    if TOPIC_TIE in reason.split("; "):
        agreed = np.flatnonzero(consensus_topics(votes[None, :], [len(valid)])[0])
        ranked = sorted(agreed, key=lambda t: -votes[t])  # one attack's handful of topics
        named = ", ".join(f"{TOPICS[t]} {votes[t]}" for t in ranked)
        why.append(f"topics, {len(agreed)} tagged by at least half (at most {MAX_TOPICS} allowed), tied at the cut-off: {named}")
    return DisputedAttack(
        attack_id=attack_id,
        task_id=task_id,
        reason=reason,
        reviews=tuple(table),
        counts="; ".join(counts),
        dispute="Disputed: " + "; ".join(why),
    )


def complete_reviews(latest: pd.DataFrame, reviewers_per_task: int, drafted: Collection[int] = ()) -> set[int]:
    """Task ids whose review is complete: `reviewers_per_task` reviewers or more have a latest
    annotation of the task (a rating, an invalid annotation or a skip) and no draft is open on it.

    latest : agreement.arrays.Reviews.latest (task_id, reviewer_id); drafted : the ids of tasks
    with a draft, which someone may be rating still.
    """
    reviewers = latest.groupby(latest["task_id"].astype(np.int64))["reviewer_id"].nunique()
    return set(reviewers.index[reviewers.to_numpy() >= reviewers_per_task].tolist()) - set(drafted)


def task_data(attack: DisputedAttack, review_data: dict) -> dict:
    """The adjudication task's data: what the reviewers saw of the attack, and what they said.

    review_data : the review task's data; only attack_id, the dialogue and the task description
    are taken from it.
    """
    return {
        "attack_id": attack.attack_id,
        DIALOGUE: review_data.get(DIALOGUE),
        "task_description": review_data.get("task_description"),
        REVIEWS: list(attack.reviews),
        REVIEW_COUNTS: attack.counts,
        DISPUTE: attack.dispute,
    }


# --- the adjudication project ----------------------------------------------------------------------


@dataclass
class AdjudicationReport:
    """What adjudicate found and changed."""

    review_project_id: int
    review_title: str
    project_id: int
    title: str
    rule: DisputeRule
    attacks: int = 0
    disputed: int = 0
    project_created: bool = False
    settings_updated: list[str] = field(default_factory=list)
    added: int = 0
    already_present: int = 0
    no_longer_disputed: int = 0
    changed_since_added: int = 0
    adjudicated: int | None = None
    tasks: int | None = None
    reviewers_per_task: int = 1
    include_incomplete: bool = False
    incomplete: int = 0
    incomplete_drafted: int = 0

    def text(self, server: str) -> str:
        """What `review-project adjudicate` prints."""
        rule = self.rule
        lines = [
            f"Review project {self.review_project_id} {self.review_title!r}: {_plural(self.attacks, 'attack')}, "
            f"{self.disputed} disputed (split at {rule.threshold}, a spread of {rule.spread} or more, or a tie at the "
            f"2-topic limit, from {rule.min_ratings} valid ratings); {self._incomplete_text()}",
            f"{'Created' if self.project_created else 'Found'} project {self.project_id} {self.title!r} at {server}/projects/{self.project_id}",
        ]
        if self.include_incomplete and self.incomplete:
            lines.append(
                f"--include-incomplete: {_plural(self.incomplete, 'attack')} added before every reviewer rated or skipped "
                f"{'it' if self.incomplete == 1 else 'them'}; every member can open the adjudication project, so a reviewer "
                "who has not rated one yet can read the others' verdicts on it there"
            )
        if self.settings_updated:
            lines.append(f"Updated project settings: {', '.join(self.settings_updated)}")
        lines.append(f"Tasks: {self.added} added, {self.already_present} already present")
        if self.no_longer_disputed:
            lines.append(
                f"{_plural(self.no_longer_disputed, 'attack')} in the adjudication project "
                f"{'is' if self.no_longer_disputed == 1 else 'are'} no longer disputed (kept: tasks there are never rewritten)"
            )
        if self.changed_since_added:
            lines.append(
                f"{_plural(self.changed_since_added, 'attack')} still disputed "
                f"{'shows' if self.changed_since_added == 1 else 'show'} the reviews as they were when added (kept: tasks there are never rewritten)"
            )
        if self.adjudicated is not None:
            lines.append(f"Adjudicated: {self.adjudicated} of {self.tasks} attacks")
        return "\n".join(lines)

    def _incomplete_text(self) -> str:
        if self.include_incomplete:
            return f"{self.incomplete} of them incomplete, added all the same (--include-incomplete)"
        waiting = f"not rated or skipped by {_plural(self.reviewers_per_task, 'reviewer')} yet"
        if self.incomplete_drafted:
            waiting += f", or a draft open on {self.incomplete_drafted}"
        return f"{self.incomplete} left out as incomplete ({waiting})"


def check_review_project(review_project) -> None:
    """An adjudication project is not a review project: say so before reading anything."""
    if review_project.title.endswith(TITLE_SUFFIX):
        raise SetupError(
            f"project {review_project.id} {review_project.title!r} is an adjudication project: give the review project (--project)"
        )


def adjudicate_project(
    client: LabelStudio,
    review_project,
    reviews,
    rule: DisputeRule = DisputeRule(),
    *,
    adjudicators_per_task: int = 1,
    contact: str | None = None,
    on_added: Callable[[int], None] | None = None,
    include_incomplete: bool = False,
) -> AdjudicationReport:
    """Create or update "<title> - adjudication" and add the disputed attacks not in it yet.

    review_project : the review project (label_studio.find_project); reviews :
    agreement.arrays.Reviews of its annotations. Only attacks whose review is complete
    (complete_reviews, with the project's maximum_annotations) are added, unless
    include_incomplete. Safe to re-run: settings are changed only where they differ, and only
    attacks not in the adjudication project (by meta.attack_id) are added. A task already there
    is never rewritten.
    """
    if adjudicators_per_task < 1:
        raise ValueError("adjudicators_per_task must be at least 1")
    check_review_project(review_project)
    title = adjudication_title(review_project.title, review_project.id)
    found = disputed_attacks(reviews, rule)
    url = server_url(client)
    project, created, updated = label_studio.create_or_update_project(
        client, title, project_settings(adjudicators_per_task, contact)
    )
    report = AdjudicationReport(
        review_project_id=review_project.id, review_title=review_project.title, project_id=project.id, title=title,
        rule=rule, attacks=int(reviews.all_tasks["attack_id"].nunique()), disputed=len(found),
        project_created=created, settings_updated=updated,
    )

    present = _present(client, project.id)
    disputed_ids = {attack.attack_id for attack in found}
    new = [attack for attack in found if attack.attack_id not in present]
    report.already_present = len(found) - len(new)
    # Checked only for the attacks to add: one already there stays, whatever its review's state.
    report.reviewers_per_task = review_project.maximum_annotations or 1
    drafted = _drafted(client, review_project.id) if new else set()
    complete = complete_reviews(reviews.latest, report.reviewers_per_task, drafted)
    incomplete = [attack for attack in new if attack.task_id not in complete]
    report.incomplete, report.include_incomplete = len(incomplete), include_incomplete
    report.incomplete_drafted = sum(attack.task_id in drafted for attack in incomplete)
    if not include_incomplete:
        new = [attack for attack in new if attack.task_id in complete]
    report.no_longer_disputed = len(set(present) - disputed_ids)
    report.changed_since_added = sum(
        1 for attack in found if attack.attack_id in present and present[attack.attack_id].get("shown") != attack.fingerprint
    )
    for start in range(0, len(new), IMPORT_BATCH):
        batch = new[start : start + IMPORT_BATCH]
        data = _review_data(client, review_project.id, [attack.task_id for attack in batch])
        tasks = [
            {
                "data": task_data(attack, data[attack.task_id]),
                "meta": {"attack_id": attack.attack_id, "review_task_id": attack.task_id, "shown": attack.fingerprint},
            }
            for attack in batch
        ]
        with translated_errors(url, f"adding attacks {batch[0].attack_id}..{batch[-1].attack_id} to project {project.id}"):
            client.projects.import_tasks(id=project.id, request=tasks, return_task_ids=False)
        report.added += len(batch)
        if on_added:
            on_added(len(batch))
    return report


def adjudicate_review(
    client: LabelStudio, review_project, source, rule: DisputeRule = DisputeRule(), *, adjudicators_per_task: int = 1,
    contact: str | None = None, include_incomplete: bool = False,
) -> AdjudicationReport:
    """`review-project adjudicate`: adjudicate_project on the review project's annotations, then how
    many of its attacks are adjudicated so far (report.adjudicated of report.tasks).

    source : the review project read by agreement.open_source (its annotation table and tasks).
    """
    reviews = arrays.reviews(source.table, None, source.tasks)
    report = adjudicate_project(
        client, review_project, reviews, rule, adjudicators_per_task=adjudicators_per_task, contact=contact,
        include_incomplete=include_incomplete,
    )
    done = read_adjudications(client, review_project.id)
    report.adjudicated, report.tasks = len(done), done.tasks
    return report


def _present(client: LabelStudio, project_id: int) -> dict[int, dict]:
    """attack_id -> meta of every task already in the adjudication project (no transcripts read)."""
    present: dict[int, dict] = {}
    with translated_errors(server_url(client), f"listing the tasks of project {project_id}"):
        for task in client.tasks.list(project=project_id, page_size=1000, include="id,meta"):
            meta = task.meta if isinstance(task.meta, dict) else {}
            if meta.get("attack_id") is not None:
                present.setdefault(int(meta["attack_id"]), meta)
    return present


def _drafted(client: LabelStudio, project_id: int) -> set[int]:
    """Ids of the review project's tasks with a draft open (a Data Manager filter: ids only)."""
    has_draft = {"filter": "filter:tasks:draft_exists", "operator": "equal", "type": "Boolean", "value": True}
    query = json.dumps({"filters": {"conjunction": "and", "items": [has_draft]}})
    with translated_errors(server_url(client), f"listing the tasks of project {project_id} with a draft"):
        return {task.id for task in client.tasks.list(project=project_id, page_size=1000, include="id", query=query)}


def _review_data(client: LabelStudio, project_id: int, task_ids: list[int]) -> dict[int, dict]:
    """task id -> data of these review tasks, fetched in batches (only the tasks asked for)."""
    found: dict[int, dict] = {}
    with translated_errors(server_url(client), f"reading the disputed tasks of project {project_id}"):
        for start in range(0, len(task_ids), FETCH_BATCH):
            chosen = task_ids[start : start + FETCH_BATCH]
            query = json.dumps({"selectedItems": {"all": False, "included": chosen}})
            for task in client.tasks.list(project=project_id, page_size=len(chosen), include="id,data", query=query):
                found[task.id] = task.data or {}
    missing = [task_id for task_id in task_ids if task_id not in found]
    if missing:
        raise SetupError(f"project {project_id} has no task {missing[0]} any more: run adjudicate again")
    return found


# --- reading the adjudications back --------------------------------------------------------------


@dataclass(frozen=True)
class InvalidAdjudication:
    """An adjudicator's latest annotation of an attack that breaks the labelling contract, and why."""

    attack_id: int | None
    task_id: int
    annotation_id: int
    adjudicator: int
    reason: str


class Adjudications(dict):
    """attack_id -> Adjudication, and how the adjudication project's annotations counted.

    project_id : the adjudication project, None when there is none yet; tasks : its tasks;
    skipped : latest annotations that were skips; invalid : latest annotations left out, with
    their reasons; replaced : annotations replaced by the same adjudicator's later one.
    """

    def __init__(self, adjudications=(), *, project_id: int | None = None, tasks: int = 0, skipped: int = 0,
                 invalid: tuple[InvalidAdjudication, ...] = (), replaced: int = 0):
        super().__init__(adjudications)
        self.project_id = project_id
        self.tasks = tasks
        self.skipped = skipped
        self.invalid = invalid
        self.replaced = replaced


def adjudications_from_table(table: pd.DataFrame, tasks: int = 0, project_id: int | None = None) -> Adjudications:
    """The latest valid adjudication of each attack from an annotation table (export.COLUMNS).

    The one latest rule (export.latest_annotations) twice: first each adjudicator's latest
    annotation of each task; skips and invalid annotations are left out (and counted); then, of
    the valid ones, the latest of each attack, whoever made it.
    """
    with_adjudicator = table[table["reviewer_id"].notna()]
    latest, replaced = export.latest_annotations(with_adjudicator)
    skipped = latest["skipped"].astype(bool)
    usable = ~skipped & latest["valid"].astype(bool) & latest["success"].notna() & latest["attack_id"].notna()
    invalid = latest[~skipped & ~usable]
    valid = latest[usable]
    chosen, _ = export.latest_annotations(valid.assign(task_id=valid["attack_id"], reviewer_id=0))
    return Adjudications(
        {
            int(row.attack_id): Adjudication(int(row.attack_id), int(row.success), tuple(row.topics))
            for row in chosen.itertuples(index=False)
        },
        project_id=project_id,
        tasks=tasks,
        skipped=int(skipped.sum()),
        invalid=tuple(
            InvalidAdjudication(
                attack_id=None if pd.isna(row.attack_id) else int(row.attack_id),
                task_id=int(row.task_id),
                annotation_id=int(row.annotation_id),
                adjudicator=int(row.reviewer_id),
                reason=row.invalid_reason or ("success missing" if pd.isna(row.success) else "no attack_id"),
            )
            for row in invalid.itertuples(index=False)
        ),
        replaced=int(replaced),
    )


def read_adjudications(client: LabelStudio, review_title_or_id: str | int) -> dict[int, Adjudication]:
    """attack_id -> the adjudication project's latest valid annotation of that attack.

    review_title_or_id : the review project (its id or exact title); its adjudication project is
    "<title> - adjudication". Returns an Adjudications (a dict, with the counts of skipped and
    invalid annotations left out); empty, with project_id None, before `adjudicate` first ran.
    """
    review = label_studio.find_project(client, review_title_or_id, fields="id,title")
    project = label_studio.project_by_title(client, adjudication_title(review.title, review.id), fields="id")
    if project is None:
        return Adjudications()
    with read_project(client, project.id) as read:
        return adjudications_from_table(read.tables.annotations, tasks=len(read.tables.tasks), project_id=project.id)
