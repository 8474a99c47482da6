"""match -> count -> balance end to end: outputs, determinism, resume and data safety."""

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reference import reference_match

import metacurate.pipeline.shards as shards_module
from metacurate.engine import LocalEngine
from metacurate.errors import OutputConflict
from metacurate.metadata import Metadata
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.match import run_match

ENTRIES = [
    "dog",
    "cat",
    "red",
    "the",
    "The",
    "of",
    "photo",
    "new york",
    "york",
    "a",
    "1",
    "black dog",
]
METADATA = Metadata(ENTRIES, "test")
# Every word of the entries (so multi-word entries can occur) plus words matching nothing.
WORDS = list(dict.fromkeys(w for e in ENTRIES for w in e.split())) + ["zzz", "qq"]


def _pool(n: int, seed: int = 0) -> pa.Table:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(WORDS) + 1)
    weights /= weights.sum()
    texts = [" ".join(rng.choice(WORDS, size=rng.integers(1, 6), p=weights)) for _ in range(n)]
    texts[::97] = [""] * len(texts[::97])
    return pa.table(
        {
            "url": [f"https://example.com/{i}.jpg" for i in range(n)],
            "text": texts,
            "extra": list(range(n)),
        }
    )


def _write_parquet(table: pa.Table, path, row_group_size=1000) -> str:
    pq.write_table(table, path, row_group_size=row_group_size)
    return str(path)


def _curated_rows(folder) -> list[tuple]:
    # Parts from Parquet keep their column types, those from CSV or JSON Lines carry text.
    parts = sorted(folder.glob("part-*.parquet"))
    table = pa.concat_tables(pq.read_table(p, columns=["url", "keep_prob"]) for p in parts)
    return sorted(zip(table["url"].to_pylist(), table["keep_prob"].to_pylist(), strict=True))


def test_match_outputs_equal_reference(tmp_path):
    pool = _pool(3000)
    summary = run_match(
        [_write_parquet(pool, tmp_path / "pool.parquet")], tmp_path / "out", METADATA
    )
    expected = [reference_match(t, ENTRIES) for t in pool["text"].to_pylist()]
    matched = pa.concat_tables(
        pq.read_table(p) for p in sorted((tmp_path / "out/matched").glob("*.parquet"))
    )
    assert matched.schema.field("entry_ids").type == pa.list_(pa.int32())
    assert matched.column_names == ["url", "text", "extra", "entry_ids"]
    got = dict(zip(matched["extra"].to_pylist(), matched["entry_ids"].to_pylist(), strict=True))
    assert got == {i: ids for i, ids in enumerate(expected) if ids}
    counts = np.load(tmp_path / "out/entry_counts.npy")
    assert counts.dtype == np.uint64
    assert (
        counts.tolist()
        == np.bincount(np.concatenate([e for e in expected if e]), minlength=len(ENTRIES)).tolist()
    )
    assert summary["rows_read"] == 3000
    assert summary["rows_matched"] == sum(1 for e in expected if e)
    assert summary["rows_empty_text"] == len(pool["text"].to_pylist()[::97])
    written = json.loads((tmp_path / "out/metadata.json").read_text())
    assert written["entries"] == ENTRIES
    assert (
        json.loads((tmp_path / "out/match_summary.json").read_text())["rows_matched"]
        == summary["rows_matched"]
    )


def test_same_subset_for_any_worker_count_order_and_split(tmp_path):
    pool = _pool(6000, seed=3)
    one = [_write_parquet(pool, tmp_path / "one.parquet")]
    run_match(one, tmp_path / "w1", METADATA, engine=LocalEngine(1))
    run_balance(tmp_path / "w1", t=300, seed=7, engine=LocalEngine(1))
    run_match(one, tmp_path / "w2", METADATA, engine=LocalEngine(2), shard_rows=1500)
    run_balance(tmp_path / "w2", t=300, seed=7, engine=LocalEngine(2))
    # The same rows shuffled into three files of other formats, given in another order.
    shuffled = pool.take(np.random.default_rng(0).permutation(len(pool)))
    split = [
        _write_parquet(shuffled.slice(0, 2500), tmp_path / "a.parquet"),
        str(tmp_path / "b.jsonl"),
        str(tmp_path / "c.csv"),
    ]
    with open(split[1], "w") as f:
        for row in shuffled.slice(2500, 2000).to_pylist():
            f.write(json.dumps(row) + "\n")
    pa.csv.write_csv(shuffled.slice(4500), split[2])
    run_match(split[::-1], tmp_path / "split", METADATA, engine=LocalEngine(2))
    run_balance(tmp_path / "split", t=300, seed=7, engine=LocalEngine(2))

    reference = _curated_rows(tmp_path / "w1/curated-t300-seed7")
    assert 0 < len(reference) < 6000
    assert _curated_rows(tmp_path / "w2/curated-t300-seed7") == reference
    assert _curated_rows(tmp_path / "split/curated-t300-seed7") == reference
    assert np.array_equal(
        np.load(tmp_path / "w1/entry_counts.npy"), np.load(tmp_path / "split/entry_counts.npy")
    )


