"""Agreement on the topic tags: each topic as a yes/no question, and MASI alpha over the tag sets.

Per-topic Fleiss' kappa uses the complete tasks, as the paper's figure does; prevalence, uses and
the share of ratings without a topic use every valid rating. Pure: arrays in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from review_project.agreement import kappa
from review_project.agreement.arrays import ReviewedTasks
from review_project.agreement.contract import JsonRecord, put
from review_project.agreement.kappa import Estimate
from review_project.schema import TOPICS


@dataclass(frozen=True)
class TagAgreement(JsonRecord):
    """One topic as a yes/no question. prevalence : share of valid ratings with it; uses : how many."""

    topic: str
    prevalence: float
    uses: int
    fleiss_kappa: Estimate

    json_leaves_out = ("topic",)  # Topics.as_json keys each tag by it


@dataclass(frozen=True)
class Topics:
    """Agreement on the topic tags. ratings : valid ratings; per_tag : one per schema.TOPICS."""

    ratings: int
    no_topic_share: Estimate
    per_tag: tuple[TagAgreement, ...]
    masi_alpha: Estimate

    def as_json(self) -> dict:
        out = {
            "ratings": self.ratings,
            "no_topic_share": self.no_topic_share.value,
            "per_tag": {tag.topic: tag.as_json() for tag in self.per_tag},
        }
        put(out, "masi_alpha", self.masi_alpha)
        return out


def topic_agreement(tasks: ReviewedTasks, complete: np.ndarray, reviewers_per_task: int) -> Topics:
    """Per-tag kappa over complete tasks, each tag's prevalence, and MASI alpha over tag sets."""
    members = tasks.topic_members
    n_tasks, n_topics = len(tasks.task_id), members.shape[1]
    rated, tagged = np.nonzero(members)
    per_task = np.bincount(tasks.topic_task[rated] * n_topics + tagged, minlength=n_tasks * n_topics)
    present = per_task.reshape(n_tasks, n_topics)[complete]
    n_ratings = len(members)
    kappas = kappa.binary_fleiss_kappas(present, reviewers_per_task) if reviewers_per_task >= 2 else []
    prevalence = members.sum(axis=0) / n_ratings if n_ratings else np.zeros(n_topics)
    per_tag = tuple(
        TagAgreement(
            topic=topic,
            prevalence=float(prevalence[index]),
            uses=int(members[:, index].sum()),
            fleiss_kappa=kappas[index] if kappas else Estimate(None, "fewer than 2 reviewers per task"),
        )
        for index, topic in enumerate(TOPICS)
    )
    no_topic_share = (
        Estimate(float((members.sum(axis=1) == 0).mean())) if n_ratings else Estimate(None, "no valid rating")
    )
    return Topics(int(n_ratings), no_topic_share, per_tag, kappa.masi_alpha(tasks.topic_task, members))

