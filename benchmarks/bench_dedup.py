#!/usr/bin/env python3
"""Memory and speed of the cross-input de-duplication set (``filters/dedup.py``).

Inserts ``--pairs`` 128-bit pair ids, in batches of 1M as the publishing pass does per part,
with ``--dup-share`` of them repeats of earlier ids, against a Python ``set`` of the same ids as
tuples (the obvious baseline). Reports ids/s, bytes per distinct pair and the process's peak
RSS growth for each, each measured in a fresh child process.

    python benchmarks/bench_dedup.py --pairs 20000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

BATCH = 1_000_000


def _peak_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))


def _ids(pairs: int, dup_share: float) -> np.ndarray:
    rng = np.random.default_rng(0)
    distinct = int(pairs * (1 - dup_share))
    ids = rng.integers(1, 2**63, size=(pairs, 2), dtype=np.uint64)
    repeats = rng.integers(0, distinct, size=pairs - distinct)
    ids[distinct:] = ids[repeats]
    rng.shuffle(ids[distinct // 2 :])  # repeats spread over the later parts
    return ids


def child(kind: str, pairs: int, dup_share: float) -> dict:
    ids = _ids(pairs, dup_share)
    before = _peak_kib()
    start = time.perf_counter()
    if kind == "ours":
        from metacurate.filters.dedup import SeenPairs

        seen = SeenPairs()
        seen.first_seen(ids[:1])  # compile outside the timing
        seen = SeenPairs()
        start = time.perf_counter()
        fresh = sum(int(seen.first_seen(ids[k : k + BATCH]).sum()) for k in range(0, pairs, BATCH))
    else:
        seen_set: set = set()
        fresh = 0
        for k in range(0, pairs, BATCH):  # batches, so the rows' lists are not all alive
            for row in map(tuple, ids[k : k + BATCH].tolist()):
                if row not in seen_set:
                    seen_set.add(row)
                    fresh += 1
    elapsed = time.perf_counter() - start
    grown = (_peak_kib() - before) * 1024
    return {"kind": kind, "seconds": elapsed, "fresh": fresh, "bytes_per_pair": grown / fresh}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=20_000_000)
    parser.add_argument("--dup-share", type=float, default=0.2)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.pairs, args.dup_share)))
        return
    print(f"{args.pairs:,} pair ids, {args.dup_share:.0%} repeats, batches of {BATCH:,}")
    for kind in ("ours", "python-set"):
        command = [sys.executable, __file__, "--child", kind, "--pairs", str(args.pairs)]
        command += ["--dup-share", str(args.dup_share)]
        result = json.loads(subprocess.run(command, check=True, capture_output=True).stdout)
        print(
            f"{kind:>10}: {args.pairs / result['seconds'] / 1e6:6.2f} M ids/s, "
            f"{result['fresh']:,} distinct, {result['bytes_per_pair']:5.1f} bytes per distinct "
            f"pair (peak RSS growth)"
        )


if __name__ == "__main__":
    main()
