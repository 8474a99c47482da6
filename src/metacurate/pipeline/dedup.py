"""Cross-shard de-duplication as a shuffle: no process ever holds the whole run's pair ids.

Each shard's worker writes the pair ids of its rows with their row numbers, sorted by id
(``part-N.ids.npy``: rows of ``[id_hi, id_lo, row]``). The id space is cut into ``buckets``
ranges of ``id_hi``; since every shard's ids are sorted, a bucket is one contiguous slice of each
shard's file. One reducer per bucket reads its slice of every shard in input order and keeps the
first occurrence of each id (``SeenPairs``, so exactly the pairs a single pass over the whole run
would keep); it writes the ``[shard, row]`` of every later occurrence (``dups-B.npy``, sorted by
shard). Publishing shard ``s`` then drops the rows the buckets list for ``s``.

A reducer holds the set of its bucket's distinct ids (32-64 bytes each), so the number of
buckets follows the number of ids: about ``IDS_PER_BUCKET`` each (about 512 MB per reducer),
though never more buckets than shards, so a run of few very large shards has fuller buckets.
Rows without an image id are never duplicates and are left out of the id files.
"""

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from metacurate.filters.dedup import SeenPairs
from metacurate.writers.atomic import write_npy

IDS_PER_BUCKET = 8_000_000
_ID_SPACE = 1 << 64


def bucket_count(ids: int, shards: int) -> int:
    """Buckets for ``ids`` pair ids in all: about ``IDS_PER_BUCKET`` each, and never more than
    there are shards (the run folder's layout lists one pair of files per shard at most)."""
    return min(max(1, -(-ids // IDS_PER_BUCKET)), max(shards, 1))


def ids_in(path: Path) -> int:
    """How many ids an id file holds, from its header alone."""
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = {1: np.lib.format.read_array_header_1_0}.get(
            major, np.lib.format.read_array_header_2_0
        )
        shape, _, _ = read_header(f)
    return shape[0]


def ids_name(part: str) -> str:
    return f"{part}.ids.npy"


def dups_name(bucket: int) -> str:
    return f"dups-{bucket:05d}.npy"


def bucket_marker(bucket: int) -> str:
    return f"dups-{bucket:05d}.json"


BUCKET_FILES = (dups_name, bucket_marker)


def sorted_ids(ids: np.ndarray | None) -> np.ndarray:
    """``(n, 2)`` pair ids (``(0, 0)``: no image id) -> ``[id_hi, id_lo, row]`` rows sorted by
    ``id_hi``, without the rows that have no image id."""
    if ids is None:
        return np.empty((0, 3), np.uint64)
    rows = np.flatnonzero((ids[:, 0] != 0) | (ids[:, 1] != 0)).astype(np.uint64)
    table = np.column_stack([ids[rows.astype(np.intp)], rows])
    return table[np.argsort(table[:, 0], kind="stable")]


def _edges(buckets: int) -> np.ndarray:
    """The first ``id_hi`` of each bucket (the last bucket runs to the end of the id space)."""
    return np.array([b * _ID_SPACE // buckets for b in range(buckets)], np.uint64)


def bucket_slice(ids: np.ndarray, bucket: int, buckets: int) -> np.ndarray:
    """The rows of sorted ``ids`` whose ``id_hi`` falls in ``bucket``."""
    edges = _edges(buckets)
    start = int(np.searchsorted(ids[:, 0], edges[bucket], side="left"))
    stop = (
        int(np.searchsorted(ids[:, 0], edges[bucket + 1], side="left"))
        if bucket + 1 < buckets
        else len(ids)
    )
    return ids[start:stop]


@dataclass(frozen=True)
class BucketResult:
    """What a reducer found; its JSON is the bucket's marker."""

    duplicates: int
    distinct: int
    id_set_bytes: int

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BucketReducer:
    """Picklable reducer: one bucket of every shard's ids -> the later occurrences."""

    staging_dir: Path
    parts: tuple[str | None, ...]  # by shard index; None: the shard has no id file
    buckets: int

    def __call__(self, bucket: int) -> BucketResult:
        seen = SeenPairs()
        found: list[np.ndarray] = []
        for shard, part in enumerate(self.parts):
            if part is None:
                continue
            ids = np.load(self.staging_dir / ids_name(part), mmap_mode="r")
            chunk = bucket_slice(ids, bucket, self.buckets)
            if not len(chunk):
                continue
            chunk = chunk[np.argsort(chunk[:, 2], kind="stable")]  # input order within the shard
            later = chunk[~seen.first_seen(chunk[:, :2]), 2]
            found.append(np.column_stack([np.full(len(later), shard, np.uint64), later]))
        dups = np.concatenate(found) if found else np.empty((0, 2), np.uint64)
        write_npy(self.staging_dir / dups_name(bucket), dups)
        return BucketResult(len(dups), seen.size, seen.nbytes)


def duplicate_rows(staging_dir: Path, shard: int, buckets: int) -> np.ndarray:
    """Row numbers of shard ``shard`` that are later occurrences, from every bucket."""
    rows = []
    for bucket in range(buckets):
        dups = np.load(staging_dir / dups_name(bucket), mmap_mode="r")
        lo, hi = np.searchsorted(dups[:, 0], [shard, shard + 1])
        rows.append(np.asarray(dups[lo:hi, 1], np.int64))
    return np.concatenate(rows) if rows else np.empty(0, np.int64)
