"""Cross-shard de-duplication as a shuffle: no process ever holds the whole run's pair ids.

Each shard's worker writes the pair ids of its rows with their row numbers (``part-N.ids.npy``:
rows of ``[id_hi, id_lo, row]``; rows without an image id are never duplicates and are left
out). Then, each step a map over small tasks that the engine spreads:

1. combine: consecutive shards are grouped into blocks of about ``IDS_PER_BLOCK`` ids. The id
   space is cut into ``buckets`` ranges of ``id_hi``; each block's ids, with their shard
   numbers, are grouped by bucket into one file (``block-K.ids.npy``), each bucket's ids still
   in input order. A reducer then reads one slice per block, not one per shard: a run of a
   million shards is a thousand blocks.
2. reduce: one reducer per bucket reads its slice of every block in input order and keeps the
   first occurrence of each id (``SeenPairs``, so exactly the pairs one pass over the whole run
   would keep); it writes the ``[shard, row]`` of every later occurrence (``dups-B.npy``).
3. split: each block gathers its shards' later occurrences from every bucket
   (``block-K.dups.npy``), so that publishing a shard reads one small file.

A reducer holds the set of its bucket's distinct ids (32-64 bytes each), so the number of
buckets follows the number of ids: about ``IDS_PER_BUCKET`` each (about 512 MB per reducer),
though never more buckets than shards, so a run of few very large shards has fuller buckets.
"""

import bisect
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from metacurate.filters.dedup import SeenPairs
from metacurate.writers.atomic import write_npy

IDS_PER_BUCKET = 8_000_000
# A combiner holds its block about five times over while sorting (ids, shard numbers, the order,
# the sorted copy): measured 1.18 GB at 8M ids, so blocks of 4M stay near 600 MB.
IDS_PER_BLOCK = 4_000_000
_ID_SPACE = 1 << 64


