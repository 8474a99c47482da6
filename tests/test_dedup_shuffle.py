"""The de-duplication shuffle (``pipeline/dedup.py``) keeps exactly the rows one pass over the
whole run keeps, for any number of buckets, and whatever order the buckets are reduced in."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metacurate.filters.dedup import SeenPairs
from metacurate.location import Location
from metacurate.pipeline import dedup


def _one_pass(shards: list[np.ndarray | None]) -> set[tuple[int, int]]:
    """(shard, row) of every later occurrence, by one set over the shards in input order."""
    seen, later = SeenPairs(), set()
    for shard, ids in enumerate(shards):
        if ids is None:
            continue
        fresh = seen.first_seen(ids)
        later |= {(shard, int(row)) for row in np.flatnonzero(~fresh)}
    return later


def _shuffled(tmp_path, shards, buckets: int, starts: tuple[int, ...]) -> set[tuple[int, int]]:
    staged = np.array([ids is not None for ids in shards])
    blocks = dedup.Blocks(Location.of(tmp_path), staged, starts)
    for shard, ids in enumerate(shards):
        if ids is not None:
            np.save(blocks.ids_file(shard).path, dedup.shard_ids(ids))
    numbers = range(len(starts))
    combiner = dedup.BlockCombiner(blocks, buckets)
    for block in reversed(numbers):  # any order: each task is independent of its siblings
        combiner(block)
    reducer = dedup.BucketReducer(blocks, buckets)
    for bucket in reversed(range(buckets)):
        reducer(bucket)
    splitter = dedup.BlockSplitter(blocks, buckets)
    for block in reversed(numbers):
        splitter(block)
    return {
        (shard, int(row))
        for shard in range(len(shards))
        for row in dedup.duplicate_rows(blocks, shard)
    }


# Few distinct values so that duplicates are common; (0, 0) is "no image id", never a duplicate;
# large values land in the last buckets.
_WORD = st.sampled_from([0, 1, 2, 2**63, 2**64 - 1, 12345678901234567])
_ID = st.tuples(_WORD, st.sampled_from([0, 1, 2, 3]))
_SHARD = st.one_of(st.none(), st.lists(_ID, max_size=12))


@settings(max_examples=150, deadline=None)
@given(st.lists(_SHARD, min_size=1, max_size=8), st.integers(1, 7), st.data())
def test_shuffle_equals_one_pass(tmp_path_factory, shards, buckets, data):
    arrays = [None if s is None else np.array(s, np.uint64).reshape(-1, 2) for s in shards]
    later = data.draw(
        st.sets(st.integers(1, len(shards) - 1)) if len(shards) > 1 else st.just(set())
    )
    starts = (0, *sorted(later))  # consecutive shards in blocks of any size
    got = _shuffled(tmp_path_factory.mktemp("ids"), arrays, buckets, starts)
    assert got == _one_pass(arrays)


def test_rows_without_an_image_id_are_left_out_of_the_id_file():
    ids = np.array([[0, 0], [5, 1], [0, 0], [3, 2]], np.uint64)
    assert dedup.shard_ids(ids).tolist() == [[5, 1, 1], [3, 2, 3]]  # with their row numbers


def test_buckets_cut_the_id_space_into_contiguous_ranges():
    ids = np.array([[h, 1] for h in (1, 2**62, 2**63, 2**64 - 1)], np.uint64)
    assert dedup.bucket_of(ids[:, 0], 4).tolist() == [0, 1, 2, 3]
    starts = dedup.group_starts(ids[:, 0], [b * 2**62 for b in range(4)])
    slices = [ids[starts[b] : starts[b + 1], 0].tolist() for b in range(4)]
    assert slices == [[1], [2**62], [2**63], [2**64 - 1]]


def test_a_group_is_read_alone_from_its_file(tmp_path):
    """``read_group`` returns one group's rows (one ranged read), empty groups included."""
    table = np.array([[1, 10], [1, 11], [4, 12], [9, 13]], np.uint64)
    where = Location.of(tmp_path) / "grouped.npy"
    dedup.write_grouped(where, table, [0, 1, 4, 5, 9])
    groups = [dedup.read_group(where, g).tolist() for g in range(5)]
    assert groups == [[], [[1, 10], [1, 11]], [[4, 12]], [], [[9, 13]]]
    grouped = np.array([[5, 1], [3, 1], [2**63 + 9, 1], [2**63, 1]], np.uint64)  # not sorted
    dedup.write_grouped(where, grouped, [0, 2**63])
    assert dedup.read_group(where, 1)[:, 0].tolist() == [2**63 + 9, 2**63]


def test_blocks_group_consecutive_shards_by_their_ids(monkeypatch):
    monkeypatch.setattr(dedup, "IDS_PER_BLOCK", 10)
    assert dedup.plan_blocks(np.array([4, 4, 4, 0, 30, 1, 9])) == (0, 2, 4, 5)
    assert dedup.plan_blocks(np.array([0, 30, 10, 0, 0])) == (0, 1, 2)  # too many for one block
    assert dedup.plan_blocks(np.array([0])) == (0,)
    blocks = dedup.Blocks(Location.of("."), np.zeros(7, np.bool_), (0, 2, 4, 5))
    assert [blocks.of_shard(s) for s in range(7)] == [0, 0, 1, 1, 2, 3, 3]
    assert list(blocks.shards_of(1)) == [2, 3] and list(blocks.shards_of(3)) == [5, 6]


def test_buckets_follow_the_number_of_ids_and_never_outnumber_the_shards():
    per = dedup.IDS_PER_BUCKET
    assert dedup.bucket_count(0, 5) == dedup.bucket_count(per, 5) == 1
    assert dedup.bucket_count(per + 1, 5) == 2
    assert dedup.bucket_count(100 * per, 5) == 5
