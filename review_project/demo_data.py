"""Benign stand-ins for the red-team file: records of the real shape, size and model mix.

The real transcripts are offensive by design and cannot be downloaded here; the demo, tests
and benchmarks use these instead. Every text is polite filler (gardening, baking, travel).
Contents include what makes parsing interesting - blank lines, colons, quotes, unicode,
"Human:" inside a line - but never a turn separator ("\\n\\nHuman: " / "\\n\\nAssistant: ").
"""

from __future__ import annotations

import gzip as gzip_module
import json
import os
import random

from review_project import schema
from review_project.records import format_transcript

# Records per (model_type, num_params) in the released file. The 52B counts are published
# (paper-facts.md); the remaining 15,454 are spread evenly over the 2.7B and 13B models.
REAL_MODEL_COUNTS = {
    ("plain lm", "52B"): 1414,
    ("context distillation", "52B"): 17739,
    ("rejection sampling", "52B"): 1273,
    ("rlhf", "52B"): 3081,
    ("plain lm", "2.7B"): 1932,
    ("context distillation", "2.7B"): 1932,
    ("rejection sampling", "2.7B"): 1932,
    ("rlhf", "2.7B"): 1932,
    ("plain lm", "13B"): 1932,
    ("context distillation", "13B"): 1932,
    ("rejection sampling", "13B"): 1931,
    ("rlhf", "13B"): 1931,
}
REAL_RECORD_COUNT = 38961
# Self-ratings 0..4 in the released file.
REAL_RATING_COUNTS = (16475, 4367, 4936, 4249, 8934)
REAL_TAGGED_COUNT = 742
RED_TEAM_MEMBERS = 324

_SUBJECTS = (
    "gardening", "baking bread", "birdwatching", "learning the piano", "planning a picnic",
    "repairing a bicycle", "knitting a scarf", "visiting a museum", "growing tomatoes",
    "brewing tea", "reading poetry", "painting with watercolours", "hiking in the hills",
    "keeping a journal", "making soup", "the café on the corner", "origami cranes",
)
_QUESTIONS = (
    "Could you tell me about {s}?",
    "What is a good way to get started with {s}?",
    "My friend said: \"{s} is relaxing.\" Is that true?",
    "I have a question about {s}: where should I begin?",
    "Why do people enjoy {s} so much?",
    "Can you give me three tips for {s}, please?",
    "Is {s} something a beginner can try this weekend?",
    "My notes say \"Human: be kind\" at the top. What do you think about {s}?",
    "I'd love a short plan for {s} – nothing fancy.",
)
_ANSWER_SENTENCES = (
    "Of course! {S} is a lovely thing to try.",
    "Here is a simple plan: start small, be patient, and enjoy it.",
    "Many people find that {s} helps them relax after a long day.",
    "A good first step is to read a short guide and gather a few supplies.",
    "Tip: keep notes about what works, so you can repeat it next time.",
    "You might also enjoy asking a neighbour who knows about {s}.",
    "It's fine to make mistakes; that's how everyone learns.",
    "Some people say “slow and steady” is the best approach, and I agree.",
    "Remember to take breaks, drink water and stretch now and then.",
    "Weather matters too: a mild, sunny day (around 20 °C) is ideal.",
    "Prices vary, but a basic kit usually costs less than a nice dinner.",
    "Café owners in Zürich and São Paulo often recommend it — 🌱 or ☕ optional.",
    "Assistant: that's what the label on the box says, at least.",
)
_LIST_ITEMS = (
    "Choose a quiet afternoon.",
    "Gather what you need: a notebook, a pencil and some patience.",
    "Ask questions whenever you are unsure.",
    "Celebrate small wins.",
    "Share what you made with a friend.",
)
_FOLLOW_UPS = (
    "Thanks! Could you say more about that?",
    "That sounds nice. What should I avoid?",
    "Great, and how long does it usually take?",
    "Okay: what would you do first?",
    "Interesting... is there a book you'd recommend?",
)
_TASKS = (
    "Ask the assistant for tips on {s}.",
    "Find out whether {s} is a good hobby for a beginner.",
    "Get a short plan for {s}.",
    "Chat about {s} and see how helpful the assistant is.",
)


def scaled_counts(n: int, counts: dict) -> dict:
    """Split n over the keys of `counts` in proportion, summing exactly to n (largest remainder)."""
    total = sum(counts.values())
    shares = {key: n * count / total for key, count in counts.items()}
    result = {key: int(share) for key, share in shares.items()}
    left = n - sum(result.values())
    by_remainder = sorted(counts, key=lambda key: (-(shares[key] - result[key]), list(counts).index(key)))
    for key in by_remainder[:left]:
        result[key] += 1
    return result


def generate_records(
    n: int,
    seed: int = 0,
    transcript_chars: int = 2000,
    score_key: str = "task_descripton_harmlessness_score",
) -> list[dict]:
    """n benign red-team-shaped records with the real fields, key order and model mix scaled to n.

    Transcripts average about `transcript_chars` characters. `score_key` picks the spelling of
    the task-description score (the real file has the typo). Same n and seed, same records.
    """
    rng = random.Random(seed)
    models = [model for model, count in scaled_counts(n, REAL_MODEL_COUNTS).items() for _ in range(count)]
    rng.shuffle(models)
    tagged_count = max(1, round(n * REAL_TAGGED_COUNT / REAL_RECORD_COUNT)) if n >= 2 else 0
    tagged = set(rng.sample(range(n), tagged_count))
    records = []
    for position, (model_type, num_params) in enumerate(models):
        subject = rng.choice(_SUBJECTS)
        records.append(
            {
                "transcript": format_transcript(_turns(rng, subject, transcript_chars)),
                "min_harmlessness_score_transcript": round(rng.uniform(-4.0, 3.0), 6),
                "num_params": num_params,
                "model_type": model_type,
                "rating": float(rng.choices(range(5), weights=REAL_RATING_COUNTS)[0]),
                "task_description": rng.choice(_TASKS).format(s=subject),
                score_key: round(rng.uniform(-3.0, 3.0), 6),
                "red_team_member_id": rng.randrange(RED_TEAM_MEMBERS),
                "is_upworker": rng.random() < 0.5,
                "tags": rng.sample(schema.TOPICS, rng.randint(1, 6)) if position in tagged else None,
            }
        )
    return records


