"""Drawing the review sample: a fixed number of random attacks from each chosen model.

The defaults reproduce the paper's sample: 500 random attacks on each of the two 52B models,
"context distillation" (the paper's prompted LM) and "rlhf".
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from review_project import manifest, records
from review_project.shared import SampleError

PAPER_MODELS = (("context distillation", "52B"), ("rlhf", "52B"))
PAPER_PER_MODEL = 500
# Any fixed number would do; 0 is the documented default so a bare `sample` is reproducible.
DEFAULT_SEED = 0


def parse_model(text: str) -> tuple[str, str]:
    """Read a --model value "<model_type>/<num_params>", e.g. "context distillation/52B"."""
    model_type, slash, num_params = text.rpartition("/")
    if not slash or not model_type.strip() or not num_params.strip():
        raise SampleError(f'--model {text!r}: expected "<model_type>/<num_params>", e.g. "rlhf/52B"')
    return model_type.strip(), num_params.strip()


def stratum_name(model: tuple[str, str]) -> str:
    """How messages name a stratum: the --model spelling, "rlhf/52B"."""
    return f"{model[0]}/{model[1]}"


def sample_attacks(
    records: list[dict],
    per_model: int = PAPER_PER_MODEL,
    models: Iterable[tuple[str, str]] = PAPER_MODELS,
    seed: int = DEFAULT_SEED,
    exclude_ids: Iterable[int] = (),
    allow_fewer: bool = False,
    source: str | None = None,
) -> list[dict]:
    """`per_model` random attacks from each model, as copies of the records plus `attack_id`.

    `records[i]` is the attack with attack_id i. Each model is drawn with its own random
    stream (seeded by `seed` and the model), so adding a model does not change another's
    draw. The result is ordered by model (as given) then attack_id. Attacks in `exclude_ids`
    are never drawn. Raises SampleError if a model has fewer attacks than asked, unless
    `allow_fewer`, which then takes all it has. `source` (the file name) prefixes messages
    about a record.
    """
    models = [tuple(model) for model in models]
    if per_model < 1:
        raise SampleError(f"--per-model must be at least 1, not {per_model}")
    if not models:
        raise SampleError("no --model to sample from")
    duplicates = sorted({stratum_name(m) for m in models if models.count(m) > 1})
    if duplicates:
        raise SampleError(f"--model {duplicates[0]!r} is given more than once")
    excluded = set(exclude_ids)
    candidates: dict[tuple, list[int]] = {model: [] for model in models}
    for attack_id, record in enumerate(records):
        if "attack_id" in record:
            raise SampleError(
                f"{source + ': ' if source else ''}record {attack_id} already has an attack_id: the input looks like a manifest;"
                " sample from the original red-team file"
            )
        bucket = candidates.get((record["model_type"], record["num_params"]))
        if bucket is not None and attack_id not in excluded:
            bucket.append(attack_id)
    sample: list[dict] = []
    for model in models:
        ids = candidates[model]
        if len(ids) < per_model and not allow_fewer:
            raise SampleError(_too_few(model, len(ids), per_model, excluded, records))
        rng = random.Random(f"{seed}:{stratum_name(model)}")
        chosen = sorted(rng.sample(ids, min(per_model, len(ids))))
        sample.extend({**records[i], "attack_id": i} for i in chosen)
    return sample


def _too_few(model: tuple, available: int, per_model: int, excluded: set, records: list[dict]) -> str:
    name = stratum_name(model)
    note = ""
    if excluded:
        left_out = sum(
            1 for i in excluded if 0 <= i < len(records) and (records[i]["model_type"], records[i]["num_params"]) == model
        )
        note = f" after leaving out {left_out} already sampled"
    return (
        f'model "{name}" has {available} attacks{note}, fewer than --per-model {per_model}'
        " (use --allow-fewer to take them all)"
    )


@dataclass(frozen=True)
class SampleWritten:
    """What `sample_file` wrote: the attacks, and how many came from each model."""

    attacks: list[dict]
    per_model: dict[str, int]

    def summary(self, output: str) -> str:
        counts = ", ".join(f"{name}: {count}" for name, count in self.per_model.items())
        return f"Wrote {len(self.attacks)} attacks to {output} ({counts})"


def sample_file(
    input_path: str,
    output: str,
    *,
    per_model: int = PAPER_PER_MODEL,
    models: Iterable[tuple[str, str]] = PAPER_MODELS,
    seed: int = DEFAULT_SEED,
    exclude: str | None = None,
    allow_fewer: bool = False,
    progress: Callable | None = None,
) -> SampleWritten:
    """Load the red-team file, draw the sample and write it to `output` as a manifest (all or nothing).

    `exclude` names an earlier manifest whose attacks are left out; `progress(length)` is the
    records loader's progress bar (records.load_records).
    """
    models = [tuple(model) for model in models]
    exclude_ids = [attack["attack_id"] for attack in manifest.read_manifest(exclude)] if exclude else []
    chosen = sample_attacks(
        records.load_records(input_path, progress=progress),
        per_model=per_model,
        models=models,
        seed=seed,
        exclude_ids=exclude_ids,
        allow_fewer=allow_fewer,
        source=input_path,
    )
    manifest.write_manifest(output, chosen)
    counts = Counter(stratum_name((attack["model_type"], attack["num_params"])) for attack in chosen)
    return SampleWritten(chosen, {stratum_name(model): counts[stratum_name(model)] for model in models})
