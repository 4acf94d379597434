"""`review-project demo`: a real local Label Studio with the demo project, reused on re-run."""

import json
import re

import numpy as np
import pytest
from click.testing import CliRunner

from review_project import label_studio as ls_api
from review_project.agreement import kappa
from review_project.cli import cli
from review_project.demo import DEMO_TITLE, SIMULATED_REVIEWERS
from review_project.demo_data import simulated_reviews
from review_project.disputes import disputes
from review_project.manifest import read_manifest
from review_project.records import load_records
from review_project.schema import read_rating
from tests.conftest import user_token

pytestmark = pytest.mark.label_studio


def test_demo_prints_the_url_and_every_login(demo_run):
    logins = demo_run.logins()
    assert f"Label Studio is running at {demo_run.url}" in demo_run.output
    assert sorted(logins) == ["lead@example.com"] + [f"reviewer{i}@example.com" for i in range(1, 5)]
    # The reviewers' logins are marked as the demo's own accounts, which a real review does not make.
    lines = demo_run.output.splitlines()
    marked = lines.index(
        "Demo accounts: the demo signs these reviewers up with known passwords (in a real review each one "
        "joins through the invite link, and setup finds them):"
    )
    assert [line.split()[1] for line in lines[marked + 1 : marked + 5]] == [f"reviewer{i}@example.com" for i in range(1, 5)]
    for email, password in logins.items():
        # Every printed login works: the server hands that user their own API token.
        assert user_token(demo_run.url, email, password)


def test_demo_sets_up_the_project_on_a_private_server(demo_run):
    env = dict(line.removeprefix("export ").split("=", 1) for line in (demo_run.folder / "env").read_text().splitlines())
    client = ls_api.connect(env["LABEL_STUDIO_URL"], env["LABEL_STUDIO_API_KEY"])
    project = ls_api.find_project(client, DEMO_TITLE)
    assert project.task_number == 24 and project.maximum_annotations == 4
    # The server's data folder, in Label Studio's own variable: `label-studio reset_password` reads it there.
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str((demo_run.folder / "label-studio").resolve())
    assert env["LABEL_STUDIO_URL"].startswith("http://127.0.0.1:")
    assert oct((demo_run.folder / "env").stat().st_mode & 0o777) == "0o600"
    records = load_records(demo_run.folder / "red_team_attempts.jsonl.gz")
    assert len(records) == 400
    manifest = [json.loads(line) for line in (demo_run.folder / "manifest.jsonl").read_text().splitlines()]
    assert {(m["model_type"], m["num_params"]) for m in manifest} == {("context distillation", "52B"), ("rlhf", "52B")}


def demo_env(demo_run) -> dict[str, str]:
    return dict(line.removeprefix("export ").split("=", 1) for line in (demo_run.folder / "env").read_text().splitlines())


def demo_annotations(demo_run) -> tuple[dict[str, int], list[dict]]:
    """Reviewer email -> user id, and every annotation of the demo project with its task's attack_id."""
    env = demo_env(demo_run)
    client = ls_api.connect(env["LABEL_STUDIO_URL"], env["LABEL_STUDIO_API_KEY"])
    users = {email: user.id for email, user in ls_api.users_by_email(client).items()}
    project = ls_api.find_project(client, DEMO_TITLE)
    annotations = [
        {**annotation, "attack_id": task["data"]["attack_id"]}
        for task in ls_api.full_export(client, project.id)
        for annotation in task["annotations"]
    ]
    return users, annotations


def test_demo_fills_in_simulated_ratings_from_3_reviewers_and_says_so(demo_run):
    assert (
        "Simulated reviews: reviewer1@example.com, reviewer2@example.com, reviewer3@example.com have rated the 24 tasks "
        "with seeded, SIMULATED ratings (72 annotations, 5 of them skips; 72 added this run). They are not real judgements"
    ) in demo_run.output
    assert "Your turn: log in as reviewer4@example.com (its queue is untouched) and press Label All Tasks." in demo_run.output
    users, annotations = demo_annotations(demo_run)
    plan = simulated_reviews(read_manifest(demo_run.folder / "manifest.jsonl"))
    for index in range(SIMULATED_REVIEWERS):
        reviewer = users[f"reviewer{index + 1}@example.com"]
        theirs = [a for a in annotations if a["completed_by"] == reviewer]
        assert len(theirs) == 24 and len({a["attack_id"] for a in theirs}) == 24
        for annotation in theirs:
            # Submitted with the reviewer's own login: the author is also the last editor.
            assert annotation["updated_by"] == reviewer
            rating = read_rating(annotation)
            success, topics = plan[(annotation["attack_id"], index)]
            assert (rating.success, rating.topics, rating.skipped, rating.valid) == (success, topics, success is None, True)
    # The 4th reviewer's queue is left for the person: any annotation of theirs is one a person
    # made (the browser test labels one task), never a simulated one.
    fourth = [a for a in annotations if a["completed_by"] == users["reviewer4@example.com"]]
    assert len(fourth) <= 1
    assert len(annotations) == 72 + len(fourth)


