"""Red-team records in the hh-rlhf `red-team-attempts` format: loading, validating, transcripts.

The released file is one JSON array of objects, gzipped, although it is named `.jsonl.gz`;
some mirrors re-wrote it as JSON Lines. Both layouts are accepted, gzipped or not: gzip is
detected by its magic bytes and the layout by the first character, never by the file name.

Error messages name the file and the record but never quote transcript text.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import zlib
from collections.abc import Callable, Iterator
from contextlib import nullcontext

from review_project import schema
from review_project.shared import RecordError

GZIP_MAGIC = b"\x1f\x8b"

HUMAN = "Human"
ASSISTANT = "Assistant"
ROLES = (HUMAN, ASSISTANT)

# A turn starts only at one of these separators; see parse_transcript.
_SEPARATOR = re.compile(r"\n\n(Human|Assistant): ")
_FIRST_TURN = "\n\nHuman: "
_FIRST_TURN_BARE = "Human: "

REQUIRED_STRINGS = ("transcript", "task_description", "model_type", "num_params")
# Optional, but when present each must be a finite number or null. Both spellings of the
# task-description score are accepted: the real file has the typo, its docs do not.
NUMBERS_OR_NULL = (
    "rating",
    "min_harmlessness_score_transcript",
    "task_descripton_harmlessness_score",
    "task_description_harmlessness_score",
)

# How often (in records) the progress bar advances while checking.
_PROGRESS_STEP = 1000


def parse_transcript(text: str) -> list[dict]:
    """Split a transcript into turns: `[{"role": "Human"|"Assistant", "content": str}, ...]`.

    Rule: a turn starts only at "\\n\\nHuman: " or "\\n\\nAssistant: " (two newlines, the role,
    a colon and one space); everything up to the next such separator is the turn's content,
    kept character for character (it may hold newlines, blank lines, colons, quotes, "Human:"
    without the two newlines before it, ...). The transcript must open with "\\n\\nHuman: "
    (or, as some mirrors strip leading whitespace, "Human: "). So
    `parse_transcript(format_transcript(turns)) == turns` whenever no content contains a
    separator. Raises RecordError (without quoting the text) if the transcript is not a string,
    is empty, or does not open with a Human turn.
    """
    if not isinstance(text, str):
        raise RecordError('"transcript" is not a string')
    if not text:
        raise RecordError('"transcript" is empty')
    if not text.startswith(_FIRST_TURN):
        if not text.startswith(_FIRST_TURN_BARE):
            raise RecordError('"transcript" does not start with "\\n\\nHuman: "')
        text = "\n\n" + text
    parts = _SEPARATOR.split(text)
    # parts = ["", role, content, role, content, ...]: the text opens with a separator.
    return [{"role": parts[i], "content": parts[i + 1]} for i in range(1, len(parts), 2)]


def format_transcript(turns: list[dict]) -> str:
    """The transcript text of `turns` in the hh-rlhf layout ("\\n\\nHuman: ...\\n\\nAssistant: ...")."""
    return "".join(f"\n\n{turn['role']}: {turn['content']}" for turn in turns)


def attack_task_data(record: dict, attack_id: int) -> dict:
    """The Label Studio task data of one attack: attack_id, dialogue turns and task description only."""
    return schema.task_data(attack_id, parse_transcript(record["transcript"]), record["task_description"])


def task_description_score(record: dict) -> float | None:
    """The task-description harmlessness score under either spelling of its key (None if absent)."""
    if record.get("task_descripton_harmlessness_score") is not None:
        return record["task_descripton_harmlessness_score"]
    return record.get("task_description_harmlessness_score")


def record_problem(record: object, transcript_turns: bool = True) -> str | None:
    """What is wrong with one record, in words that never quote its text; None if it is valid.

    transcript_turns=False checks that the transcript is text without splitting it into turns,
    for a reader that keeps no transcript (a third of reading a whole-dataset manifest)."""
    if not isinstance(record, dict):
        return "is not a JSON object"
    for key in REQUIRED_STRINGS:
        if key not in record:
            return f'"{key}" is missing'
        if not isinstance(record[key], str):
            return f'"{key}" is not a string'
    for key in NUMBERS_OR_NULL:
        value = record.get(key)
        if value is None:
            continue
        # bool is an int in Python but never a score in the data.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f'"{key}" is not a number or null'
        if not math.isfinite(value):
            return f'"{key}" is not a finite number'
    tags = record.get("tags")
    if tags is not None and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
        return '"tags" is not a list of strings or null'
    if not transcript_turns:
        return None
    try:
        parse_transcript(record["transcript"])
    except RecordError as error:
        return str(error)
    return None


def load_records(path: str | os.PathLike, progress: Callable | None = None) -> list[dict]:
    """Read and check every record of a red-team file; each returned dict is the original, unchanged.

    The list index of a record is its attack_id. `progress`, if given, is called with the
    number of records and must return a context manager whose value has `update(n)` (a click
    progressbar fits). Raises RecordError naming the file and the record on the first problem.
    """
    return list(iter_records(path, progress))


def iter_records(path: str | os.PathLike, progress: Callable | None = None) -> Iterator[dict]:
    """Like load_records, one checked record at a time (the whole file is still read first)."""
    name = os.fspath(path)
    records, lines = _read_layout(name)
    with progress(len(records)) if progress is not None else nullcontext() as bar:
        for position, record in enumerate(records):
            problem = record_problem(record)
            if problem is not None:
                raise RecordError(f"{name}: {_where(position, lines)}: {problem}")
            if bar is not None and position % _PROGRESS_STEP == _PROGRESS_STEP - 1:
                bar.update(_PROGRESS_STEP)
            yield record
        if bar is not None:
            bar.update(len(records) % _PROGRESS_STEP)


def _where(position: int, lines: list[int] | None) -> str:
    """The record's zero-based position (its attack_id), with its line in a JSON Lines file."""
    if lines is None:
        return f"record {position} (array index {position})"
    return f"record {position} (line {lines[position]})"


