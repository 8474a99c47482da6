#!/usr/bin/env python3
"""The de-duplication shuffle (``pipeline/dedup.py``) vs one ``SeenPairs`` set over the same ids.

``--pairs`` random 128-bit pair ids (the full 64-bit range in each half, as real hashes are) in
``--shards`` shards of equal size, input order = shard order then row order; ``--dup-share`` of
them are repeats of other ids of the run (uniformly spread over the run, within shards too) and
``--no-id-share`` are ``(0, 0)`` (rows without an image id: never duplicates).

- ``single``: today's single set: ``SeenPairs.first_seen`` over each shard's ids in input order,
  in one child process (the row ids it drops are written for the comparison).
- ``shuffle, B buckets``: stage 1 (in this process, timed): every shard's id file, written as
  the shard workers write it; then one child process per task (sequentially, so each child's
  peak RSS is its own); then ``duplicate_rows`` for every shard (the publish side's look-up,
  timed here). Two versions of ``pipeline/dedup.py`` are supported, whichever is installed:
  the per-shard shuffle of commits c114513..3c19375 (``sorted_ids`` per shard, one
  ``BucketReducer`` per bucket reading every shard's file, and a look-up that reads every
  bucket's dups file; also timed with uint64 search keys, see ``_duplicate_rows_uint64``), and
  the block-based one after it (``shard_ids``; ``BlockCombiner`` per block of ~8M ids,
  ``BucketReducer`` per bucket, ``BlockSplitter`` per block; a look-up reads one block file).

Reported: ids/s of each (the single set; the reducers' summed time, i.e. per core; stage 1; the
publish look-ups), each child's peak RSS (VmHWM) and its growth over the child's baseline after
imports and the warm-up of the compiled kernel (for ``single``, after the ids are generated, as in
``bench_dedup.py``), the id-set bytes the reducers report, the bytes of the id and dups files,
and whether the sets of dropped ``(shard, row)`` are EQUAL. Repeats rotate the order.

    python benchmarks/bench_dedup_shuffle.py --pairs 32000000 --shards 320 --buckets 1,4,16
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, median, spread  # noqa: E402

MiB = 2**20


def _peak_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))


def make_ids(pairs: int, dup_share: float, no_id_share: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    distinct = int(pairs * (1 - dup_share))
    ids = rng.bit_generator.random_raw(size=pairs * 2).astype(np.uint64).reshape(pairs, 2)
    ids[ids[:, 1] == 0, 1] = 1  # (0, 0) is reserved for "no image id"
    ids[distinct:] = ids[rng.integers(0, distinct, size=pairs - distinct)]
    rng.shuffle(ids)  # repeats anywhere in the run, before or after their first occurrence
    ids[rng.random(pairs) < no_id_share] = 0
    return ids


def part_name(shard: int) -> str:
    return f"part-{shard:05d}"


def _dropped_key(shard: int, rows: np.ndarray) -> np.ndarray:
    return (np.uint64(shard) << np.uint64(32)) | rows.astype(np.uint64)


# ------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------


def child_single(args) -> dict:
    from metacurate.filters.dedup import SeenPairs

    ids = make_ids(args.pairs, args.dup_share, args.no_id_share)
    SeenPairs().first_seen(ids[:1])  # load the compiled kernel outside the timing
    per = args.pairs // args.shards
    base = _peak_kib()
    seen = SeenPairs()
    dropped = []
    t0 = time.perf_counter()
    for shard in range(args.shards):
        fresh = seen.first_seen(ids[shard * per : (shard + 1) * per])
        dropped.append(_dropped_key(shard, np.flatnonzero(~fresh)))
    seconds = time.perf_counter() - t0
    peak = _peak_kib()
    np.save(args.dir / "single-dropped.npy", np.sort(np.concatenate(dropped)))
    return {
        "seconds": seconds,
        "peak_kib": peak,
        "growth_kib": peak - base,
        "distinct": seen.size,
        "set_bytes": seen.nbytes,
    }


def _new_api() -> bool:
    """The block-based shuffle (combine, reduce, split) of the working tree after 3c19375, or
    the per-shard one of c114513..3c19375 (reducers read every shard's sorted id file)."""
    from metacurate.pipeline import dedup

    return hasattr(dedup, "Blocks")


def _blocks(folder: Path, shards: int):
    from metacurate.pipeline.dedup import Blocks, ids_in, ids_name, plan_blocks

    parts = tuple(part_name(s) for s in range(shards))
    starts = plan_blocks([ids_in(folder / ids_name(p)) for p in parts])
    return Blocks(folder, parts, tuple(starts))


def child_task(args) -> dict:
    """One task of the shuffle in this process: ``reduce`` (a bucket), or with the block-based
    shuffle also ``combine`` and ``split`` (a block)."""
    from metacurate.filters.dedup import SeenPairs
    from metacurate.pipeline import dedup

    SeenPairs().first_seen(np.ones((1, 2), np.uint64))  # the compiled kernel, outside the timing
    if _new_api():
        blocks = _blocks(args.dir, args.shards)
        task = {
            "combine": lambda: dedup.BlockCombiner(blocks),
            "reduce": lambda: dedup.BucketReducer(blocks, args.buckets),
            "split": lambda: dedup.BlockSplitter(blocks, args.buckets),
        }[args.child]()
    else:
        parts = tuple(part_name(s) for s in range(args.shards))
        task = dedup.BucketReducer(args.dir, parts, args.buckets)
    base = _peak_kib()
    t0 = time.perf_counter()
    result = task(args.bucket)
    seconds = time.perf_counter() - t0
    peak = _peak_kib()
    out = {"seconds": seconds, "peak_kib": peak, "base_kib": base, "growth_kib": peak - base}
    if result is not None:
        out.update(
            duplicates=result.duplicates, distinct=result.distinct, set_bytes=result.id_set_bytes
        )
    return out


def run_child(kind: str, args, folder: Path, buckets: int = 0, bucket: int = 0) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--dir", str(folder)]
    command += ["--pairs", str(args.pairs), "--shards", str(args.shards)]
    command += ["--dup-share", str(args.dup_share), "--no-id-share", str(args.no_id_share)]
    command += ["--buckets", str(buckets), "--bucket", str(bucket)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------


def stage_one(ids: np.ndarray, shards: int, folder: Path) -> float:
    """Every shard's id file, as the shard workers write them (sorted by id in the per-shard
    shuffle; in input order in the block-based one, which sorts per block); returns seconds."""
    from metacurate.pipeline import dedup
    from metacurate.writers.atomic import write_npy

    per_shard = dedup.shard_ids if _new_api() else dedup.sorted_ids
    per = len(ids) // shards
    t0 = time.perf_counter()
    for shard in range(shards):
        table = per_shard(ids[shard * per : (shard + 1) * per])
        write_npy(folder / dedup.ids_name(part_name(shard)), table)
    return time.perf_counter() - t0


def shuffle(args, ids_dir: Path, buckets: int) -> dict:
    from metacurate.pipeline import dedup

    folder = ids_dir.parent / f"b{buckets}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for shard in range(args.shards):
        name = dedup.ids_name(part_name(shard))
        os.symlink(ids_dir / name, folder / name)
    new = _new_api()
    out: dict = {"combiners": [], "splitters": []}
    if new:
        blocks = _blocks(folder, args.shards)
        n_blocks = len(blocks.starts)
        out["combiners"] = [run_child("combine", args, folder, buckets, k) for k in range(n_blocks)]
    out["reducers"] = [run_child("reduce", args, folder, buckets, b) for b in range(buckets)]
    if new:
        out["splitters"] = [run_child("split", args, folder, buckets, k) for k in range(n_blocks)]
        look_up = lambda s: dedup.duplicate_rows(blocks, s)  # noqa: E731
        reads = args.shards
    else:
        look_up = lambda s: dedup.duplicate_rows(folder, s, buckets)  # noqa: E731
        reads = args.shards * buckets
    t0 = time.perf_counter()
    dropped = [_dropped_key(s, look_up(s).astype(np.uint64)) for s in range(args.shards)]
    out["lookup"] = time.perf_counter() - t0
    out["lookup_fixed"] = None
    if not new:
        t0 = time.perf_counter()
        fixed = [_duplicate_rows_uint64(folder, s, buckets) for s in range(args.shards)]
        out["lookup_fixed"] = time.perf_counter() - t0
        for shard, rows in enumerate(fixed):
            assert np.array_equal(np.sort(rows), np.sort(dropped[shard] & np.uint64(0xFFFFFFFF)))
    out["reads"] = reads
    out["dropped"] = np.sort(np.concatenate(dropped))
    out["dups_bytes"] = sum((folder / dedup.dups_name(b)).stat().st_size for b in range(buckets))
    if new:
        out["dups_bytes"] += sum(
            (folder / dedup.block_dups(k)).stat().st_size for k in range(n_blocks)
        )
        out["block_ids_bytes"] = sum(
            (folder / dedup.block_ids(k)).stat().st_size for k in range(n_blocks)
        )
    shutil.rmtree(folder)
    return out


def _duplicate_rows_uint64(staging_dir: Path, shard: int, buckets: int) -> np.ndarray:
    """``pipeline.dedup.duplicate_rows`` with its search keys as uint64, the column's type.
    (There, ``[shard, shard + 1]`` is an int64 array: NumPy promotes uint64 with int64 to
    float64, so every look-up converts the bucket's whole shard column first.)"""
    from metacurate.pipeline.dedup import dups_name

    keys = np.array([shard, shard + 1], np.uint64)
    rows = []
    for bucket in range(buckets):
        dups = np.load(staging_dir / dups_name(bucket), mmap_mode="r")
        lo, hi = np.searchsorted(dups[:, 0], keys)
        rows.append(np.asarray(dups[lo:hi, 1], np.int64))
    return np.concatenate(rows) if rows else np.empty(0, np.int64)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=32_000_000)
    ap.add_argument("--shards", type=int, default=320)
    ap.add_argument("--dup-share", type=float, default=0.3)
    ap.add_argument("--no-id-share", type=float, default=0.01)
    ap.add_argument("--buckets", default="1,4,16")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--bucket", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.buckets = int(args.buckets)
        result = child_single(args) if args.child == "single" else child_task(args)
        print(json.dumps(result))
        return

    bucket_counts = [int(x) for x in args.buckets.split(",")]
    assert args.pairs % args.shards == 0, "--pairs must be a multiple of --shards"
    print(f"machine: {machine_note()}")
    print(
        f"{args.pairs:,} pair ids in {args.shards} shards of {args.pairs // args.shards:,}; "
        f"{args.dup_share:.0%} repeats, {args.no_id_share:.0%} without an image id; "
        f"buckets {bucket_counts}; {args.repeats} repeats, order rotating"
    )
    tmp = Path(tempfile.mkdtemp(prefix="bench_shuffle_"))
    try:
        ids = make_ids(args.pairs, args.dup_share, args.no_id_share)
        ids_dir = tmp / "ids"
        ids_dir.mkdir()
        from metacurate.pipeline import dedup

        (dedup.shard_ids if _new_api() else dedup.sorted_ids)(ids[:10])  # imports, untimed
        print(
            "shuffle in src/: "
            + ("block-based (combine, reduce, split)" if _new_api() else "per-shard id files")
        )
        stage = [stage_one(ids, args.shards, ids_dir) for _ in range(args.repeats)]
        ids_bytes = sum(p.stat().st_size for p in ids_dir.iterdir())
        with_id = int(((ids[:, 0] != 0) | (ids[:, 1] != 0)).sum())
        del ids

        configs = ["single", *bucket_counts]
        results: dict = {c: [] for c in configs}
        reference = None
        equal = True
        for rep in range(args.repeats):
            k = rep % len(configs)
            for config in configs[k:] + configs[:k]:
                if config == "single":
                    r = run_child("single", args, tmp)
                    dropped = np.load(tmp / "single-dropped.npy")
                    line = (
                        f"single set: {args.pairs / r['seconds'] / 1e6:.2f} M ids/s, peak "
                        f"{r['peak_kib'] / 1024:,.0f} MiB (growth {r['growth_kib'] / 1024:,.0f}"
                        f" MiB; set {r['set_bytes'] / MiB:,.0f} MiB), {r['distinct']:,} distinct"
                    )
                else:
                    r = shuffle(args, ids_dir, config)
                    dropped = r.pop("dropped")
                    red = r["reducers"]
                    seconds = sum(x["seconds"] for x in red)
                    line = (
                        f"shuffle {config:>2} buckets: reducers {with_id / seconds / 1e6:.2f} M "
                        f"ids/s (sum {seconds:.2f} s), largest reducer peak "
                        f"{max(x['peak_kib'] for x in red) / 1024:,.0f} MiB (growth "
                        f"{max(x['growth_kib'] for x in red) / 1024:,.0f} MiB, set "
                        f"{max(x['set_bytes'] for x in red) / MiB:,.0f} MiB); publish look-ups "
                        f"{r['lookup']:.2f} s ({r['reads']:,} dups-file reads"
                        + (
                            f"; {r['lookup_fixed']:.2f} s with uint64 keys)"
                            if r["lookup_fixed"] is not None
                            else ")"
                        )
                        + "".join(
                            f"; {kind} {len(r[key])} x: {sum(x['seconds'] for x in r[key]):.2f} s,"
                            f" largest peak {max(x['peak_kib'] for x in r[key]) / 1024:,.0f} MiB"
                            for kind, key in (("combine", "combiners"), ("split", "splitters"))
                            if r[key]
                        )
                    )
                if reference is None:
                    reference = dropped
                same = np.array_equal(reference, dropped)
                equal &= same
                results[config].append(r)
                print(
                    f"repeat {rep + 1}, {line}; dropped {len(dropped):,} "
                    f"{'EQUAL' if same else 'DIFFERENT'}"
                )

        print()
        print(f"Results ({args.repeats} repeats; medians, min - max)")
        print(
            f"  stage 1 (every shard's id file, written): {median(stage):.2f} s, "
            f"{args.pairs / median(stage) / 1e6:.2f} M ids/s ({spread(stage)}); id files "
            f"{ids_bytes / MiB:,.0f} MiB = {ids_bytes / with_id:.1f} bytes per id with an image"
        )
        single = [args.pairs / r["seconds"] / 1e6 for r in results["single"]]
        s0 = results["single"][0]
        print(
            f"  single SeenPairs: {median(single):.2f} M ids/s ({spread(single)}); peak RSS "
            f"{median([r['peak_kib'] for r in results['single']]) / 1024:,.0f} MiB incl. the "
            f"{args.pairs * 16 / MiB:,.0f} MiB id array; growth "
            f"{median([r['growth_kib'] for r in results['single']]) / 1024:,.0f} MiB; set "
            f"{s0['set_bytes'] / MiB:,.0f} MiB for {s0['distinct']:,} distinct "
            f"({s0['set_bytes'] / s0['distinct']:.1f} bytes each)"
        )
        for b in bucket_counts:
            rs = results[b]
            rate = [with_id / sum(x["seconds"] for x in r["reducers"]) / 1e6 for r in rs]
            peaks = [max(x["peak_kib"] for x in r["reducers"]) for r in rs]
            growth = [max(x["growth_kib"] for x in r["reducers"]) for r in rs]
            base = median([x["base_kib"] for r in rs for x in r["reducers"]])
            lookup = [r["lookup"] for r in rs]
            fixed = [r["lookup_fixed"] for r in rs if r["lookup_fixed"] is not None]
            reads = rs[0]["reads"]
            extra = [
                sum(x["seconds"] for x in r["combiners"] + r["splitters"]) for r in rs
            ]  # the block-based shuffle's combine and split steps
            sets = max(x["set_bytes"] for x in rs[0]["reducers"])
            end_to_end = [
                args.pairs / (median(stage) + sum(x["seconds"] for x in r["reducers"])
                              + r["lookup"] + e) / 1e6
                for r, e in zip(rs, extra, strict=True)
            ]  # fmt: skip
            print(
                f"  shuffle {b:>2} buckets: reducers {median(rate):.2f} M ids/s per core "
                f"({spread(rate)}); largest reducer peak RSS {median(peaks) / 1024:,.0f} MiB "
                f"(baseline after imports {base / 1024:,.0f} MiB, growth "
                f"{median(growth) / 1024:,.0f} MiB = {median(growth) * 1024 / (with_id / b):.1f}"
                f" bytes per id of its bucket; id set {sets / MiB:,.0f} MiB); publish look-ups "
                f"{median(lookup):.2f} s ({median(lookup) / reads * 1e6:.0f} us per file read"
                + (
                    f"; with uint64 keys {median(fixed):.2f} s, {median(fixed) / reads * 1e6:.0f} us"
                    if fixed
                    else ""
                )
                + (
                    f"); combine + split {median(extra):.2f} s (largest peak "
                    f"{max(x['peak_kib'] for r in rs for x in r['combiners'] + r['splitters']) / 1024:,.0f}"
                    " MiB"
                    if any(extra)
                    else ""
                )
                + f"); dups files {rs[0]['dups_bytes'] / MiB:,.0f} MiB; stage 1 + "
                f"reducers + look-ups {median(end_to_end):.2f} M ids/s per core"
            )
        print(f"  dropped (shard, row) sets equal in every run: {'EQUAL' if equal else 'NO'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine at the end: {machine_note()}")
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