def test_tail_fraction_gives_the_same_run_as_its_t(tmp_path):
    run_match([_write_parquet(_pool(2000), tmp_path / "p.parquet")], tmp_path / "out", METADATA)
    card = run_balance(tmp_path / "out", tail=0.3, seed=0)
    t = card["balancing"]["t"]
    assert card["balancing"]["tail_fraction"] >= 0.3
    again = run_balance(tmp_path / "out", t=t, seed=0)
    assert again["balancing"]["rows_kept"] == card["balancing"]["rows_kept"]
    for name in ("datacard.json", "datacard.md", "cumulative_counts.png"):
        assert (tmp_path / f"out/curated-t{t}-seed0" / name).stat().st_size > 0


def _fail_on_shard(monkeypatch, index):
    """Make reading shard ``index`` raise, as a kill during that shard would stop the run."""
    real = shards_module.read_shard

    def read(shard, *args):
        if shard.index == index:
            raise KeyboardInterrupt("killed")
        return real(shard, *args)

    monkeypatch.setattr(shards_module, "read_shard", read)


def test_resume_redoes_only_unfinished_shards(tmp_path, monkeypatch):
    inputs = [_write_parquet(_pool(4000), tmp_path / "p.parquet")]
    clean = run_match(inputs, tmp_path / "clean", METADATA, shard_rows=1000)
    out = tmp_path / "out"
    with monkeypatch.context() as patch:
        _fail_on_shard(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            run_match(inputs, out, METADATA, shard_rows=1000)
    assert not (out / "match_summary.json").exists()
    assert not list((out / "matched").glob("part-*.parquet"))  # nothing looks complete
    staged = {p.name: p.stat().st_mtime_ns for p in (out / "staging").glob("part-*.parquet")}
    assert set(staged) == {"part-00000.parquet", "part-00001.parquet"}
    (out / "staging/.part-00002.parquet.tmp-999").write_bytes(b"half a file")

    summary = run_match(inputs, out, METADATA, shard_rows=1000)
    assert summary["shards_resumed"] == 2
    for name, mtime in staged.items():  # moved, not rewritten
        assert (out / "matched" / name).stat().st_mtime_ns == mtime
    assert not (out / "staging").exists()
    assert summary["rows_written"] == clean["rows_written"]
    assert np.array_equal(
        np.load(out / "entry_counts.npy"), np.load(tmp_path / "clean/entry_counts.npy")
    )


def test_different_run_in_same_folder_is_refused_unless_overwrite(tmp_path):
    inputs = [_write_parquet(_pool(500), tmp_path / "p.parquet")]
    run_match(inputs, tmp_path / "out", METADATA)
    other = Metadata(["dog"], "other")
    with pytest.raises(OutputConflict, match="metadata_sha256"):
        run_match(inputs, tmp_path / "out", other)
    summary = run_match(inputs, tmp_path / "out", other, overwrite=True)
    assert json.loads((tmp_path / "out/metadata.json").read_text())["entries"] == ["dog"]
    assert summary["entries_matched"] == 1


def test_unknown_outputs_are_refused_even_with_overwrite(tmp_path):
    (tmp_path / "out/matched").mkdir(parents=True)
    (tmp_path / "out/matched/part-00000.parquet").write_bytes(b"a user's own file")
    inputs = [_write_parquet(_pool(10), tmp_path / "p.parquet")]
    for overwrite in (False, True):
        with pytest.raises(OutputConflict, match="matched/part-00000.parquet that no metacurate"):
            run_match(inputs, tmp_path / "out", METADATA, overwrite=overwrite)
    assert (tmp_path / "out/matched/part-00000.parquet").read_bytes() == b"a user's own file"


def test_balance_resume_gives_the_same_card(tmp_path):
    out = tmp_path / "out"
    run_match([_write_parquet(_pool(4000), tmp_path / "p.parquet")], out, METADATA, shard_rows=1000)
    first = run_balance(out, t=50, seed=1)
    curated = out / "curated-t50-seed1"
    (curated / "part-00001.json").unlink()
    (curated / "part-00001.parquet").unlink()
    again = run_balance(out, t=50, seed=1)
    assert again["balancing"] == first["balancing"]
    assert again["top_entries"] == first["top_entries"]
    assert (curated / "part-00001.parquet").exists()
