"""Readers turn input files into Arrow tables, one shard at a time.

A new input format is one new module with ``read(shard, text_column, rejects)`` registered in
``READERS`` and its file suffixes in ``SUFFIXES``.
"""

import itertools
import os
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


def _suffix(name: str) -> str | None:
    """The longest input suffix the file name ends with."""
    name = name.lower()
    return max((suffix for suffix in SUFFIXES if name.endswith(suffix)), key=len, default=None)


def detect_format(path: str) -> str:
    suffix = _suffix(Path(path).name)
    if suffix is None:
        raise InputError(f"{path}: unknown input format (supported: {', '.join(sorted(SUFFIXES))})")
    return SUFFIXES[suffix]


def _files_of(folder: str) -> str:
    """FOLDER/*.SUFFIX, with the suffix of an input file among the folder's first entries."""
    with os.scandir(folder) as entries:
        names = (entry.name for entry in itertools.islice(entries, 1000))
        suffix = next(filter(None, map(_suffix, names)), ".parquet")
    return str(Path(folder) / f"*{suffix}")


def plan_shards(paths: list[str], shard_rows: int = SHARD_ROWS) -> list[Shard]:
    """Split the inputs into shards; Parquet by row groups, other formats one shard per file."""
    shards: list[Shard] = []
    for path in paths:
        if Path(path).is_dir():
            raise InputError(
                f"{path}: is a folder, not a file; give its files (for example {_files_of(path)})"
            )
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
