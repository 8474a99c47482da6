"""Balancing: the right probabilities, and draws that behave like independent uniforms."""

import numpy as np
import pyarrow as pa
import pytest

from metacurate.balance.sampling import (
    entry_probabilities,
    keep_decisions,
    pair_keys,
    uniform_draws,
)
from metacurate.counting import count_ids


def _pairs(n_pairs: int, n_entries: int, seed: int) -> pa.ListArray:
    """Long-tailed matches: 1-6 distinct entries per pair, Zipf-like over entries."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_entries + 1) ** 1.1
    weights /= weights.sum()
    lists = [
        sorted(set(rng.choice(n_entries, size=rng.integers(1, 7), p=weights).tolist()))
        for _ in range(n_pairs)
    ]
    return pa.array(lists, pa.list_(pa.int32()))


def test_probabilities():
    p = entry_probabilities(np.array([0, 5, 10, 11, 1000], dtype=np.uint64), 10)
    assert p.tolist() == [1.0, 1.0, 1.0, 10 / 11, 0.01]


def test_draws_are_uniform_and_independent_of_entry():
    keys = np.arange(200_000, dtype=np.uint64)
    u = uniform_draws(keys, np.full(len(keys), 7), seed=3)
    assert u.min() >= 0.0 and u.max() < 1.0
    hist, _ = np.histogram(u, bins=20, range=(0, 1))
    expected = len(u) / 20
    chi2 = ((hist - expected) ** 2 / expected).sum()
    assert chi2 < 50  # 19 degrees of freedom: p < 1e-4 for a uniform
    v = uniform_draws(keys, np.full(len(keys), 8), seed=3)
    assert abs(np.corrcoef(u, v)[0, 1]) < 0.01
    w = uniform_draws(keys, np.full(len(keys), 7), seed=4)
    assert abs(np.corrcoef(u, w)[0, 1]) < 0.01


@pytest.mark.parametrize("t", [5, 40, 300])
def test_curated_size_matches_expectation(t):
    entry_ids = _pairs(40_000, 2_000, seed=1)
    counts = count_ids(entry_ids, 2_000)
    p = entry_probabilities(counts, t)
    keys = np.random.default_rng(2).integers(0, 2**63, size=len(entry_ids), dtype=np.uint64)
    keep, prob = keep_decisions(keys, entry_ids, p, seed=0)
    # keep_prob is 1 - prod(1 - p_e), computed independently here.
    direct = [1 - np.prod(1 - p[ids]) for ids in entry_ids.to_pylist()]
    np.testing.assert_allclose(prob, direct, rtol=1e-9, atol=1e-12)
    std = np.sqrt((prob * (1 - prob)).sum())
    assert abs(keep.sum() - prob.sum()) < 4 * std + 1
    assert keep.sum() < len(entry_ids)  # balancing removed something at these t


def test_head_entries_keep_about_t_pairs():
    # Pairs matching exactly one entry: a head entry with count c keeps Binomial(c, t/c) ~ t.
    t = 400
    sizes = [20_000, 5_000, 1_000, 300]
    entry_ids = pa.array([[e] for e, c in enumerate(sizes) for _ in range(c)], pa.list_(pa.int32()))
    counts = count_ids(entry_ids, len(sizes))
    keys = np.arange(len(entry_ids), dtype=np.uint64) * np.uint64(2654435761)
    keep, _ = keep_decisions(keys, entry_ids, entry_probabilities(counts, t), seed=11)
    kept_per_entry = np.bincount(np.repeat(np.arange(len(sizes)), sizes)[keep], minlength=4)
    for entry, c in enumerate(sizes):
        expected = min(c, t)
        assert (
            abs(kept_per_entry[entry] - expected) <= 4 * np.sqrt(expected * (1 - expected / c)) + 1
        )


def test_pair_keys_depend_on_content_only():
    table = pa.table({"url": ["u1", "u2", "u1", None], "text": ["a", "a", "b", "a"]})
    keys = pair_keys(table, "text")
    assert len(set(keys.tolist())) == 4
    reordered = pair_keys(table.take([3, 2, 1, 0]), "text")
    assert reordered.tolist() == keys[::-1].tolist()
    # Without url/uuid the text alone is the key; uuid is used when there is no url.
    no_url = pair_keys(table.drop_columns(["url"]), "text")
    assert no_url[0] == no_url[1] == no_url[3]
    with_uuid = pair_keys(table.rename_columns(["uuid", "text"]), "text")
    assert with_uuid.tolist() != no_url.tolist()


def test_same_seed_same_subset_different_seed_different_subset():
    entry_ids = _pairs(5_000, 300, seed=5)
    p = entry_probabilities(count_ids(entry_ids, 300), 20)
    keys = np.arange(len(entry_ids), dtype=np.uint64)
    a, _ = keep_decisions(keys, entry_ids, p, seed=1)
    b, _ = keep_decisions(keys, entry_ids, p, seed=1)
    c, _ = keep_decisions(keys, entry_ids, p, seed=2)
    assert (a == b).all()
    assert (a != c).any()


def test_every_64_bit_seed_draws():
    """`balance --seed` takes any 64-bit seed: one past 2**63 once overflowed numba's int64."""
    entry_ids = _pairs(2_000, 100, seed=6)
    p = entry_probabilities(count_ids(entry_ids, 100), 5)
    keys = np.arange(len(entry_ids), dtype=np.uint64)
    high, _ = keep_decisions(keys, entry_ids, p, seed=2**64 - 1)
    also_high, _ = keep_decisions(keys, entry_ids, p, seed=2**63)
    assert (high != also_high).any() and 0 < high.sum() < len(high)
    draws = uniform_draws(keys, np.zeros(len(keys), np.int64), seed=2**64 - 1)
    assert ((draws >= 0) & (draws < 1)).all()
