"""Loading a red-team file of the real size: load + validate + parse vs. a bare json.load.

Generates 38,961 benign records with the real fields and model mix (transcripts ~2 KB each),
writes them as the real file is laid out (one gzipped JSON array), then times, best of 3:
  baseline  - gzip + json.load of the same file, no checks at all;
  ours      - records.load_records: decompress, decode, check every field, parse every transcript.
It also times the JSON Lines layout of the same records. The ratio printed is ours / baseline:
how many times longer a fully checked load takes than merely decoding the JSON.

Run: .venv/bin/python benchmarks/bench_load.py
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import tempfile
import time

from review_project import demo_data, records

N = demo_data.REAL_RECORD_COUNT
REPEATS = 3


def best_of(func, repeats=REPEATS):
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return min(times), result


def bare_json_load(path):
    with gzip.open(path, "rt", encoding="utf-8") as file:
        return json.load(file)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        generated = demo_data.generate_records(N, seed=0)
        generate_seconds = time.perf_counter() - start
        array_path = os.path.join(folder, "red_team_attempts.jsonl.gz")
        lines_path = os.path.join(folder, "red_team_attempts.lines.gz")
        demo_data.write_records(array_path, generated, gzip=True, layout="array")
        demo_data.write_records(lines_path, generated, gzip=True, layout="jsonl")
        raw_mb = sum(len(json.dumps(r)) for r in generated) / 1e6
        mean_chars = sum(len(r["transcript"]) for r in generated) / N
        del generated

        print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        print(
            f"{N:,} records generated in {generate_seconds:.1f} s: mean transcript {mean_chars:,.0f} chars, "
            f"{raw_mb:.0f} MB of JSON, {os.path.getsize(array_path) / 1e6:.1f} MB gzipped"
        )

        baseline_s, plain = best_of(lambda: bare_json_load(array_path))
        assert len(plain) == N
        del plain
        ours_s, loaded = best_of(lambda: records.load_records(array_path))
        assert len(loaded) == N
        turns = sum(len(records.parse_transcript(r["transcript"])) for r in loaded[:1000])
        del loaded
        lines_s, loaded = best_of(lambda: records.load_records(lines_path))
        assert len(loaded) == N
        del loaded

        print(f"best of {REPEATS} runs each:")
        print(f"  baseline, gzip + json.load only (no checks):      {baseline_s:6.2f} s  {N / baseline_s:9,.0f} records/s")
        print(f"  load_records, JSON array (checked and parsed):    {ours_s:6.2f} s  {N / ours_s:9,.0f} records/s")
        print(f"  load_records, JSON Lines (checked and parsed):    {lines_s:6.2f} s  {N / lines_s:9,.0f} records/s")
        print(f"  (first 1,000 transcripts hold {turns:,} turns)")
        print(
            f"ratio load_records / bare json.load = {ours_s / baseline_s:.2f}x (array), "
            f"{lines_s / baseline_s:.2f}x (JSON Lines): the cost of checking every record and "
            "parsing every transcript on top of decoding"
        )


if __name__ == "__main__":
    main()