def bucket_count(ids: int, shards: int) -> int:
    """Buckets for ``ids`` pair ids in all: about ``IDS_PER_BUCKET`` each, and never more than
    there are shards (the run folder's layout lists a few files per shard at most)."""
    return min(max(1, -(-ids // IDS_PER_BUCKET)), max(shards, 1))


def plan_blocks(ids_per_shard: list[int]) -> list[int]:
    """The first shard of each block: consecutive shards, about ``IDS_PER_BLOCK`` ids each."""
    starts, filled = [0], 0
    for shard, ids in enumerate(ids_per_shard):
        if filled and filled + ids > IDS_PER_BLOCK:
            starts.append(shard)
            filled = 0
        filled += ids
    return starts


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


def block_ids(block: int) -> str:
    return f"block-{block:05d}.ids.npy"


def block_dups(block: int) -> str:
    return f"block-{block:05d}.dups.npy"


def dups_name(bucket: int) -> str:
    return f"dups-{bucket:05d}.npy"


def bucket_marker(bucket: int) -> str:
    return f"dups-{bucket:05d}.json"


# Every file the steps may write, by block or bucket number (at most one of each per shard).
NUMBERED_FILES = (block_ids, block_dups, dups_name, bucket_marker)


def shard_ids(ids: np.ndarray | None) -> np.ndarray:
    """``(n, 2)`` pair ids (``(0, 0)``: no image id) -> ``[id_hi, id_lo, row]`` rows, without the
    rows that have no image id."""
    if ids is None:
        return np.empty((0, 3), np.uint64)
    rows = np.flatnonzero((ids[:, 0] != 0) | (ids[:, 1] != 0))
    return np.column_stack([ids[rows], rows.astype(np.uint64)])


def _edges(buckets: int) -> list[int]:
    """The first ``id_hi`` of each bucket (the last bucket runs to the end of the id space)."""
    return [b * _ID_SPACE // buckets for b in range(buckets)]


def _first_at_least(column: np.ndarray, value: int) -> int:
    """Where ``value`` goes in a sorted uint64 column. The key is made uint64 too: a Python int
    would make NumPy compare the two as float64, converting the whole column first."""
    return int(np.searchsorted(column, np.uint64(value), side="left"))


def bucket_of(id_hi: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each ``id_hi``."""
    return np.searchsorted(np.array(_edges(buckets), np.uint64), id_hi, side="right") - 1


def bucket_slice(ids: np.ndarray, bucket: int, buckets: int) -> np.ndarray:
    """The rows of ``ids`` (grouped by bucket in bucket order) whose ``id_hi`` falls in
    ``bucket``. Grouped is enough for a binary search: every row before a bucket's first has a
    smaller ``id_hi`` than its edge, every row from it on one at least as large."""
    edges = _edges(buckets)
    start = _first_at_least(ids[:, 0], edges[bucket])
    stop = _first_at_least(ids[:, 0], edges[bucket + 1]) if bucket + 1 < buckets else len(ids)
    return ids[start:stop]


def _shard_range(table: np.ndarray, first: int, stop: int) -> np.ndarray:
    """The rows of ``table`` (sorted by its first column, a shard number) for shards
    ``first <= shard < stop``."""
    return table[_first_at_least(table[:, 0], first) : _first_at_least(table[:, 0], stop)]


def _input_order(shard_rows: np.ndarray) -> np.ndarray:
    """``[shard, row]`` pairs sorted by shard, then row."""
    return shard_rows[np.lexsort((shard_rows[:, 1], shard_rows[:, 0]))]


@dataclass(frozen=True)
class Blocks:
    """Which shards each block holds, and where the shuffle's files are."""

    staging_dir: Path
    parts: tuple[str | None, ...]  # by shard number; None: the shard has no id file
    starts: tuple[int, ...]  # the first shard of each block

    def shards_of(self, block: int) -> range:
        stop = self.starts[block + 1] if block + 1 < len(self.starts) else len(self.parts)
        return range(self.starts[block], stop)

    def of_shard(self, shard: int) -> int:
        return bisect.bisect_right(self.starts, shard) - 1

    def load(self, name: str) -> np.ndarray:
        return np.load(self.staging_dir / name, mmap_mode="r")


@dataclass(frozen=True)
class BlockCombiner:
    """Picklable step 1: a block's shards' ids -> one file of ``[id_hi, id_lo, shard, row]``
    grouped by bucket, in input order within each."""

    blocks: Blocks
    buckets: int

    def __call__(self, block: int) -> None:
        tables = [np.empty((0, 4), np.uint64)]
        for shard in self.blocks.shards_of(block):
            part = self.blocks.parts[shard]
            if part is not None:
                ids = self.blocks.load(ids_name(part))
                tables.append(np.insert(ids, 2, shard, axis=1))
        table = np.concatenate(tables)  # in input order: shards in order, rows in order
        if self.buckets > 1:  # a stable grouping keeps each bucket's ids in input order
            table = table[np.argsort(bucket_of(table[:, 0], self.buckets), kind="stable")]
        write_npy(self.blocks.staging_dir / block_ids(block), table)


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
    """Picklable step 2: one bucket of every block's ids -> the later occurrences."""

    blocks: Blocks
    buckets: int

    def __call__(self, bucket: int) -> BucketResult:
        seen = SeenPairs()
        found = [np.empty((0, 2), np.uint64)]
        for block in range(len(self.blocks.starts)):
            chunk = bucket_slice(self.blocks.load(block_ids(block)), bucket, self.buckets)
            found.append(chunk[~seen.first_seen(chunk[:, :2]), 2:])
        dups = np.concatenate(found)
        write_npy(self.blocks.staging_dir / dups_name(bucket), dups)
        return BucketResult(len(dups), seen.size, seen.nbytes)


@dataclass(frozen=True)
class BlockSplitter:
    """Picklable step 3: a block's shards' later occurrences, gathered from every bucket."""

    blocks: Blocks
    buckets: int

    def __call__(self, block: int) -> None:
        shards = self.blocks.shards_of(block)
        found = [np.empty((0, 2), np.uint64)]
        for bucket in range(self.buckets):
            found.append(_shard_range(self.blocks.load(dups_name(bucket)), shards[0], shards.stop))
        dups = _input_order(np.concatenate(found))
        write_npy(self.blocks.staging_dir / block_dups(block), dups)


def duplicate_rows(blocks: Blocks, shard: int) -> np.ndarray:
    """Row numbers of shard ``shard`` that are later occurrences."""
    dups = blocks.load(block_dups(blocks.of_shard(shard)))
    return np.asarray(_shard_range(dups, shard, shard + 1)[:, 1], np.int64)
