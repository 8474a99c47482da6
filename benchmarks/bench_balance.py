#!/usr/bin/env python3
"""Balancing throughput: ``pair_keys`` + ``keep_decisions`` on a realistic matched set.

The matched set: ``--pairs`` rows (url + alt text), each with a sorted set of distinct entry ids
(1 + Poisson(2.5) draws, so about 3.5 per pair) drawn Zipf-like over the 500k entries (a few
head entries hold most matches, as in SPEC section 1). Entry counts come from these ids and
p_e = min(1, t / count_e). The rate is matched (pair, entry) draws per second, median over
``--repeats``; the target is 10M/s on one core. A plain per-pair Python loop drawing with
``random.Random(hash((seed, key, e)))`` on a ``--baseline-pairs`` subsample is timed in the
same run for comparison.

    python benchmarks/bench_balance.py --pairs 2000000 --repeats 5
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported anywhere

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import generate_texts, machine_note, median, spread  # noqa: E402

TARGET = 10_000_000  # matched (pair, entry) draws per second


def matched_set(n_pairs: int, n_entries: int, seed: int) -> tuple[pa.Table, np.ndarray]:
    """(table with url, text and entry_ids; entry counts) for ``n_pairs`` matched pairs."""
    rng = np.random.default_rng(seed)
    draws = 1 + rng.poisson(2.5, size=n_pairs)
    rows = np.repeat(np.arange(n_pairs, dtype=np.int64), draws)
    weights = 1.0 / np.arange(1, n_entries + 1, dtype=np.float64) ** 1.1
    cdf = np.cumsum(weights)
    ranks = np.searchsorted(cdf, rng.random(len(rows)) * cdf[-1])
    ids = rng.permutation(n_entries)[np.minimum(ranks, n_entries - 1)].astype(np.int64)
    order = np.lexsort((ids, rows))
    rows, ids = rows[order], ids[order]
    first = np.ones(len(ids), dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (ids[1:] != ids[:-1])  # drop repeats within a pair
    rows, ids = rows[first], ids[first]
    offsets = np.zeros(n_pairs + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n_pairs), out=offsets[1:])
    entry_ids = pa.ListArray.from_arrays(pa.array(offsets), pa.array(ids.astype(np.int32)))
    base = generate_texts(min(n_pairs, 200_000), seed)
    texts = [base[i % len(base)] for i in range(n_pairs)]
    urls = [f"https://img{i % 997}.example.com/p/{i:x}.jpg" for i in range(n_pairs)]
    table = pa.table({"url": pa.array(urls), "text": pa.array(texts), "entry_ids": entry_ids})
    return table, np.bincount(ids, minlength=n_entries).astype(np.uint64)


def python_baseline(keys: list[int], id_lists: list[list[int]], p: np.ndarray, seed: int):
    p_list = p.tolist()
    keep = []
    for key, ids in zip(keys, id_lists, strict=True):
        hit = False
        for e in ids:  # one draw per (pair, matched entry), as in the vectorised version
            if random.Random(hash((seed, key, e))).random() < p_list[e]:
                hit = True
        keep.append(hit)
    return keep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--t", type=int, default=1_000, help="balancing threshold")
    ap.add_argument("--baseline-pairs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from metacurate.balance.sampling import entry_probabilities, keep_decisions, pair_keys

    print(f"machine: {machine_note()}")
    t0 = time.perf_counter()
    table, counts = matched_set(args.pairs, 500_000, args.seed)
    draws = int(counts.sum())
    head = int((counts >= args.t).sum())
    top = np.sort(counts)[::-1]
    print(
        f"matched set: {args.pairs:,} pairs, {draws:,} (pair, entry) draws "
        f"({draws / args.pairs:.2f} per pair) over {int((counts > 0).sum()):,} entries; "
        f"top entry {int(top[0]):,} matches, top 1% of entries hold "
        f"{top[: len(top) // 100].sum() / draws:.1%}; built in {time.perf_counter() - t0:.1f} s"
    )
    p = entry_probabilities(counts, args.t)
    print(f"t = {args.t:,}: {head:,} head entries")
    entry_ids = table["entry_ids"]

    keys = pair_keys(table, "text")  # warm-up: loads (or compiles) the numba string hash
    keep, prob = keep_decisions(keys, entry_ids, p, args.seed)
    print(
        f"kept {int(keep.sum()):,} of {args.pairs:,} pairs ({keep.mean():.1%}); "
        f"expected {prob.sum():,.0f}"
    )

    both, alone, hashing = [], [], []
    for rep in range(args.repeats):
        t0 = time.perf_counter()
        k = pair_keys(table, "text")
        t1 = time.perf_counter()
        keep_decisions(k, entry_ids, p, args.seed)
        t2 = time.perf_counter()
        keep_decisions(k, entry_ids, p, args.seed)
        t3 = time.perf_counter()
        both.append(draws / (t2 - t0))
        alone.append(draws / (t3 - t2))
        hashing.append(args.pairs / (t1 - t0))
        print(
            f"repeat {rep + 1}: pair_keys+keep_decisions {both[-1] / 1e6:.1f}M draws/s, "
            f"keep_decisions alone {alone[-1] / 1e6:.1f}M draws/s"
        )

    # Baseline: a per-pair Python loop on a subsample (same pairs, same p).
    n_sub = min(args.baseline_pairs, args.pairs)
    sub_keys = keys[:n_sub].tolist()
    sub_ids = entry_ids.slice(0, n_sub).to_pylist()
    sub_draws = sum(map(len, sub_ids))
    base_rates = []
    for _ in range(3):
        t0 = time.perf_counter()
        python_baseline(sub_keys, sub_ids, p, args.seed)
        base_rates.append(sub_draws / (time.perf_counter() - t0))

    m_both, m_alone, m_base = median(both), median(alone), median(base_rates)
    print()
    print(f"Results ({args.pairs:,} pairs, {draws:,} draws, one core)")
    header = (
        f"{'measure':<42} {'draws/s (median)':>17} {'vs target 10M/s':>16} {'vs Python loop':>15}"
    )
    print(header)
    print("-" * len(header))
    for name, rate in (
        ("pair_keys + keep_decisions", m_both),
        ("keep_decisions alone", m_alone),
        (f"Python loop, random.Random ({n_sub:,} pairs)", m_base),
    ):
        print(f"{name:<42} {rate:>17,.0f} {rate / TARGET:>15.2f}x {rate / m_base:>14.1f}x")
    print()
    print(f"  pair_keys + keep_decisions draws/s: {spread(both)}")
    print(f"  keep_decisions alone draws/s:       {spread(alone)}")
    print(f"  pair_keys alone pairs/s:            {spread(hashing)}")
    print(f"  Python loop draws/s:                {spread(base_rates)}")
    print(f"  target 10M draws/s met (pair_keys + keep_decisions): {m_both >= TARGET}")


if __name__ == "__main__":
    main()
