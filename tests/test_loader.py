"""metacurate.loader: per-epoch draws, the shard split, resume, and epoch 0 = the offline subset."""

import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import webdataset as wds
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from torch.utils.data import DataLoader

from metacurate.balance.sampling import entry_probabilities, keep_decisions, pair_keys
from metacurate.loader import (
    BalanceStage,
    OnlineBalance,
    balanced_samples,
    epoch_order,
    epoch_seed,
    expand_shards,
    merge_states,
    shard_records,
    slot_shards,
)
from metacurate.loader.torch import BalancedDataset
from metacurate.metadata import Metadata
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.match import run_match
from metacurate.readers.base import image_uuid

ENTRIES = 40
T = 30
SEED = 11


def _records(n: int, seed: int = 0) -> list[dict]:
    """Images with 1-3 texts, each matching 1-3 entries drawn Zipf-like (a few head entries)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, ENTRIES + 1) ** 1.3
    weights /= weights.sum()
    records = []
    for i in range(n):
        n_texts = int(rng.integers(1, 4))
        ids = [
            sorted({int(e) for e in rng.choice(ENTRIES, size=rng.integers(1, 4), p=weights)})
            for _ in range(n_texts)
        ]
        record = {"texts": [f"text {j} of image {i}" for j in range(n_texts)], "entry_ids": ids}
        # Every fifth image has no url (a MetaCLIP shard): its draws are keyed by its uuid.
        record |= {"uuid": f"uuid-{i}"} if i % 5 == 0 else {"url": f"https://x.org/{i}.jpg"}
        records.append(record)
    return records


def _counts(records: list[dict]) -> np.ndarray:
    ids = [e for r in records for text_ids in r["entry_ids"] for e in text_ids]
    return np.bincount(ids, minlength=ENTRIES).astype(np.uint64)


def _png(i: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (i % 256, 0, 0)).save(out, format="PNG")
    return out.getvalue()


def _write_shards(folder, records: list[dict], shards: int) -> str:
    """``shards`` tar files of the records, written out of key order (as img2dataset's threads
    finish); the brace pattern naming them."""
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for s in range(shards):
        with wds.TarWriter(str(folder / f"{s:05d}.tar")) as tar:
            for i in rng.permutation(np.arange(s, len(records), shards)):
                tar.write({"__key__": f"{i:09d}", "png": _png(i), "json": records[i]})
    return str(folder / f"{{00000..{shards - 1:05d}}}.tar")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """(records, counts, shard pattern): 600 images in 8 shards."""
    records = _records(600)
    folder = tmp_path_factory.mktemp("shards")
    return records, _counts(records), _write_shards(folder, records, 8)


def _uuid(record: dict) -> str:
    return record.get("uuid") or image_uuid(record["url"])


# --- the draws --------------------------------------------------------------------------------


def test_epoch_sizes_are_near_the_expected_size_and_epochs_differ():
    records = _records(3000, seed=1)
    balance = OnlineBalance(_counts(records), T, SEED)
    p = balance.keep_probabilities(records)
    assert p.min() < 0.5 < p.max()  # head and tail images both present
    expected, std = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert balance.expected_size(records) == pytest.approx(expected)
    used = [balance.draw(records, epoch).used for epoch in range(6)]
    for mask in used:
        assert abs(mask.sum() - expected) < 4 * std
    for a in range(6):
        for b in range(a + 1, 6):
            assert (used[a] != used[b]).sum() > 0.05 * len(records)
    # Images certain to be kept (a tail entry) are used every epoch.
    assert all(mask[p == 1.0].all() for mask in used)


def test_epoch_seed_is_the_seed_for_epoch_zero_and_distinct_after():
    assert epoch_seed(SEED, 0) == SEED
    seeds = {epoch_seed(SEED, e) for e in range(1, 1000)} | {epoch_seed(SEED + 1, 1)}
    assert len(seeds) == 1000 and SEED not in seeds
    assert all(0 <= s < 2**64 for s in seeds)
    with pytest.raises(ValueError, match="seed"):
        OnlineBalance(np.ones(3), T, seed=2**64)


_record = st.builds(
    lambda texts, ids, url, key: {
        "url": url,
        "uuid": key,
        "texts": texts[: len(ids)],
        "entry_ids": ids[: len(texts)],
    },
    st.lists(st.text(max_size=8), max_size=4, unique=True),
    st.lists(st.lists(st.integers(0, 9), max_size=4, unique=True), max_size=4),
    st.one_of(st.none(), st.text(max_size=6)),
    st.text(max_size=6),
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_record, max_size=25),
    st.lists(st.integers(1, 60), min_size=10, max_size=10),
    st.integers(0, 2**64 - 1),
    st.integers(0, 5),
    st.integers(1, 30),
)
def test_draw_is_keep_decisions_with_the_epoch_seed(records, counts, seed, epoch, split):
    """Each kept text is exactly what ``keep_decisions`` keeps for its (url or uuid, text) row
    under the epoch's seed; the chosen text is a kept one; drawing in batches changes nothing."""
    balance = OnlineBalance(np.array(counts), 5, seed)
    draw = balance.draw(records, epoch)
    rows = [(r, j) for r in records for j in range(len(r["texts"]))]
    table = pa.table(
        {
            "url": pa.array([r["url"] for r, _ in rows], pa.string()),
            "uuid": pa.array([r["uuid"] for r, _ in rows], pa.string()),
            "text": pa.array([r["texts"][j] for r, j in rows], pa.string()),
            "entry_ids": pa.array([r["entry_ids"][j] for r, j in rows], pa.list_(pa.int32())),
        }
    )
    p = entry_probabilities(np.array(counts), 5)
    seed_e = np.uint64(epoch_seed(seed, epoch))
    keep, prob = keep_decisions(pair_keys(table, "text"), table["entry_ids"], p, seed_e)
    assert [j for (_, j), k in zip(rows, keep, strict=True) if k] == [
        j for kept in draw.kept for j in kept
    ]
    for record, kept, chosen, image_prob in zip(
        records, draw.kept, draw.chosen, draw.keep_prob, strict=True
    ):
        assert (chosen in kept) if kept else chosen == -1
        miss = np.prod([1 - p[e] for ids in record["entry_ids"] for e in ids])
        assert image_prob == pytest.approx(1 - miss, abs=1e-12)
    parts = [balance.draw(records[:split], epoch), balance.draw(records[split:], epoch)]
    assert [*parts[0].kept, *parts[1].kept] == draw.kept
    assert np.concatenate([parts[0].chosen, parts[1].chosen]).tolist() == draw.chosen.tolist()


