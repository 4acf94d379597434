"""Loading red-team records (layouts, gzip, validation) and the transcript parser."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from review_project import demo_data, records, schema
from review_project.shared import RecordError

SECRET = "ZQX-transcript-marker"


def good_records(n=3):
    return demo_data.generate_records(n, seed=1, transcript_chars=150)


# --- parse_transcript / format_transcript -------------------------------------------------


def test_parse_splits_turns_and_keeps_every_character():
    text = (
        "\n\nHuman: Hi: how are you?\nI wrote \"Human: x\" here.\n\nAlso this."
        "\n\nAssistant: Fine!\n\n1. one\n2. two \n\nHuman:no space is content"
        "\n\nHuman: café ☕ “quotes” 'single'"
    )
    assert records.parse_transcript(text) == [
        {"role": "Human", "content": 'Hi: how are you?\nI wrote "Human: x" here.\n\nAlso this.'},
        {"role": "Assistant", "content": "Fine!\n\n1. one\n2. two \n\nHuman:no space is content"},
        {"role": "Human", "content": "café ☕ “quotes” 'single'"},
    ]


def test_parse_accepts_a_transcript_without_leading_newlines():
    assert records.parse_transcript("Human: a\n\nAssistant: b") == [
        {"role": "Human", "content": "a"},
        {"role": "Assistant", "content": "b"},
    ]


def test_parse_keeps_empty_turns():
    assert records.parse_transcript("\n\nHuman: \n\nAssistant: ") == [
        {"role": "Human", "content": ""},
        {"role": "Assistant", "content": ""},
    ]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", '"transcript" is empty'),
        (f"\n\nAssistant: {SECRET}", '"transcript" does not start with "\\n\\nHuman: "'),
        (f"{SECRET}\n\nHuman: hi", '"transcript" does not start with "\\n\\nHuman: "'),
        (f"\nHuman: {SECRET}", '"transcript" does not start with "\\n\\nHuman: "'),
        (f"\n\nHuman:{SECRET}", '"transcript" does not start with "\\n\\nHuman: "'),
        (None, '"transcript" is not a string'),
    ],
)
def test_parse_rejects_a_transcript_that_does_not_open_with_a_human_turn(text, message):
    with pytest.raises(RecordError) as raised:
        records.parse_transcript(text)
    assert str(raised.value) == message


# Content likely to trip a parser: blank lines, role names with and without colons, quotes.
_FRAGMENTS = st.sampled_from(
    ["\n", "\n\n", "Human", "Assistant", ":", ": ", " ", '"', "'", "“", "”", "é", "日本", "🌱", "\r", "\t", "x", "\\"]
)
_CONTENT = st.one_of(st.text(), st.lists(_FRAGMENTS, max_size=30).map("".join)).filter(
    lambda text: "\n\nHuman: " not in text and "\n\nAssistant: " not in text
)
_TURNS = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(records.ROLES), "content": _CONTENT}), max_size=8
).map(lambda rest: [{"role": "Human", "content": rest[0]["content"] if rest else ""}] + rest[1:])


@given(_TURNS)
@example([{"role": "Human", "content": "a\n"}, {"role": "Assistant", "content": "\nHuman: b"}])
@example([{"role": "Human", "content": "\n\nHuman:"}, {"role": "Assistant", "content": " x"}])
@example([{"role": "Human", "content": "\n"}, {"role": "Human", "content": "\n\nAssistant:"}])
def test_turns_round_trip_through_the_transcript_text(turns):
    text = records.format_transcript(turns)
    assert records.parse_transcript(text) == turns
    assert records.format_transcript(records.parse_transcript(text)) == text


def test_demo_transcripts_round_trip():
    for record in demo_data.generate_records(200, seed=3):
        assert records.format_transcript(records.parse_transcript(record["transcript"])) == record["transcript"]


# --- attack_task_data -----------------------------------------------------------------------


def test_attack_task_data_holds_only_what_a_reviewer_should_see():
    record = good_records(1)[0]
    data = records.attack_task_data(record, 17)
    assert data == {
        "attack_id": 17,
        "dialogue": records.parse_transcript(record["transcript"]),
        "task_description": record["task_description"],
    }
    assert not set(data) & set(schema.HIDDEN_FROM_REVIEWERS)


def test_task_description_score_reads_either_spelling():
    assert records.task_description_score({"task_descripton_harmlessness_score": 1.5}) == 1.5
    assert records.task_description_score({"task_description_harmlessness_score": -2.0}) == -2.0
    assert records.task_description_score({}) is None


# --- layouts --------------------------------------------------------------------------------


def write(path, text: str, compress: bool) -> None:
    raw = text.encode("utf-8")
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("layout", ["array", "jsonl"])
@pytest.mark.parametrize("name", ["red_team_attempts.jsonl.gz", "records.json", "records"])
def test_every_layout_loads_whatever_the_file_name_says(tmp_path, compress, layout, name):
    originals = good_records(5)
    path = tmp_path / name
    demo_data.write_records(path, originals, gzip=compress, layout=layout)
    loaded = records.load_records(path)
    assert loaded == originals
    assert [list(r) for r in loaded] == [list(r) for r in originals]


def test_array_pretty_printed_with_bom_and_both_score_spellings(tmp_path):
    originals = good_records(2)
    originals[1]["task_description_harmlessness_score"] = originals[1].pop("task_descripton_harmlessness_score")
    path = tmp_path / "r.json"
    path.write_text("\ufeff  \n" + json.dumps(originals, indent=2, ensure_ascii=False), encoding="utf-8")
    assert records.load_records(path) == originals


def test_json_lines_skips_blank_lines_and_counts_records_not_lines(tmp_path):
    originals = good_records(3)
    path = tmp_path / "r.jsonl"
    path.write_text("\n" + json.dumps(originals[0]) + "\n\n" + json.dumps(originals[1]) + "\r\n" + json.dumps(originals[2]))
    assert records.load_records(path) == originals


def test_optional_fields_may_be_null_or_absent(tmp_path):
    record = {"transcript": "\n\nHuman: hi", "task_description": "t", "model_type": "rlhf", "num_params": "52B",
              "rating": None, "tags": None, "min_harmlessness_score_transcript": 0}
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(record) + "\n" + json.dumps({**record, "rating": 3, "tags": ["Theft"]}))
    assert len(records.load_records(path)) == 2


def test_progress_counts_every_record(tmp_path):
    path = tmp_path / "r.json.gz"
    demo_data.write_records(path, demo_data.generate_records(2345, transcript_chars=60))
    seen = []

    class Bar:
        def __enter__(self):
            return Tracker()

        def __exit__(self, *exc):
            return False

    class Tracker:
        def update(self, n):
            seen.append(n)

    def progress(length):
        seen.append(("length", length))
        return Bar()

    assert len(records.load_records(path, progress=progress)) == 2345
    assert seen[0] == ("length", 2345)
    assert sum(seen[1:]) == 2345


# --- malformed files and records -------------------------------------------------------------

# Each case: (file name, function(path) writing it, expected message after "<path>: ").
def _record(**changes):
    record = {**good_records(1)[0], "transcript": f"\n\nHuman: {SECRET}\n\nAssistant: ok"}
    for key, value in changes.items():
        if value is KeyError:
            del record[key]
        else:
            record[key] = value
    return record


def _jsonl(*items):
    return "".join((item if isinstance(item, str) else json.dumps(item)) + "\n" for item in items)


GOOD = _record()
MALFORMED = [
    ("array not JSON", "x.json", '[\n{"a": 1},\n{"b": 2,,}\n]', False, "not JSON (line 3, column 9): Expecting property name enclosed in double quotes"),
    ("jsonl bad line", "x.jsonl", _jsonl(GOOD, "", GOOD, '{"transcript": "' + SECRET), False,
     "record 2 (line 4): not JSON (column " + str(len('{"transcript": "') ) + "): Unterminated string starting at"),
    ("transcript not a string", "x.jsonl.gz", _jsonl(GOOD, _record(transcript=5)), True, 'record 1 (line 2): "transcript" is not a string'),
    ("missing task_description", "x.json", json.dumps([GOOD, GOOD, _record(task_description=KeyError)]), False,
     'record 2 (array index 2): "task_description" is missing'),
    ("missing model_type", "x.json.gz", json.dumps([_record(model_type=KeyError)]), True, 'record 0 (array index 0): "model_type" is missing'),
    ("num_params a number", "x.jsonl", _jsonl(_record(num_params=52)), False, 'record 0 (line 1): "num_params" is not a string'),
    ("rating a string", "x.jsonl", _jsonl(GOOD, _record(rating="3")), False, 'record 1 (line 2): "rating" is not a number or null'),
    ("rating a bool", "x.jsonl", _jsonl(_record(rating=True)), False, 'record 0 (line 1): "rating" is not a number or null'),
    ("rating NaN", "x.jsonl", '{"transcript": "\\n\\nHuman: a", "task_description": "", "model_type": "m", "num_params": "1B", "rating": NaN}\n',
     False, 'record 0 (line 1): "rating" is not a finite number'),
    ("score a string", "x.jsonl", _jsonl(_record(task_description_harmlessness_score="high")), False,
     'record 0 (line 1): "task_description_harmlessness_score" is not a number or null'),
    ("tags not a list", "x.jsonl", _jsonl(_record(tags="Theft")), False, 'record 0 (line 1): "tags" is not a list of strings or null'),
    ("record not an object", "x.json", json.dumps([GOOD, [SECRET]]), False, "record 1 (array index 1): is not a JSON object"),
    ("jsonl line not an object", "x.jsonl", _jsonl(GOOD, "\n", f'"{SECRET}"'), False, "record 1 (line 4): is not a JSON object"),
    ("transcript opens with Assistant", "x.jsonl", _jsonl(GOOD, GOOD, _record(transcript=f"\n\nAssistant: {SECRET}")), False,
     'record 2 (line 3): "transcript" does not start with "\\n\\nHuman: "'),
    ("transcript empty", "x.json", json.dumps([_record(transcript="")]), False, 'record 0 (array index 0): "transcript" is empty'),
    ("top level an object", "x.json", '{"records": [\n]}', False, "one JSON object, not a JSON array or JSON Lines of records"),
    ("first line cut", "x.jsonl", '{"records": [\n', False, "record 0 (line 1): not JSON (column 14): Expecting value"),
    ("top level a string", "x.json", f'"{SECRET}"', False,
     "not a JSON array or JSON Lines of records (line 1 starts with neither '[' nor '{')"),
    ("empty file", "x.json", "  \n", False, "no records (the file is empty)"),
    ("empty gzip", "x.json.gz", "", True, "no records (the file is empty)"),
    ("empty array", "x.json", "[]", False, "no records (the array is empty)"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_input_names_file_and_record_without_quoting_text(tmp_path, case):
    _, name, text, compress, expected = case
    path = tmp_path / name
    write(path, text, compress)
    with pytest.raises(RecordError) as raised:
        records.load_records(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: {expected}")
    assert SECRET not in message and "\n" not in message


def test_truncated_gzip(tmp_path):
    path = tmp_path / "r.json.gz"
    demo_data.write_records(path, good_records(3))
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(RecordError, match=r"r\.json\.gz: damaged or truncated gzip data \(ends early\)$"):
        records.load_records(path)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "r.json.gz"
    raw = bytearray(gzip.compress(json.dumps(good_records(3)).encode()))
    raw[20:30] = b"\xff" * 10
    path.write_bytes(bytes(raw))
    with pytest.raises(RecordError, match=r"r\.json\.gz: damaged or truncated gzip data \(\w+\)$"):
        records.load_records(path)


def test_not_utf8_names_line_and_byte(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + b'{"transcript": "\xff"}\n')
    offset = len(json.dumps(GOOD).encode()) + 1 + len(b'{"transcript": "')
    with pytest.raises(RecordError) as raised:
        records.load_records(path)
    assert str(raised.value) == f"{path}: not UTF-8 text (line 2, byte {offset})"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(RecordError) as raised:
        records.load_records(tmp_path / "nope.json")
    assert str(raised.value) == f"{tmp_path / 'nope.json'}: no such file"
    with pytest.raises(RecordError) as raised:
        records.load_records(tmp_path)
    assert str(raised.value) == f"{tmp_path}: is a directory, not a red-team file"


# --- the demo records these tests stand on ------------------------------------------------------


def test_demo_records_have_the_real_shape_and_mix():
    assert demo_data.scaled_counts(demo_data.REAL_RECORD_COUNT, demo_data.REAL_MODEL_COUNTS) == demo_data.REAL_MODEL_COUNTS
    assert sum(demo_data.scaled_counts(101, demo_data.REAL_MODEL_COUNTS).values()) == 101
    generated = demo_data.generate_records(500, seed=4)
    assert generated == demo_data.generate_records(500, seed=4)
    assert list(generated[0]) == [
        "transcript", "min_harmlessness_score_transcript", "num_params", "model_type", "rating",
        "task_description", "task_descripton_harmlessness_score", "red_team_member_id", "is_upworker", "tags",
    ]
    assert all(records.record_problem(r) is None for r in generated)
    assert {r["rating"] for r in generated} == {0.0, 1.0, 2.0, 3.0, 4.0}
    tagged = [r["tags"] for r in generated if r["tags"] is not None]
    assert 1 <= len(tagged) < 50 and all(set(t) <= set(schema.TOPICS) and 1 <= len(t) <= 6 for t in tagged)
    assert 1000 < sum(len(r["transcript"]) for r in generated) / 500 < 3000
    other = demo_data.generate_records(2, score_key="task_description_harmlessness_score")
    assert "task_description_harmlessness_score" in other[0] and "task_descripton_harmlessness_score" not in other[0]
