"""Adjudication of disputed attacks in a Label Studio project of its own ("<title> - adjudication").

An adjudicator sees a disputed attack with the reviewers' ratings and topics (anonymised as
reviewers A-D) and sets the final rating (0-4) and at most 2 topics, with the same controls as
the review (`success`, `topics`). `results` reads the adjudications back.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Adjudication:
    """The adjudicator's final say on one attack (their latest valid annotation of its task)."""

    attack_id: int
    success: int
    topics: tuple[str, ...]