def test_entry_ids_outside_the_counts_are_refused():
    balance = OnlineBalance(np.ones(3), T)
    with pytest.raises(ValueError, match="entry id 3 is outside"):
        balance.draw([{"url": "u", "texts": ["a"], "entry_ids": [[3]]}], 0)
    with pytest.raises(ValueError, match="neither url nor uuid"):
        balance.draw([{"texts": ["a"], "entry_ids": [[0]]}], 0)


# --- shards and the split ---------------------------------------------------------------------


@pytest.mark.parametrize(("world", "workers"), [(1, 1), (1, 3), (2, 2), (3, 1)])
def test_slots_partition_the_epoch_order(world, workers):
    shards = [f"s{i}" for i in range(13)]
    for epoch in range(3):
        slots = [
            slot_shards(shards, SEED, epoch, rank, world, worker, workers)
            for rank in range(world)
            for worker in range(workers)
        ]
        assert sorted(s for slot in slots for s in slot) == sorted(shards)
    orders = {tuple(epoch_order(shards, SEED, epoch)) for epoch in range(5)}
    assert len(orders) == 5


def test_too_few_shards_are_refused_or_warned_about():
    with pytest.raises(ValueError, match="2 shards for 3 ranks"):
        slot_shards(["a", "b"], 0, 0, 0, 3, 0, 1)
    with pytest.warns(UserWarning, match="workers read nothing"):
        slot_shards(["a", "b"], 0, 0, 0, 1, 0, 4)


def test_balanced_samples_and_the_webdataset_stage_agree(pool):
    records, counts, pattern = pool
    balance = OnlineBalance(counts, T, SEED)
    shards = expand_shards(pattern)
    ours = list(balanced_samples(balance, shards, 2))
    assert all(s["text"] in s["kept_texts"] for s in ours)
    for decode in (False, True):
        stages = [wds.SimpleShardList(shards), wds.tarfile_to_samples()]
        stages += [wds.decode()] if decode else []
        pipeline = wds.DataPipeline(*stages, BalanceStage(balance, lambda: 2))
        theirs = [(s["json"], s["txt"]) for s in pipeline]
        text_type = str if decode else bytes
        assert all(isinstance(text, text_type) for _, text in theirs)
        got = [
            (_uuid(json.loads(meta) if isinstance(meta, bytes) else meta), text)
            for meta, text in theirs
        ]
        got = [(u, t if isinstance(t, str) else t.decode()) for u, t in got]
        assert got == [(s["uuid"], s["text"]) for s in ours]
    assert sum(1 for shard in shards for _ in shard_records(shard)) == len(records)


