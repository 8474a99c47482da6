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

Every file a later step reads a slice of is written with an index (``*.index.npy``: the row
where each group starts), so a reader fetches its slice with one ranged read: on an object
store, a reducer downloads its bucket's share of each block, not every block whole.

A reducer holds the set of its bucket's distinct ids (32-64 bytes each), so the number of
buckets follows the number of ids: about ``IDS_PER_BUCKET`` each (about 512 MB per reducer),
though never more buckets than shards, so a run of few very large shards has fuller buckets.
"""

import bisect
from dataclasses import asdict, dataclass

import numpy as np

from metacurate.filters.dedup import SeenPairs
from metacurate.location import Location, read_npy
from metacurate.readers.base import part_name
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


def plan_blocks(ids_per_shard: np.ndarray) -> tuple[int, ...]:
    """The first shard of each block: consecutive shards, at most ``IDS_PER_BLOCK`` ids each
    unless one shard alone has more (a shard's staged rows bound its ids: rows without an image
    id have none). One search per block, not a loop over a million shards."""
    total = np.cumsum(ids_per_shard, dtype=np.int64)
    starts, start = [0], 0
    while True:
        before = int(total[start - 1]) if start else 0
        # the first shard past the block's room; a block holds its first shard at least
        start = max(int(np.searchsorted(total, before + IDS_PER_BLOCK, side="right")), start + 1)
        if start >= len(total):
            return tuple(starts)
        starts.append(start)


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


def index_name(name: str) -> str:
    """``block-00001.ids.npy`` -> ``block-00001.ids.index.npy``: where its groups start."""
    return f"{name.removesuffix('.npy')}.index.npy"


# Every file the steps may write, by block or bucket number (at most one of each per shard).
NUMBERED_FILES = (
    block_ids,
    block_dups,
    dups_name,
    bucket_marker,
    *(lambda n, f=f: index_name(f(n)) for f in (block_ids, block_dups, dups_name)),
)


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


def bucket_of(id_hi: np.ndarray, buckets: int) -> np.ndarray:
    """The bucket of each ``id_hi``."""
    return np.searchsorted(np.array(_edges(buckets), np.uint64), id_hi, side="right") - 1


def group_starts(column: np.ndarray, keys) -> np.ndarray:
    """Where each key's group starts in ``column`` (grouped by key, groups in key order), then
    the row count: group ``k`` is rows ``[starts[k], starts[k + 1])``. Grouped is enough for a
    binary search: every row before a group has a smaller key, every row from it on one at least
    as large. The keys are made uint64 like the column: Python ints would make NumPy compare the
    two as float64."""
    found = np.searchsorted(column, np.array(keys, np.uint64), side="left")
    return np.append(found, len(column))


def write_grouped(where: Location, table: np.ndarray, keys) -> None:
    """Write ``table`` (grouped by its first column in the order of ``keys``) with its index.
    The index comes first: the table's file is what marks the step done."""
    write_npy(where.parent / index_name(where.name), group_starts(table[:, 0], keys))
    write_npy(where, table)


def read_group(where: Location, group: int) -> np.ndarray:
    """The rows of one group of a file ``write_grouped`` wrote: one ranged read."""
    starts = read_npy(where.parent / index_name(where.name))
    start, stop = int(starts[group]), int(starts[group + 1])
    with where.open_input() as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = {1: np.lib.format.read_array_header_1_0}.get(
            major, np.lib.format.read_array_header_2_0
        )
        (_, width), _, dtype = read_header(f)
        row = width * dtype.itemsize
        f.seek(f.tell() + start * row)
        data = f.read((stop - start) * row)
    return np.frombuffer(data, dtype).reshape(-1, width)


def _input_order(shard_rows: np.ndarray) -> np.ndarray:
    """``[shard, row]`` pairs sorted by shard, then row."""
    return shard_rows[np.lexsort((shard_rows[:, 1], shard_rows[:, 0]))]


@dataclass(frozen=True)
class Blocks:
    """Which shards each block holds, and where the shuffle's files are."""

    staging_dir: Location
    staged: np.ndarray  # bool by shard number: whether the shard has an id file
    starts: tuple[int, ...]  # the first shard of each block

    def ids_file(self, shard: int) -> Location | None:
        """The shard's id file, None when it staged no rows."""
        if not self.staged[shard]:
            return None
        return self.file(ids_name(part_name(shard, len(self.staged))))

    def shards_of(self, block: int) -> range:
        stop = self.starts[block + 1] if block + 1 < len(self.starts) else len(self.staged)
        return range(self.starts[block], stop)

    def of_shard(self, shard: int) -> int:
        return bisect.bisect_right(self.starts, shard) - 1

    def file(self, name: str) -> Location:
        return self.staging_dir / name


@dataclass(frozen=True)
class BlockCombiner:
    """Picklable step 1: a block's shards' ids -> one file of ``[id_hi, id_lo, shard, row]``
    grouped by bucket, in input order within each."""

    blocks: Blocks
    buckets: int

    def __call__(self, block: int) -> None:
        tables = [np.empty((0, 4), np.uint64)]
        for shard in self.blocks.shards_of(block):
            ids_file = self.blocks.ids_file(shard)
            if ids_file is not None:
                tables.append(np.insert(read_npy(ids_file), 2, shard, axis=1))
        table = np.concatenate(tables)  # in input order: shards in order, rows in order
        if self.buckets > 1:  # a stable grouping keeps each bucket's ids in input order
            table = table[np.argsort(bucket_of(table[:, 0], self.buckets), kind="stable")]
        write_grouped(self.blocks.file(block_ids(block)), table, _edges(self.buckets))


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
            chunk = read_group(self.blocks.file(block_ids(block)), bucket)
            found.append(chunk[~seen.first_seen(chunk[:, :2]), 2:])
        dups = np.concatenate(found)  # by shard: blocks in order, each in input order
        write_grouped(self.blocks.file(dups_name(bucket)), dups, self.blocks.starts)
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
            found.append(read_group(self.blocks.file(dups_name(bucket)), block))
        dups = _input_order(np.concatenate(found))
        write_grouped(self.blocks.file(block_dups(block)), dups, shards)


def duplicate_rows(blocks: Blocks, shard: int) -> np.ndarray:
    """Row numbers of shard ``shard`` that are later occurrences."""
    block = blocks.of_shard(shard)
    dups = read_group(blocks.file(block_dups(block)), shard - blocks.starts[block])
    return np.asarray(dups[:, 1], np.int64)