def _turns(rng: random.Random, subject: str, transcript_chars: int) -> list[dict]:
    """Alternating Human/Assistant turns adding up to roughly transcript_chars characters."""
    budget = int(transcript_chars * rng.uniform(0.4, 1.6))
    turns = [{"role": "Human", "content": rng.choice(_QUESTIONS).format(s=subject)}]
    used = len(turns[0]["content"])
    while True:
        answer = _answer(rng, subject, max(120, min(budget - used, rng.randint(200, 900))))
        turns.append({"role": "Assistant", "content": answer})
        used += len(answer) + 30
        if used >= budget:
            return turns
        follow_up = rng.choice(_FOLLOW_UPS)
        turns.append({"role": "Human", "content": follow_up})
        used += len(follow_up)


def _answer(rng: random.Random, subject: str, chars: int) -> str:
    """Polite filler of about `chars` characters, sometimes with a blank-line-separated list."""
    sentences: list[str] = []
    size = 0
    while size < chars:
        sentence = rng.choice(_ANSWER_SENTENCES).format(s=subject, S=subject.capitalize())
        sentences.append(sentence)
        size += len(sentence) + 1
    text = " ".join(sentences)
    if rng.random() < 0.3:
        items = rng.sample(_LIST_ITEMS, rng.randint(2, len(_LIST_ITEMS)))
        text += "\n\n" + "\n".join(f"{i}. {item}" for i, item in enumerate(items, start=1))
    return text


def write_records(path: str | os.PathLike, records: list[dict], gzip: bool = True, layout: str = "array") -> None:
    """Write records as the real file does (one JSON array) or as JSON Lines, gzipped or not."""
    if layout == "array":
        text = json.dumps(records)
    elif layout == "jsonl":
        text = "".join(json.dumps(record) + "\n" for record in records)
    else:
        raise ValueError(f'layout must be "array" or "jsonl", not {layout!r}')
    raw = text.encode("utf-8")
    if gzip:
        # mtime=0: the same records give the same bytes.
        raw = gzip_module.compress(raw, compresslevel=6, mtime=0)
    with open(path, "wb") as file:
        file.write(raw)


# --- simulated reviews: the lead's side of the demo ----------------------------------------------

# Each simulated reviewer's leaning (added to the attack's hidden success before rounding): one
# lenient, one even, one strict, as real panels have, so ratings disagree the way real ones do.
SIMULATED_LEANINGS = (0.7, 0.0, -0.7)
SIMULATED_NOISE = 0.8
SIMULATED_SKIP_RATE = 0.04
# Now and then a reviewer reads an attack quite differently from the others (any rating).
SIMULATED_OUTLIER_RATE = 0.1
_SIMULATED_TOPICS = (
    "Non-violent unethical behavior (e.g. lying, cheating, etc.)", "Fraud & deception", "Theft",
    "Bullying & harassment", "Conspiracy theories & misinformation", "Other",
)
INVALID_ATTEMPT = "N/A - Invalid attempt"


def simulated_reviews(attacks: list[dict], reviewers: int = len(SIMULATED_LEANINGS), seed: int = 0) -> dict[tuple[int, int], tuple[int | None, tuple[str, ...]]]:
    """Seeded, simulated reviews of the attacks by the first `reviewers` demo reviewers.

    attacks : manifest records (attack_id and the author's self-rating `rating`). Returns
    (attack_id, reviewer index) -> (success 0-4, topics), or (None, ()) for a skip. Each attack
    has a hidden success near its self-rating; each reviewer adds their leaning and noise, so
    reviewers disagree about as much as real ones (Fleiss' kappa around 0.3-0.5) and some
    attacks are disputed. The same attack, reviewer and seed always give the same review,
    whatever the other attacks.
    """
    if not 1 <= reviewers <= len(SIMULATED_LEANINGS):
        raise ValueError(f"simulate 1 to {len(SIMULATED_LEANINGS)} reviewers, not {reviewers}")
    plan = {}
    for attack in attacks:
        attack_id = int(attack["attack_id"])
        rng = random.Random(f"demo reviews {seed} {attack_id}")
        author = attack.get("rating")
        hidden = (author if isinstance(author, (int, float)) else 2.0) + rng.gauss(0.0, 0.7)
        main = rng.choice(_SIMULATED_TOPICS)
        for reviewer in range(reviewers):
            if rng.random() < SIMULATED_SKIP_RATE:
                plan[(attack_id, reviewer)] = (None, ())
                continue
            success = min(4, max(0, round(hidden + SIMULATED_LEANINGS[reviewer] + rng.gauss(0.0, SIMULATED_NOISE))))
            if rng.random() < SIMULATED_OUTLIER_RATE:
                success = rng.randrange(5)
            topics = [INVALID_ATTEMPT] if success == 0 and rng.random() < 0.5 else ([main] if rng.random() < 0.8 else [])
            if topics != [INVALID_ATTEMPT] and rng.random() < 0.25:
                topics.append(rng.choice([t for t in _SIMULATED_TOPICS if t not in topics]))
            plan[(attack_id, reviewer)] = (success, tuple(topics))
    return plan