# --- epoch 0 is the offline subset ------------------------------------------------------------


def test_epoch_zero_keeps_exactly_what_balance_keeps(tmp_path):
    words = ["dog", "cat", "red", "the", "a", "photo", "of", "new york", "zzz"]
    metadata = Metadata(words, "test")
    rng = np.random.default_rng(5)
    urls, texts = [], []
    for i in range(700):
        for j in range(int(rng.integers(1, 4))):
            n_words = int(rng.integers(1, 5))
            texts.append(f"{' '.join(rng.choice(words, n_words))} {j}")
            urls.append(f"https://img.example/{i}.jpg")
    pq.write_table(pa.table({"url": urls, "text": texts}), tmp_path / "pool.parquet")
    out = tmp_path / "run"
    run_match([str(tmp_path / "pool.parquet")], out, metadata)
    run_balance(out, t=60, seed=SEED)

    matched = pa.concat_tables(
        pq.read_table(p) for p in sorted((out / "matched").glob("*.parquet"))
    )
    by_url: dict[str, dict] = {}
    columns = (matched[c].to_pylist() for c in ("url", "text", "entry_ids"))
    for url, text, ids in zip(*columns, strict=True):
        record = by_url.setdefault(url, {"url": url, "texts": [], "entry_ids": []})
        record["texts"].append(text)
        record["entry_ids"].append(ids)
    pattern = _write_shards(tmp_path / "shards", list(by_url.values()), 3)

    counts = np.load(out / "entry_counts.npy")
    assert counts.max() > 60 * 3  # several head entries, so balancing drops pairs
    samples = balanced_samples(OnlineBalance(counts, 60, SEED), expand_shards(pattern), 0)
    loader_pairs = Counter((s["json"]["url"], text) for s in samples for text in s["kept_texts"])
    curated = pa.concat_tables(
        pq.read_table(p, columns=["url", "text"])
        for p in sorted((out / f"curated-t60-seed{SEED}").glob("part-*.parquet"))
    )
    offline = Counter(zip(curated["url"].to_pylist(), curated["text"].to_pylist(), strict=True))
    assert 0 < len(offline) < len(matched)
    assert loader_pairs == offline


# --- the torch dataset ------------------------------------------------------------------------


def _to_tensor(image):
    return torch.from_numpy(np.asarray(image).copy())


def _dataset(pool, **kwargs) -> BalancedDataset:
    _, counts, pattern = pool
    return BalancedDataset(pattern, counts, T, SEED, transform=_to_tensor, **kwargs)


def _batches(dataset: BalancedDataset, workers: int, epoch: int = 0) -> list[dict]:
    dataset.set_epoch(epoch)
    loader = DataLoader(dataset, batch_size=16, num_workers=workers)
    return list(dataset.tracked(loader))


def _stream(batches: list[dict]) -> list[tuple[str, str]]:
    return [(u, t) for b in batches for u, t in zip(b["uuid"], b["text"], strict=True)]


def test_any_worker_or_rank_count_sees_each_used_sample_once(pool):
    records, counts, _ = pool
    want = {
        (_uuid(records[i]), records[i]["texts"][c])
        for i, c in enumerate(OnlineBalance(counts, T, SEED).draw(records, 1).chosen)
        if c >= 0
    }
    one = _stream(_batches(_dataset(pool), 0, epoch=1))
    two = _stream(_batches(_dataset(pool), 2, epoch=1))
    ranks = [_stream(_batches(_dataset(pool, rank=r, world_size=2), 2, epoch=1)) for r in range(2)]
    for stream in (one, two, ranks[0] + ranks[1]):
        assert len(stream) == len(set(stream))  # each used image once
        assert set(stream) == want
    assert set(ranks[0]).isdisjoint(ranks[1])
    batch = _batches(_dataset(pool), 0)[0]
    assert batch["image"].shape == (16, 8, 8, 3)


