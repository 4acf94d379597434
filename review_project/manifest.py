"""The sample manifest: JSON Lines, one sampled attack a line, every original field plus attack_id.

The manifest is where the fields reviewers must not see (self-rating, model, scores, tags)
live; Label Studio gets only `records.attack_task_data`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable

from review_project.records import read_input_file, record_problem
from review_project.shared import ManifestError


def model_key(record: dict) -> str:
    """The model an attack was made on, as reports label it: "context distillation 52B"."""
    return f"{record['model_type']} {record['num_params']}"


def manifest_line(record: dict) -> str:
    """One manifest line (without the newline): keys in the record's own order, UTF-8 as is."""
    return json.dumps(record, ensure_ascii=False)


def write_manifest(path: str | os.PathLike, records: list[dict]) -> None:
    """Write `records` (each with an int attack_id) as JSON Lines, atomically: all or nothing.

    The text goes to a temporary file next to `path`, which is then renamed over it, so a
    failure part way never leaves a half-written manifest.
    """
    for record in records:
        if not _is_attack_id(record.get("attack_id")):
            raise ValueError("every manifest record needs an int attack_id")
    write_atomically(path, "".join(manifest_line(record) + "\n" for record in records))


def write_atomically(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` (UTF-8) through a temporary file and a rename; ManifestError if it cannot."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".partial")
    except OSError as error:
        raise ManifestError(f"{target}: cannot be written ({error.strerror})") from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(error, OSError):
            raise ManifestError(f"{target}: cannot be written ({error.strerror})") from None
        raise


def read_manifest(path: str | os.PathLike, fields: Iterable[str] | None = None) -> list[dict]:
    """Read and check a manifest; raises ManifestError naming the file and line of the first problem.

    Each line must be a valid red-team record (see `records.record_problem`) with a unique
    non-negative int attack_id. Blank lines are ignored. fields : keep only these keys (and
    attack_id) of each record once it is checked; a whole-dataset manifest is 100 MB of
    transcripts, which a report that does not show them need not hold (nor split into turns,
    unless "transcript" is among the fields). The file is read a line at a time.
    """
    name = os.fspath(path)
    keep = None if fields is None else {"attack_id", *fields}
    records: list[dict] = []
    seen: dict[int, int] = {}
    offset = 0
    try:
        file = open(name, "rb")
    except OSError:
        read_input_file(name, ManifestError, "manifest")  # raises the one-line error that fits
        raise
    with file:
        for number, raw in enumerate(file, start=1):
            try:
                line = raw.decode("utf-8").removesuffix("\n")
            except UnicodeDecodeError as error:
                raise ManifestError(f"{name}: not UTF-8 text (byte {offset + error.start})") from None
            offset += len(raw)
            if not line.strip():
                continue
            record = _checked(name, number, line, seen, keep is None or "transcript" in keep)
            seen[record["attack_id"]] = number
            records.append(record if keep is None else {k: v for k, v in record.items() if k in keep})
    if not records:
        raise ManifestError(f"{name}: no attacks (the manifest is empty)")
    return records


def _checked(name: str, number: int, line: str, seen: dict[int, int], transcript_turns: bool = True) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ManifestError(f"{name}: line {number}: not JSON (column {error.colno}): {error.msg}") from None
    problem = record_problem(record, transcript_turns)
    if problem is None:
        attack_id = record.get("attack_id")
        if "attack_id" not in record:
            problem = '"attack_id" is missing'
        elif not _is_attack_id(attack_id):
            problem = '"attack_id" is not a non-negative integer'
        elif attack_id in seen:
            problem = f"attack_id {attack_id} is also on line {seen[attack_id]}"
    if problem is not None:
        raise ManifestError(f"{name}: line {number}: {problem}")
    return record


def _is_attack_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
