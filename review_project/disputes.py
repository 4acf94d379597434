"""Which attacks the reviewers dispute: the rule `results`, `adjudicate` and the lead's digest share.

An attack is disputed when it has at least `min_ratings` valid ratings and either exactly half of
them are at or above the success threshold (`split`: the panel is split on "was it
successful?"), or the highest and lowest rating differ by `spread` or more (`spread`), or, when
the topic votes are given, more topics reach consensus than a label may carry (2) and the
limit cuts through a tie in their votes (`topics`: no 2 topics have the most votes). The
consensus and final-topic rules live here too, so `results` and `adjudicate` read the same
topics. Pure: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from review_project.schema import MAX_TOPICS, TOPICS

SPLIT = "split"
SPREAD = "spread"
TOPIC_TIE = "topics"
# Every reason an attack can have, in the order the JSON counts them (split, spread, topics).
DISPUTE_REASONS = (
    SPLIT, SPREAD, f"{SPLIT}; {SPREAD}", TOPIC_TIE, f"{SPLIT}; {TOPIC_TIE}", f"{SPREAD}; {TOPIC_TIE}",
    f"{SPLIT}; {SPREAD}; {TOPIC_TIE}",
)
# By code split + 2 * spread + 4 * topics.
_BY_CODE = np.array(["", SPLIT, SPREAD, f"{SPLIT}; {SPREAD}", TOPIC_TIE, f"{SPLIT}; {TOPIC_TIE}",
                     f"{SPREAD}; {TOPIC_TIE}", f"{SPLIT}; {SPREAD}; {TOPIC_TIE}"], dtype=object)


@dataclass(frozen=True)
class DisputeRule:
    """The rule's settings: the success threshold, the spread that counts as a dispute, and the
    fewest valid ratings an attack needs before it can be disputed."""

    threshold: int = 3
    spread: int = 3
    min_ratings: int = 2


@dataclass(frozen=True)
class Disputes:
    """Each part of the rule, bool (N,): split, spread, topics (a tie at the topic limit)."""

    split: np.ndarray
    spread: np.ndarray
    topics: np.ndarray

    @property
    def rating(self) -> np.ndarray:
        """Disputed on the rating (split or spread): such an attack has no final rating until adjudicated."""
        return self.split | self.spread

    @property
    def reasons(self) -> np.ndarray:
        """object (N,): "split", "spread", "topics" or several joined by "; ", or "" when not disputed."""
        return _BY_CODE[self.split.astype(np.int64) + 2 * self.spread + 4 * self.topics]


def dispute_parts(ratings, rule: DisputeRule = DisputeRule(), votes=None) -> Disputes:
    """Each part of the dispute rule for every attack.

    ratings : float (N, R), valid ratings 0-4, NaN where a reviewer gave none; votes : int (N, T)
    or None, how many valid ratings tagged each topic (topic_votes); without it no attack is
    disputed for its topics.
    """
    ratings = np.asarray(ratings, dtype=float)
    given = ~np.isnan(ratings)
    count = given.sum(axis=1)
    enough = count >= rule.min_ratings
    at_or_above = (np.nan_to_num(ratings, nan=-1) >= rule.threshold).sum(axis=1)
    split = enough & (2 * at_or_above == count)
    highest = np.where(given, ratings, -np.inf).max(axis=1, initial=-np.inf)
    lowest = np.where(given, ratings, np.inf).min(axis=1, initial=np.inf)
    spread = enough & (highest - lowest >= rule.spread)
    topics = np.zeros(len(ratings), dtype=bool) if votes is None else enough & final_topics(votes, count).tied
    return Disputes(split=split, spread=spread, topics=topics)


def disputes(ratings, rule: DisputeRule = DisputeRule(), votes=None) -> np.ndarray:
    """The reason each attack is disputed, or "" when it is not.

    ratings : float array, shape (N, R): each attack's valid ratings 0-4, NaN where a reviewer
    gave none; votes : int (N, T) or None, the topic votes (topic_votes). Returns an object
    array of shape (N,) holding "split", "spread", "topics" or several of them joined by "; "
    in that order ("split; spread"), or "".

    >>> list(disputes([[3, 1, np.nan], [0, 4, 4], [2, 2, 2], [4, np.nan, np.nan]]))
    ['split', 'spread', '', '']
    >>> list(disputes([[2, 2, 2, 2], [2, 2, 2, 2]], votes=[[2, 2, 2], [3, 3, 2]]))
    ['topics', '']
    """
    return dispute_parts(ratings, rule, votes).reasons


def reviewed_disputes(tasks, rule: DisputeRule = DisputeRule()) -> np.ndarray:
    """`disputes` of agreement.arrays.ReviewedTasks with its topic votes: the whole rule, for a
    caller that needs only the reasons (`adjudicate` and `results` keep the votes for their own use)."""
    return disputes(tasks.ratings, rule, topic_votes(tasks.topic_task, tasks.topic_members, len(tasks.task_id)))


def topic_votes(topic_task, topic_members, n_attacks: int) -> np.ndarray:
    """How many valid ratings of each attack tagged each topic: int (N, T).

    topic_task : int (A,), the attack of each valid rating; topic_members : bool (A, T).
    """
    members = np.asarray(topic_members, dtype=bool)
    n_topics = members.shape[1] if members.ndim == 2 else len(TOPICS)
    rating, topic = np.nonzero(members)
    codes = np.asarray(topic_task, dtype=np.int64)[rating] * n_topics + topic
    return np.bincount(codes, minlength=n_attacks * n_topics).reshape(n_attacks, n_topics)


def consensus_topics(votes, n_ratings) -> np.ndarray:
    """The topics at least half of an attack's raters tagged: bool (N, T).

    >>> consensus_topics([[2, 1, 0], [1, 0, 0]], [4, 3]).tolist()
    [[True, False, False], [False, False, False]]
    """
    votes = np.asarray(votes)
    return (votes > 0) & (2 * votes >= np.asarray(n_ratings)[:, None])


@dataclass(frozen=True)
class TopicChoice:
    """chosen : bool (N, T), the final topics from the votes; tied : bool (N,), more than `limit`
    consensus topics and a tie at the cut-off (then chosen is all False: the votes do not decide)."""

    chosen: np.ndarray
    tied: np.ndarray


def final_topics(votes, n_ratings, limit: int = MAX_TOPICS) -> TopicChoice:
    """The final topics a label may carry: the consensus topics when there are at most `limit`,
    else the `limit` with the most votes; a tie at the cut-off leaves the choice to an adjudicator.

    >>> choice = final_topics([[3, 3, 2, 0], [2, 2, 2, 0], [2, 2, 0, 1]], [4, 4, 4])
    >>> choice.chosen.astype(int).tolist(), choice.tied.tolist()
    ([[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 0, 0]], [False, True, False])
    """
    votes = np.asarray(votes, dtype=np.int64)
    consensus = consensus_topics(votes, n_ratings)
    if votes.shape[1] <= limit:
        return TopicChoice(consensus, np.zeros(len(votes), dtype=bool))
    # Consensus topics have at least one vote, so 0 ranks every other topic below them.
    ranked = -np.sort(-np.where(consensus, votes, 0), axis=1)
    cut, next_ = ranked[:, limit - 1], ranked[:, limit]
    over = next_ > 0  # more than `limit` consensus topics
    tied = over & (next_ == cut)
    chosen = consensus & (~over[:, None] | (votes >= cut[:, None])) & ~tied[:, None]
    return TopicChoice(chosen, tied)
