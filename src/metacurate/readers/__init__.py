"""Readers turn input files into Arrow tables, one shard at a time.

A new input format is one new module with ``read(shard, text_column, rejects)`` registered in
``READERS`` and its file suffixes in ``SUFFIXES``.
"""

from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from metacurate.errors import InputError
from metacurate.readers import csv, jsonl, parquet, warc, wat, webdataset
from metacurate.readers.base import Rejects, Shard

SUFFIXES = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".jsonl.gz": "jsonl",
    ".json": "jsonl",
    ".json.gz": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".tar": "webdataset",
    ".tar.gz": "webdataset",
    ".tgz": "webdataset",
    ".warc": "warc",
    ".warc.gz": "warc",
    ".wat": "wat",
    ".wat.gz": "wat",
    ".warc.wat.gz": "wat",
}
READERS: dict[str, Callable[[Shard, str, Rejects], Iterator[pa.Table]]] = {
    "parquet": parquet.read,
    "jsonl": jsonl.read,
    "csv": csv.read,
    "tsv": csv.read,
    "webdataset": webdataset.read,
    "warc": warc.read,
    "wat": wat.read,
}
SHARD_ROWS = 100_000


def detect_format(path: str) -> str:
    name = Path(path).name.lower()
    for suffix, fmt in sorted(SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise InputError(f"{path}: unknown input format (supported: {', '.join(sorted(SUFFIXES))})")


def plan_shards(paths: list[str], shard_rows: int = SHARD_ROWS) -> list[Shard]:
    """Split the inputs into shards; Parquet by row groups, other formats one shard per file."""
    shards: list[Shard] = []
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"{path}: file not found")
        fmt = detect_format(path)
        if fmt == "parquet":
            for row_groups, rows in parquet.plan(path, shard_rows):
                shards.append(Shard(len(shards), path, fmt, row_groups, rows))
        else:
            shards.append(Shard(len(shards), path, fmt))
    return shards


def read_shard(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    return READERS[shard.format](shard, text_column, rejects)


__all__ = ["Rejects", "Shard", "detect_format", "plan_shards", "read_shard"]