def _read_layout(name: str) -> tuple[list, list[int] | None]:
    """Decoded records and, for JSON Lines, the 1-based line of each (None for an array)."""
    raw = _read_bytes(name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise RecordError(f"{name}: not UTF-8 text (line {line}, byte {error.start})") from None
    start = len(text) - len(text.lstrip())
    if start == len(text):
        raise RecordError(f"{name}: no records (the file is empty)")
    if text[start] == "[":
        return _read_array(name, text), None
    if text[start] == "{":
        return _read_json_lines(name, text)
    line = text.count("\n", 0, start) + 1
    raise RecordError(
        f"{name}: not a JSON array or JSON Lines of records (line {line} starts with neither '[' nor '{{')"
    )


def read_input_file(name: str, error: type[Exception], kind: str) -> bytes:
    """The bytes of an input file, or `error` with one line saying why it cannot be read."""
    try:
        with open(name, "rb") as file:
            return file.read()
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except IsADirectoryError:
        raise error(f"{name}: is a directory, not a {kind}") from None
    except OSError as problem:
        raise error(f"{name}: cannot be read ({problem.strerror})") from None


def _read_bytes(name: str) -> bytes:
    raw = read_input_file(name, RecordError, "red-team file")
    if raw[:2] == GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (EOFError, gzip.BadGzipFile, zlib.error) as error:
            raise RecordError(f"{name}: damaged or truncated gzip data ({_gzip_reason(error)})") from None
    return raw


def _gzip_reason(error: Exception) -> str:
    if isinstance(error, EOFError):
        return "ends early"
    return type(error).__name__


def _read_array(name: str, text: str) -> list:
    try:
        records = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"{name}: not JSON (line {error.lineno}, column {error.colno}): {error.msg}") from None
    if not isinstance(records, list):
        raise RecordError(f"{name}: not a JSON array of records")
    if not records:
        raise RecordError(f"{name}: no records (the array is empty)")
    return records


def _read_json_lines(name: str, text: str) -> tuple[list, list[int]]:
    records: list = []
    lines: list[int] = []
    decode = json.loads
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(decode(line))
        except json.JSONDecodeError as error:
            if not records:
                _reject_single_object(name, text)
            where = f"record {len(records)} (line {number})"
            raise RecordError(f"{name}: {where}: not JSON (column {error.colno}): {error.msg}") from None
        lines.append(number)
    return records, lines


def _reject_single_object(name: str, text: str) -> None:
    """A whole file holding one JSON object spread over lines is not JSON Lines: say so plainly."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        return
    if isinstance(whole, dict):
        raise RecordError(f"{name}: one JSON object, not a JSON array or JSON Lines of records")