@pytest.mark.parametrize(("workers", "resume_workers", "world"), [(2, 1, 1), (0, 2, 1), (2, 1, 2)])
def test_resume_mid_epoch_gives_exactly_the_rest(pool, workers, resume_workers, world):
    epoch = 3
    full, taken, states = set(), [], []
    for rank in range(world):
        dataset = _dataset(pool, rank=rank, world_size=world)
        dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=8, num_workers=workers)
        batches = dataset.tracked(loader)
        taken += _stream([next(batches) for _ in range(5)])
        states.append(dataset.state_dict())
        full |= set(_stream(_batches(_dataset(pool, rank=rank, world_size=world), 0, epoch)))
    state = merge_states(states)
    assert state["epoch"] == epoch and sum(state["done"].values()) >= len(taken)

    resumed = _dataset(pool)  # one rank now
    resumed.load_state_dict(json.loads(json.dumps(state)))  # a checkpoint holds plain JSON
    rest = _stream(
        list(resumed.tracked(DataLoader(resumed, batch_size=8, num_workers=resume_workers)))
    )
    assert set(taken).isdisjoint(rest)
    assert len(rest) == len(set(rest))
    assert set(taken) | set(rest) == full
    # The next epoch starts from the beginning.
    resumed.set_epoch(epoch + 1)
    assert resumed.state_dict() == {"epoch": epoch + 1, "done": {}}
    assert len(_stream(_batches(resumed, 0, epoch + 1))) > len(rest)


def test_expected_epoch_size_sums_the_keep_probabilities(pool):
    records, counts, _ = pool
    dataset = _dataset(pool)
    assert dataset.expected_epoch_size() == pytest.approx(
        OnlineBalance(counts, T, SEED).keep_probabilities(records).sum()
    )


def test_expected_size_from_img2datasets_parquet_beside_each_tar(pool, tmp_path):
    records, counts, pattern = pool
    shards = expand_shards(pattern)
    for s, shard in enumerate(shards):  # as img2dataset writes it: failed rows too
        mine = [r for i, r in enumerate(records) if i % len(shards) == s]
        failed = {"texts": ["x"], "entry_ids": [[0]], "status": "failed_to_download"}
        rows = [
            {"texts": r["texts"], "entry_ids": r["entry_ids"], "status": "success"} for r in mine
        ]
        table = pa.Table.from_pylist([*rows, failed])
        copy = tmp_path / os.path.basename(shard)
        copy.write_bytes(Path(shard).read_bytes())
        pq.write_table(table, copy.with_suffix(".parquet"))
    from_parquet = BalancedDataset(str(tmp_path / "*.tar"), counts, T, SEED)
    assert from_parquet.expected_epoch_size() == pytest.approx(
        OnlineBalance(counts, T, SEED).keep_probabilities(records).sum(), rel=1e-12
    )
    with pytest.raises(ValueError, match="outside the entry counts"):
        BalancedDataset(str(tmp_path / "*.tar"), counts[:3], T, SEED).expected_epoch_size()


def test_tokenize_and_a_single_sample_record(pool):
    dataset = _dataset(pool, tokenize=lambda text: torch.tensor([len(text)]))
    sample = next(iter(dataset))
    assert sample["text"].shape == (1,)
    dataset.record(sample)
    assert dataset.state_dict()["done"] == {sample["__shard__"]: sample["__index__"] + 1}


def test_a_damaged_or_missing_image_is_skipped_with_a_warning(tmp_path):
    records = [
        {"url": f"https://x.org/{i}.jpg", "texts": ["a"], "entry_ids": [[0]]} for i in range(6)
    ]
    folder = tmp_path / "shards"
    folder.mkdir()
    with wds.TarWriter(str(folder / "00000.tar")) as tar:
        for i, record in enumerate(records):
            sample = {"__key__": f"{i:09d}", "json": record}
            if i == 2:
                sample["jpg"] = b"\xff\xd8 not a jpeg"
            elif i != 4:  # sample 4 has no image member at all
                sample["png"] = _png(i)
            tar.write(sample)
    dataset = BalancedDataset(str(folder / "00000.tar"), np.array([1], np.uint64), t=1)
    with pytest.warns(UserWarning) as caught:
        got = [sample["__key__"] for sample in dataset]
    assert got == [f"{i:09d}" for i in (0, 1, 3, 5)]
    messages = sorted(str(w.message) for w in caught if w.category is UserWarning)
    assert len(messages) == 2
    assert "00000.tar: sample 000000002 skipped: cannot identify image file" in messages[0]
    assert "00000.tar: sample 000000004 skipped: no jpg/jpeg/png/webp member" in messages[1]


def test_rewind_starts_the_epoch_again_and_counts_afresh(pool):
    dataset = _dataset(pool)
    first = _batches(dataset, 0, epoch=2)
    dataset.rewind()
    assert dataset.state_dict() == {"epoch": 2, "done": {}}
    again = list(dataset.tracked(DataLoader(dataset, batch_size=16)))
    assert _stream(again) == _stream(first)
    assert dataset.state_dict()["done"]


def test_the_core_imports_without_torch():
    code = "import sys; sys.modules['torch'] = None; import metacurate.loader"
    subprocess.run([sys.executable, "-c", code], check=True)
