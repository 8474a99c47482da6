"""De-duplication of (image, text) pairs: the id set, and the match stage across inputs."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import concat_parts
from hypothesis import given, settings
from hypothesis import strategies as st

import metacurate.pipeline.shards as shards_module
from metacurate.counting import count_ids
from metacurate.engine import LocalEngine
from metacurate.filters.dedup import SeenPairs, pair_ids
from metacurate.metadata import Metadata
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.match import run_match

METADATA = Metadata(["dog", "cat", "red", "photo"], "test")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 6), max_size=40), max_size=6))
def test_seen_pairs_keeps_exactly_first_occurrences(batches):
    """Against a Python set; small id values force probe chains and repeated keys."""
    seen, reference = SeenPairs(), set()
    for batch in batches:
        rows = [[v % 3 + 1, (v * 7919) << 1] for v in batch]
        ids = np.array(rows, dtype=np.uint64).reshape(-1, 2)
        expected = []
        for row in ids.tolist():
            expected.append(tuple(row) not in reference)
            reference.add(tuple(row))
        assert seen.first_seen(ids).tolist() == expected
    assert seen.size == len(reference)


def test_seen_pairs_grows_without_losing_ids():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 2**63, size=(300_000, 2), dtype=np.uint64)
    seen = SeenPairs()
    assert seen.first_seen(ids[:1000]).all()
    assert seen.first_seen(ids).sum() == len(ids) - 1000  # the table grew past 2^16 slots
    assert not seen.first_seen(ids[::7]).any()
    assert seen.nbytes <= 4 * 16 * len(ids)  # at most 64 bytes per distinct pair


def test_pair_ids_use_url_then_uuid_and_need_one():
    table = pa.table({"url": ["a", "a", "b"], "uuid": ["x", "y", "x"], "text": ["t", "t", "t"]})
    ids = pair_ids(table, "text")
    assert (ids[0] == ids[1]).all() and not (ids[0] == ids[2]).all()
    by_uuid = pair_ids(table.drop_columns(["url"]), "text")
    assert not (by_uuid[0] == by_uuid[1]).all() and (by_uuid[0] == by_uuid[2]).all()
    assert pair_ids(table.select(["text"]), "text") is None
    # A null url falls back to the row's uuid; a row with neither is never a duplicate.
    mixed = pa.table({"url": [None, None, None], "uuid": ["x", "x", None], "text": ["t"] * 3})
    ids = pair_ids(mixed, "text")
    assert (ids[0] == ids[1]).all() and (ids[2] == 0).all()
    assert SeenPairs().first_seen(np.concatenate([ids, ids])).tolist() == [
        True,
        False,
        True,
        False,
        False,
        True,
    ]


def _pool(rows: list[tuple[str, str]], origin: str) -> pa.Table:
    urls, texts = zip(*rows, strict=True)
    return pa.table({"url": urls, "text": texts, "origin": [origin] * len(rows)})


# Pairs repeat within a file, across files and across the row groups of one file.
FIRST = [("u1", "red dog"), ("u2", "cat"), ("u1", "red dog"), ("u3", "no match"), ("u2", "dog")]
SECOND = [("u2", "cat"), ("u4", "red photo"), ("u1", "red dog"), ("u1", "red photo")]


def _inputs(tmp_path) -> list[str]:
    paths = []
    for name, rows in (("a", FIRST), ("b", SECOND)):
        path = tmp_path / f"{name}.parquet"
        pq.write_table(_pool(rows, name), path, row_group_size=2)
        paths.append(str(path))
    return paths


@pytest.mark.parametrize("workers", [1, 2])
def test_match_keeps_each_pair_once_first_occurrence_wins(tmp_path, workers):
    out = tmp_path / f"out{workers}"
    summary = run_match(_inputs(tmp_path), out, METADATA, engine=LocalEngine(workers), shard_rows=2)
    table = concat_parts(out / "matched")
    got = list(
        zip(
            table["url"].to_pylist(),
            table["text"].to_pylist(),
            table["origin"].to_pylist(),
            strict=True,
        )
    )
    assert got == [
        ("u1", "red dog", "a"),
        ("u2", "cat", "a"),
        ("u2", "dog", "a"),
        ("u4", "red photo", "b"),
        ("u1", "red photo", "b"),
    ]
    assert summary["rows_duplicate"] == 3
    assert summary["rows_written"] == 5 == summary["dedup"]["pairs_distinct"]
    # Counts are over distinct pairs: exactly what the written rows' entry ids add up to.
    counts = np.load(out / "entry_counts.npy")
    assert np.array_equal(counts, count_ids(table["entry_ids"], len(METADATA)))
    assert summary["matches_total"] == int(counts.sum())
    assert not (out / "staging").exists()


def test_no_dedup_keeps_every_matched_row(tmp_path):
    summary = run_match(_inputs(tmp_path), tmp_path / "out", METADATA, dedup=False)
    assert summary["rows_written"] == 8 and summary["rows_duplicate"] == 0
    assert summary["dedup"] is None


def test_without_an_image_id_nothing_is_dropped(tmp_path):
    path = tmp_path / "texts.parquet"
    pq.write_table(pa.table({"text": ["red dog", "red dog"]}), path)
    summary = run_match([str(path)], tmp_path / "out", METADATA)
    assert summary["rows_written"] == 2 and summary["dedup"]["pairs_distinct"] == 0


def test_killed_while_publishing_resumes_to_the_same_result(tmp_path, monkeypatch):
    inputs = _inputs(tmp_path)
    run_match(inputs, tmp_path / "clean", METADATA, shard_rows=2)
    out = tmp_path / "out"
    real, calls = shards_module.Publisher.__call__, []

    def publish_then_die(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("killed")
        return real(*args)

    with monkeypatch.context() as patch:
        patch.setattr(shards_module.Publisher, "__call__", publish_then_die)
        with pytest.raises(KeyboardInterrupt):
            run_match(inputs, out, METADATA, shard_rows=2)
    assert not (out / "match_summary.json").exists()
    summary = run_match(inputs, out, METADATA, shard_rows=2)
    assert summary["shards_resumed"] == summary["shards"]
    assert concat_parts(out / "matched").equals(concat_parts(tmp_path / "clean/matched"))
    assert np.array_equal(
        np.load(out / "entry_counts.npy"), np.load(tmp_path / "clean/entry_counts.npy")
    )
    clean = json.loads((tmp_path / "clean/match_summary.json").read_text())
    assert summary["rows_duplicate"] == clean["rows_duplicate"] == 3


def test_balance_reads_only_distinct_pairs(tmp_path):
    run_match(_inputs(tmp_path), tmp_path / "out", METADATA)
    card = run_balance(tmp_path / "out", t=100)
    assert card["balancing"]["rows_kept"] == 5  # t above every count keeps all distinct pairs
    assert card["matching"]["rows_duplicate"] == 3
