"""Drawing the sample: strata, determinism, exclusion and too-small strata."""

from __future__ import annotations

import copy
from collections import Counter

import pytest

from review_project import demo_data, manifest, sampling
from review_project.shared import SampleError

CD, RLHF, PLAIN = ("context distillation", "52B"), ("rlhf", "52B"), ("plain lm", "52B")


@pytest.fixture(scope="module")
def records():
    # 6,600 scaled from the real mix gives 522 rlhf 52B and 3,005 context distillation 52B.
    return demo_data.generate_records(6600, seed=5, transcript_chars=40)


def counts(records):
    return Counter((r["model_type"], r["num_params"]) for r in records)


def test_defaults_reproduce_the_papers_sample(records):
    assert counts(records)[RLHF] == 522
    sample = sampling.sample_attacks(records)
    assert counts(sample) == {CD: 500, RLHF: 500}
    assert len({r["attack_id"] for r in sample}) == 1000


def test_each_sampled_attack_is_its_original_record_plus_attack_id(records):
    before = copy.deepcopy(records)
    sample = sampling.sample_attacks(records, per_model=50)
    assert records == before  # the input is not touched
    for row in sample:
        original = records[row["attack_id"]]
        assert list(row) == [*original, "attack_id"]
        assert {k: v for k, v in row.items() if k != "attack_id"} == original


def test_order_is_by_model_as_given_then_attack_id(records):
    sample = sampling.sample_attacks(records, per_model=40, models=[RLHF, CD])
    models = [(r["model_type"], r["num_params"]) for r in sample]
    assert models == [RLHF] * 40 + [CD] * 40
    assert [r["attack_id"] for r in sample[:40]] == sorted(r["attack_id"] for r in sample[:40])
    assert [r["attack_id"] for r in sample[40:]] == sorted(r["attack_id"] for r in sample[40:])


def test_same_seed_same_sample_other_seed_other_sample(records):
    first = sampling.sample_attacks(records, per_model=100, seed=11)
    assert sampling.sample_attacks(records, per_model=100, seed=11) == first
    other = sampling.sample_attacks(records, per_model=100, seed=12)
    assert {r["attack_id"] for r in other} != {r["attack_id"] for r in first}


def test_draw_is_random_within_the_stratum(records):
    ids = [r["attack_id"] for r in sampling.sample_attacks(records, per_model=100, models=[CD])]
    candidates = [i for i, r in enumerate(records) if (r["model_type"], r["num_params"]) == CD]
    assert ids != candidates[:100]
    assert max(ids) > candidates[len(candidates) // 2]


def test_adding_a_model_leaves_another_models_draw_alone(records):
    alone = sampling.sample_attacks(records, per_model=30, models=[RLHF])
    together = sampling.sample_attacks(records, per_model=30, models=[CD, RLHF, PLAIN])
    assert together[30:60] == alone


def test_exclude_leaves_out_earlier_attacks(records):
    first = sampling.sample_attacks(records, per_model=200)
    second = sampling.sample_attacks(records, per_model=200, exclude_ids=[r["attack_id"] for r in first])
    assert not {r["attack_id"] for r in first} & {r["attack_id"] for r in second}
    assert counts(second) == {CD: 200, RLHF: 200}


def test_too_few_names_the_stratum_and_its_size(records):
    with pytest.raises(SampleError) as raised:
        sampling.sample_attacks(records, per_model=600)
    assert str(raised.value) == (
        'model "rlhf/52B" has 522 attacks, fewer than --per-model 600 (use --allow-fewer to take them all)'
    )


def test_too_few_after_exclude_says_so(records):
    first = sampling.sample_attacks(records, per_model=500)
    with pytest.raises(SampleError) as raised:
        sampling.sample_attacks(records, per_model=500, exclude_ids=[r["attack_id"] for r in first])
    assert str(raised.value) == (
        'model "rlhf/52B" has 22 attacks after leaving out 500 already sampled, fewer than --per-model 500'
        " (use --allow-fewer to take them all)"
    )


def test_allow_fewer_takes_everything_a_small_stratum_has(records):
    sample = sampling.sample_attacks(records, per_model=600, allow_fewer=True)
    assert counts(sample) == {CD: 600, RLHF: 522}


def test_a_model_absent_from_the_file_has_zero_attacks(records):
    with pytest.raises(SampleError, match='model "rlhf/175B" has 0 attacks'):
        sampling.sample_attacks(records, models=[("rlhf", "175B")])
    assert sampling.sample_attacks(records, models=[("rlhf", "175B")], allow_fewer=True) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"per_model": 0}, "--per-model must be at least 1, not 0"),
        ({"models": []}, "no --model to sample from"),
        ({"models": [RLHF, CD, RLHF]}, "--model 'rlhf/52B' is given more than once"),
    ],
)
def test_bad_requests(records, kwargs, message):
    with pytest.raises(SampleError) as raised:
        sampling.sample_attacks(records, **kwargs)
    assert str(raised.value) == message


def test_sampling_a_manifest_is_refused(records):
    manifest_like = sampling.sample_attacks(records, per_model=5)
    with pytest.raises(SampleError, match="record 0 already has an attack_id: the input looks like a manifest"):
        sampling.sample_attacks(manifest_like, per_model=1)


@pytest.mark.parametrize(
    "text, model",
    [("context distillation/52B", CD), ("rlhf/52B", RLHF), (" plain lm / 2.7B ", ("plain lm", "2.7B"))],
)
def test_parse_model(text, model):
    assert sampling.parse_model(text) == model


@pytest.mark.parametrize("text", ["rlhf", "rlhf/", "/52B", "", " / "])
def test_parse_model_rejects(text):
    with pytest.raises(SampleError) as raised:
        sampling.parse_model(text)
    assert str(raised.value) == f'--model {text!r}: expected "<model_type>/<num_params>", e.g. "rlhf/52B"'


def test_sample_file_writes_the_manifest_and_counts_per_model(tmp_path):
    source = tmp_path / "attempts.jsonl"
    demo_data.write_records(source, demo_data.generate_records(200, seed=1))
    written = sampling.sample_file(str(source), str(tmp_path / "m.jsonl"), per_model=5, seed=3)
    assert written.per_model == {"context distillation/52B": 5, "rlhf/52B": 5}
    assert written.summary("m.jsonl") == "Wrote 10 attacks to m.jsonl (context distillation/52B: 5, rlhf/52B: 5)"
    assert [a["attack_id"] for a in manifest.read_manifest(tmp_path / "m.jsonl")] == [a["attack_id"] for a in written.attacks]
