#!/usr/bin/env python3
"""What a trainer pays at start to size its learning-rate schedule: the expected epoch size of
img2dataset shards, per shard, from the Parquet file img2dataset writes beside each tar.

``--shards`` Parquet files of ``--rows`` downloaded images (1-3 texts each, 1-4 entry ids a text
over ``--entries`` entries, a failed row every 20th), as img2dataset writes them. Timed, median
over ``--repeats`` passes over all shards:

- ``vectorised``: ``shard_expected_size`` (what ``BalancedDataset.expected_epoch_size`` does):
  the ``entry_ids`` column straight into one numpy pass;
- ``records``: the same figure through one Python record per image
  (``OnlineBalance.expected_size`` over the rows as dicts), the way it was computed before.

    python benchmarks/bench_epoch_size.py --shards 8 --rows 10000 --repeats 7
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, median, spread  # noqa: E402


def write_shards(folder: Path, shards: int, rows: int, entries: int, seed: int) -> list[str]:
    """Parquet files as img2dataset writes them beside its tars (the tars themselves are not
    read when the Parquet file is there: empty ones stand for them)."""
    rng = np.random.default_rng(seed)
    paths = []
    for s in range(shards):
        texts, ids = [], []
        for i in range(rows):
            n = int(rng.integers(1, 4))
            texts.append([f"alt text {j} of image {s}/{i}" for j in range(n)])
            ids.append(
                [
                    sorted(set(rng.integers(0, entries, rng.integers(1, 5)).tolist()))
                    for _ in range(n)
                ]
            )
        status = ["failed_to_download" if i % 20 == 19 else "success" for i in range(rows)]
        table = pa.table(
            {
                "url": [f"https://img.example/{s}/{i}.jpg" for i in range(rows)],
                "texts": texts,
                "entry_ids": pa.array(ids, pa.list_(pa.list_(pa.int32()))),
                "status": status,
            }
        )
        pq.write_table(table, folder / f"{s:05d}.parquet")
        (folder / f"{s:05d}.tar").touch()
        paths.append(str(folder / f"{s:05d}.tar"))
    return paths


def by_records(balance, shard: str) -> float:
    table = pq.read_table(
        shard[: -len(".tar")] + ".parquet", columns=["url", "texts", "entry_ids", "status"]
    )
    table = table.filter(pc.equal(table["status"], "success"))
    return balance.expected_size(table.to_pylist())


def main() -> None:
    from metacurate.loader import OnlineBalance, shard_expected_size

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--entries", type=int, default=500_000)
    ap.add_argument("--t", type=float, default=20_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine_note()}")
    counts = np.random.default_rng(args.seed).integers(1, 100_000, args.entries).astype(np.uint64)
    balance = OnlineBalance(counts, args.t)
    with tempfile.TemporaryDirectory() as tmp:
        shards = write_shards(Path(tmp), args.shards, args.rows, args.entries, args.seed)
        ways = {
            "vectorised": lambda s: shard_expected_size(balance, s),
            "records": lambda s: by_records(balance, s),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        sizes: dict[str, float] = {}
        for name, way in ways.items():
            sizes[name] = sum(way(s) for s in shards)  # warm: compiled kernels, page cache
        for _ in range(args.repeats):
            for name, way in ways.items():
                start = time.perf_counter()
                for s in shards:
                    way(s)
                times[name].append((time.perf_counter() - start) / args.shards)
    print(
        f"{args.shards} shards of {args.rows:,} rows; expected epoch size {sizes['vectorised']:,.1f}"
        f" (records: {sizes['records']:,.1f})"
    )
    base = median(times["records"])
    for name, values in times.items():
        print(
            f"  {name:<10} {median(values) * 1e3:8.1f} ms per shard ({base / median(values):.1f}x)"
            f"  [{spread([v * 1e3 for v in values])} ms]"
        )
    hours = median(times["vectorised"]) * 100_000 / 3600
    print(
        f"  at 100,000 shards, one process: {hours:.2f} h vectorised,"
        f" {base * 100_000 / 3600:.2f} h by records (divided by the ranks that share it)"
    )


if __name__ == "__main__":
    main()
