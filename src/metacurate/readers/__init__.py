"""Readers turn input files into Arrow tables, one shard at a time.

A new input format is one new module with ``read(shard, text_column, rejects)`` registered in
``READERS`` and its file suffixes in ``SUFFIXES``; it opens its file with
``sources.open_input``, so it reads local files, object stores and HTTP(S) alike.
"""

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pyarrow as pa

from metacurate.errors import InputError, RemoteReadError
from metacurate.readers import csv, jsonl, parquet, warc, wat, webdataset
from metacurate.readers.base import Rejects, Shard, read_failed
from metacurate.readers.plan import PlanBuilder, ShardPlan
from metacurate.readers.sources import file_name, is_remote, require_file

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
# Remote inputs are looked up (and Parquet footers read) this many at a time: a CommonCrawl
# snapshot lists 90,000 files, one round trip each.
PLAN_THREADS = 16


def _suffix(name: str) -> str | None:
    """The longest input suffix the file name ends with."""
    name = name.lower()
    return max((suffix for suffix in SUFFIXES if name.endswith(suffix)), key=len, default=None)


def detect_format(path: str) -> str:
    suffix = _suffix(file_name(path))
    if suffix is None:
        raise InputError(f"{path}: unknown input format (supported: {', '.join(sorted(SUFFIXES))})")
    return SUFFIXES[suffix]


def _files_of(folder: str) -> str:
    """FOLDER/*.SUFFIX, with the suffix of an input file among the folder's first entries."""
    with os.scandir(folder) as entries:
        names = (entry.name for entry in itertools.islice(entries, 1000))
        suffix = next(filter(None, map(_suffix, names)), ".parquet")
    return str(Path(folder) / f"*{suffix}")


def plan_shards(paths: list[str], shard_rows: int = SHARD_ROWS) -> ShardPlan:
    """Split the inputs into shards; Parquet by row groups, other formats one shard per file.
    The first input at fault (in input order) is the error."""
    builder = PlanBuilder()
    planned = _planned(partial(_plan_file, shard_rows=shard_rows), paths)
    for path, (fmt, row_groups) in zip(paths, planned, strict=True):
        if row_groups is None:
            builder.add_file(path, fmt)
        else:
            builder.add_row_groups(path, fmt, row_groups)
    return builder.build()


def _planned(plan_one: Callable[[str], tuple], paths: list[str]) -> Iterator[tuple]:
    """``plan_one`` of each path, in order; remote inputs ``PLAN_THREADS`` at a time, with a
    bounded window of lookups ahead (a listing may name a million files)."""
    if not any(map(is_remote, paths)):
        yield from map(plan_one, paths)
        return
    with ThreadPoolExecutor(PLAN_THREADS) as pool:
        ahead: deque[Future] = deque()
        try:
            for path in paths:
                ahead.append(pool.submit(plan_one, path))
                if len(ahead) >= 4 * PLAN_THREADS:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
        finally:
            for future in ahead:
                future.cancel()


def _plan_file(path: str, shard_rows: int) -> tuple[str, list | None]:
    """(format, Parquet's row-group ranges or None) of one input, once it is known to be a
    readable file."""
    if is_remote(path):
        require_file(path)
    elif Path(path).is_dir():
        raise InputError(
            f"{path}: is a folder, not a file; give its files (for example {_files_of(path)})"
        )
    elif not Path(path).is_file():
        raise InputError(f"{path}: file not found")
    fmt = detect_format(path)
    return fmt, (parquet.plan(path, shard_rows) if fmt == "parquet" else None)


def read_shard(shard: Shard, text_column: str, rejects: Rejects) -> Iterator[pa.Table]:
    """The shard's rows, batch by batch. A remote input that keeps failing (the retries spent)
    ends its shard with a counted reject, ``input_read_failed``: the rows read before it are
    kept and the run goes on. Readers that hold rows back in a batch catch it themselves, where
    they end on a truncated file, so those rows are kept too."""
    try:
        yield from READERS[shard.format](shard, text_column, rejects)
    except RemoteReadError as err:
        read_failed(rejects, err)


__all__ = ["Rejects", "Shard", "ShardPlan", "detect_format", "plan_shards", "read_shard"]