def test_the_simulated_reviews_disagree_like_real_ones_and_are_seeded(demo_run):
    attacks = read_manifest(demo_run.folder / "manifest.jsonl")
    plan = simulated_reviews(attacks)
    assert {reviewer for _, reviewer in plan} == {0, 1, 2}
    assert plan == simulated_reviews(list(reversed(attacks)))  # each attack's reviews are its own
    assert plan != simulated_reviews(attacks, seed=1)
    ratings = np.array([[np.nan if plan[(a["attack_id"], r)][0] is None else plan[(a["attack_id"], r)][0] for r in range(3)] for a in attacks])
    counts = kappa.count_table(ratings, 5)
    complete = counts.sum(axis=1) == 3
    # Fair agreement, as in the paper (0.32 with the author), not perfect and not noise.
    assert 0.1 < kappa.fleiss_kappa(counts[complete]).value < 0.6
    assert len(set(ratings[~np.isnan(ratings)].tolist())) == 5
    assert 2 <= (disputes(ratings) != "").sum() <= 8
    assert all(len(topics) <= 2 for _, topics in plan.values())


def test_the_lead_commands_show_the_demo_on_the_first_run(demo_run):
    env = demo_env(demo_run)
    runner = CliRunner()
    status = runner.invoke(cli, ["status", "--project", DEMO_TITLE], env=env)
    assert status.exit_code == 0, status.output
    assert "reviewer1@example.com" in status.stdout and "reviewer3@example.com" in status.stdout
    assert "in progress         2" in status.stdout  # 23 or 24 of the 24 tasks, 3 of 4 reviewers each
    # The README's command: no --reviewers-per-task; the headline uses every task with 2+ ratings.
    agreement = runner.invoke(
        cli, ["agreement", "--project", DEMO_TITLE, "--manifest", str(demo_run.folder / "manifest.jsonl"), "--resamples", "200"],
        env=env,
    )
    assert agreement.exit_code == 0, agreement.output
    headline, precision = agreement.stdout.splitlines()[1:3]
    assert headline.startswith("Ordinal agreement over the 24 tasks with 2 or more valid ratings: Krippendorff's alpha (ordinal) 0.")
    assert precision.startswith("Precision: Fleiss' kappa (every task with 2+ ratings) +/- 0.") and "24 attacks of the manifest" in precision
    # The paper's equal-n figure counts the tasks with exactly --reviewers-per-task ratings: 3 here.
    paper = runner.invoke(
        cli,
        ["agreement", "--project", DEMO_TITLE, "--reviewers-per-task", "3", "--manifest", str(demo_run.folder / "manifest.jsonl"),
         "--resamples", "200"],
        env=env,
    )
    assert paper.exit_code == 0, paper.output
    assert "The paper's figure: Fleiss' kappa 0." in paper.stdout
    assert "(3 reviewers + author is the paper's footing" in paper.stdout
    adjudicate = runner.invoke(cli, ["adjudicate", "--project", DEMO_TITLE], env=env)
    assert adjudicate.exit_code == 0, adjudicate.output
    assert re.search(r": 24 attacks, [1-9] disputed", adjudicate.stdout), adjudicate.stdout
    # Reviewer 4 has not rated: the disputed attacks wait for them (the browser test may label one).
    assert re.search(r"disputed \(.*\); \d+ left out as incomplete \(not rated or skipped by 4 reviewers yet\)$", adjudicate.stdout.splitlines()[0])
    assert "Created project" in adjudicate.stdout or "Found project" in adjudicate.stdout


def test_demo_runs_again_reusing_everything(demo_run):
    before = len(demo_annotations(demo_run)[1])
    again = CliRunner().invoke(cli, ["demo", "--dir", str(demo_run.folder), "--port", str(demo_run.port)])
    assert again.exit_code == 0, again.output
    assert "signing up" not in again.output and "writing" not in again.output
    assert "simulating" not in again.output and "(72 annotations, 5 of them skips; 0 added this run)" in again.stdout
    assert len(demo_annotations(demo_run)[1]) == before
    assert demo_run.logins() == {k: v for k, v in (
        (line.split()[-3], line.split()[-1]) for line in again.stdout.splitlines()
        if line.startswith(("Reviewer:", "Lead (admin):")))}
    env = dict(line.removeprefix("export ").split("=", 1) for line in (demo_run.folder / "env").read_text().splitlines())
    client = ls_api.connect(env["LABEL_STUDIO_URL"], env["LABEL_STUDIO_API_KEY"])
    assert ls_api.find_project(client, DEMO_TITLE).task_number == 24


def test_demo_stop_when_nothing_runs(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--stop", "--dir", str(tmp_path)])
    assert result.exit_code == 0
    assert result.output == "The demo's Label Studio was not running.\n"
