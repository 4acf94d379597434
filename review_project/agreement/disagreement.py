"""The tasks whose reviewers disagree most, for the lead to look at first. Pure: arrays in."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from review_project.agreement.arrays import N_CATEGORIES, ReviewedTasks


@dataclass(frozen=True)
class DisputedTask:
    """A task whose reviewers disagree: disagreement is the mean squared difference over rating
    pairs; ratings : (reviewer_id, success) pairs; text : its transcript, when the lead asked."""

    attack_id: int
    task_id: int
    disagreement: float
    ratings: tuple[tuple[int, int], ...]
    author_rating: int | None
    model: str | None
    text: str | None = None

    def as_json(self, with_text: bool) -> dict:
        out = {
            "attack_id": self.attack_id,
            "task_id": self.task_id,
            "disagreement": self.disagreement,
            "ratings": {str(reviewer): value for reviewer, value in self.ratings},
            "author_rating": self.author_rating,
            "model": self.model,
        }
        if with_text:
            out["text"] = self.text
        return out


def most_disagreement(tasks: ReviewedTasks, counts: np.ndarray, author: np.ndarray, top: int) -> tuple[DisputedTask, ...]:
    """The tasks whose reviewers disagree most: mean squared difference over rating pairs."""
    sizes = counts.sum(axis=1)
    grid = np.arange(N_CATEGORIES)
    squared = (grid[:, None] - grid[None, :]) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.einsum("ic,ck,ik->i", counts, squared, counts) / (sizes * (sizes - 1))
    spread = np.where(sizes >= 2, spread, -1.0)
    # Highest spread first; ties by attack_id so the list is stable between runs.
    order = np.lexsort((tasks.attack_id, -spread))
    chosen = [i for i in order[:top] if spread[i] > 0]
    return tuple(
        DisputedTask(
            attack_id=int(tasks.attack_id[i]),
            task_id=int(tasks.task_id[i]),
            disagreement=float(spread[i]),
            ratings=tuple(
                (int(tasks.reviewer_ids[r]), int(tasks.ratings[i, r])) for r in np.flatnonzero(~np.isnan(tasks.ratings[i]))
            ),
            author_rating=int(author[i]) if author[i] >= 0 else None,
            model=tasks.model[i],
        )
        for i in chosen
    )
