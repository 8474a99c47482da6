#!/usr/bin/env python3
"""Diagnostic: where the wall time of ``metacurate curate`` goes, and what a worker pool costs.

1. Runs ``curate`` in this process with ``--workers 1`` and ``--workers 2`` on a synthetic pool,
   timing the driver's steps (imports, Matcher build, each stage's workers, data card)
   by wrapping the functions the pipeline modules call. Only names that exist are wrapped, so
   the script keeps working while the pipeline changes; steps it does not know are in "rest".
2. Measures the fixed cost of one spawn pool of 2 workers: bare interpreter, importing the
   pipeline, receiving the pickled ShardMatcher, and the first (numba cache-loading) match call.

    python benchmarks/profile_curate.py --rows 400000 --files 8
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"

import argparse
import multiprocessing
import pickle
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note  # noqa: E402

T0 = time.perf_counter()
LOG: list[tuple[str, float, float]] = []

WRAP = [  # (module, attribute, label)
    ("metacurate.pipeline.match", "Matcher", "Matcher build"),
    ("metacurate.pipeline.shards", "_stage", "match stage: workers"),
    ("metacurate.pipeline.shards", "_deduplicate", "de-duplication shuffle"),
    ("metacurate.pipeline.shards", "_publish", "publish parts, count entries"),
    ("metacurate.pipeline.match", "write_json", "write_json (match)"),
    ("metacurate.pipeline.balance", "_balance_parts", "balance stage: workers"),
    ("metacurate.pipeline.balance", "load_metadata", "load metadata.json"),
    ("metacurate.pipeline.balance", "_card", "data card dict (_card)"),
    ("metacurate.pipeline.balance", "write_datacard", "write data card (md, json, png)"),
    ("metacurate.cli", "load_metadata", "load default metadata"),
]


def _wrap(module, name: str, label: str) -> None:
    original = getattr(module, name)

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            LOG.append((label, start, time.perf_counter() - start))

    setattr(module, name, timed)


def timeline(args: list[str]) -> None:
    import importlib

    t_imp = time.perf_counter()
    import metacurate.cli as cli

    imports = time.perf_counter() - t_imp
    originals = []
    for mod_name, name, label in WRAP:
        module = importlib.import_module(mod_name)
        if hasattr(module, name):
            originals.append((module, name, getattr(module, name)))
            _wrap(module, name, label)
    LOG.clear()
    start = time.perf_counter()
    try:
        cli.app(args, standalone_mode=False)
    finally:
        total = time.perf_counter() - start
        for module, name, original in originals:
            setattr(module, name, original)
    print(f"  {'import metacurate.cli (first time only)':<40} {imports:6.2f} s")
    for label, t, dur in LOG:
        if dur >= 0.02:
            print(f"  {label:<40} {dur:6.2f} s  (at {t - start:5.2f} s)")
    print(
        f"  {'rest (reading, summaries, small writes)':<40} {total - sum(d for *_, d in LOG):6.2f} s"
    )
    print(f"  {'total curate command':<40} {total:6.2f} s")


def _noop(_):
    return os.getpid()


def _import_pipeline(_):
    start = time.perf_counter()
    import metacurate.pipeline.balance  # noqa: F401
    import metacurate.pipeline.match  # noqa: F401

    return time.perf_counter() - start


def _first_match(_):
    import pyarrow as pa

    import metacurate.engine.local as local

    start = time.perf_counter()
    local._WORKER.matcher.match_arrow(pa.array(["a red car"]))
    return time.perf_counter() - start


def pool_costs() -> None:
    import metacurate.engine.local as local
    from metacurate.match.matcher import Matcher
    from metacurate.metadata import default_metadata
    from metacurate.pipeline.match import ShardMatcher

    worker = ShardMatcher(Matcher(default_metadata().entries), "text", Path(tempfile.gettempdir()))
    start = time.perf_counter()
    size = len(pickle.dumps(worker))
    print(f"  pickled ShardMatcher: {size / 2**20:.1f} MiB ({time.perf_counter() - start:.2f} s)")
    ctx = multiprocessing.get_context("spawn")
    cases = [
        ("bare interpreter", None, (), _noop),
        ("+ import the pipeline (numba, pyarrow)", None, (), _import_pipeline),
        ("+ receive the pickled ShardMatcher", local._install, (worker,), _noop),
        ("+ first match call (numba cache load)", local._install, (worker,), _first_match),
    ]
    for label, init, initargs, fn in cases:
        walls, results = [], []
        for _ in range(3):
            start = time.perf_counter()
            with ProcessPoolExecutor(
                2, mp_context=ctx, initializer=init, initargs=initargs
            ) as pool:
                results.append(max(pool.map(fn, [0, 1])))
            walls.append(time.perf_counter() - start)
        walls.sort()
        extra = f"; in-task seconds {results[-1]:.2f}" if fn is not _noop else ""
        print(f"  spawn pool of 2 {label:<42} median {walls[1]:.2f} s{extra}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--t", type=int, default=1_000)
    args = ap.parse_args()
    from bench_curate import make_pool

    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="profile_curate_") as tmp:
        inputs = make_pool(Path(tmp), args.rows, args.files, "synthetic", 0)
        for workers in (1, 2, 1, 2):
            print(f"curate, {args.rows:,} rows, --workers {workers}:")
            out = Path(tmp) / f"out-{workers}"
            timeline(
                ["curate", *inputs, "--out", str(out), "--t", str(args.t)]
                + ["--workers", str(workers), "--overwrite"]
            )
    print("fixed cost of one worker pool (what each pool-using stage pays before its work):")
    pool_costs()


if __name__ == "__main__":
    main()
