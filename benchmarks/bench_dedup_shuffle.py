#!/usr/bin/env python3
"""The de-duplication shuffle (``pipeline/dedup.py``) vs one ``SeenPairs`` set over the same ids.

``--pairs`` random 128-bit pair ids (the full 64-bit range in each half, as real hashes are) in
``--shards`` shards of equal size, input order = shard order then row order; ``--dup-share`` of
them are repeats of other ids of the run (uniformly spread over the run, within shards too) and
``--no-id-share`` are ``(0, 0)`` (rows without an image id: never duplicates).

- ``single``: one ``SeenPairs.first_seen`` over each shard's ids in input order, in one child
  process (the rows it drops are written for the comparison).
- ``shuffle, B buckets``: stage 1 (in this process, timed): every shard's id file
  (``shard_ids``), written as the shard workers write it. Blocks are planned as the pipeline
  plans them, from each shard's row count (``plan_blocks``). Then one child process per task,
  sequentially, so that each child's peak RSS is its own: ``BlockCombiner`` per block,
  ``BucketReducer`` per bucket, ``BlockSplitter`` per block. Then ``duplicate_rows`` for every
  shard (the publish side's look-up: one ranged read of its block's file, timed here).

Reported: ids/s per step (the run's ids with an image id over the step's summed seconds, i.e.
per core; for ``single``, every id over its seconds), each child's peak RSS (VmHWM) and its
growth over the child's baseline after imports and the warm-up of the compiled kernel (for
``single``, after the ids are generated, as in ``bench_dedup.py``), the id-set bytes the
reducers report, the bytes of the files each step writes (with their ``*.index.npy`` files),
and whether the sets of dropped ``(shard, row)`` are EQUAL. Repeats rotate the order.

    python benchmarks/bench_dedup_shuffle.py --pairs 16000000 --shards 160 --buckets 1,4,16
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
STEPS = ("combine", "reduce", "split")


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


def _blocks(folder: Path, pairs: int, shards: int):
    """The blocks as the pipeline plans them: from each shard's staged row count."""
    from metacurate.location import Location
    from metacurate.pipeline.dedup import Blocks, plan_blocks

    parts = tuple(part_name(s) for s in range(shards))
    starts = plan_blocks([pairs // shards] * shards)
    return Blocks(Location.of(folder), parts, tuple(starts))


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


def child_task(args) -> dict:
    """One task of the shuffle in this process: ``combine`` or ``split`` (a block), or
    ``reduce`` (a bucket)."""
    from metacurate.filters.dedup import SeenPairs
    from metacurate.pipeline import dedup

    SeenPairs().first_seen(np.ones((1, 2), np.uint64))  # the compiled kernel, outside the timing
    blocks = _blocks(args.dir, args.pairs, args.shards)
    step = {"combine": dedup.BlockCombiner, "reduce": dedup.BucketReducer}.get(
        args.child, dedup.BlockSplitter
    )
    task = step(blocks, args.buckets)
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


def run_child(kind: str, args, folder: Path, buckets: int = 0, task: int = 0) -> dict:
    command = [sys.executable, __file__, "--child", kind, "--dir", str(folder)]
    command += ["--pairs", str(args.pairs), "--shards", str(args.shards)]
    command += ["--dup-share", str(args.dup_share), "--no-id-share", str(args.no_id_share)]
    command += ["--buckets", str(buckets), "--bucket", str(task)]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------
# Driver
# ------------------------------------------------------------------------------------------


def stage_one(ids: np.ndarray, shards: int, folder: Path) -> float:
    """Every shard's id file, as the shard workers write them; returns seconds."""
    from metacurate.location import Location
    from metacurate.pipeline import dedup
    from metacurate.writers.atomic import write_npy

    per = len(ids) // shards
    t0 = time.perf_counter()
    for shard in range(shards):
        table = dedup.shard_ids(ids[shard * per : (shard + 1) * per])
        write_npy(Location.of(folder / dedup.ids_name(part_name(shard))), table)
    return time.perf_counter() - t0


def _file_bytes(folder: Path, names) -> tuple[int, int]:
    """Bytes of these files and of their index files."""
    from metacurate.pipeline.dedup import index_name

    names = list(names)
    data = sum((folder / n).stat().st_size for n in names)
    return data, sum((folder / index_name(n)).stat().st_size for n in names)


def shuffle(args, ids_dir: Path, buckets: int) -> dict:
    from metacurate.pipeline import dedup

    folder = ids_dir.parent / f"b{buckets}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for shard in range(args.shards):
        name = dedup.ids_name(part_name(shard))
        os.symlink(ids_dir / name, folder / name)
    blocks = _blocks(folder, args.pairs, args.shards)
    n_blocks = len(blocks.starts)
    out: dict = {
        "combine": [run_child("combine", args, folder, buckets, k) for k in range(n_blocks)],
        "reduce": [run_child("reduce", args, folder, buckets, b) for b in range(buckets)],
        "split": [run_child("split", args, folder, buckets, k) for k in range(n_blocks)],
    }
    t0 = time.perf_counter()
    dropped = [
        _dropped_key(s, dedup.duplicate_rows(blocks, s).astype(np.uint64))
        for s in range(args.shards)
    ]
    out["lookup"] = time.perf_counter() - t0
    out["dropped"] = np.sort(np.concatenate(dropped))
    out["blocks"] = n_blocks
    out["shards"] = args.shards
    out["files"] = {
        "block ids": _file_bytes(folder, map(dedup.block_ids, range(n_blocks))),
        "bucket dups": _file_bytes(folder, map(dedup.dups_name, range(buckets))),
        "block dups": _file_bytes(folder, map(dedup.block_dups, range(n_blocks))),
    }
    shutil.rmtree(folder)
    return out


def _mib(kib: float) -> str:
    return f"{kib / 1024:,.0f} MiB"


def _summary(rs: list[dict], with_id: int, pairs: int, stage: float, buckets: int) -> list[str]:
    """Medians over repeats of one bucket count's runs."""
    lines = []
    for step in STEPS:
        rate = [with_id / sum(x["seconds"] for x in r[step]) / 1e6 for r in rs]
        secs = [sum(x["seconds"] for x in r[step]) for r in rs]
        peak = median([max(x["peak_kib"] for x in r[step]) for r in rs])
        growth = median([max(x["growth_kib"] for x in r[step]) for r in rs])
        base = median([x["base_kib"] for r in rs for x in r[step]])
        tasks = len(rs[0][step])
        line = (
            f"    {step} ({tasks} x): {spread(rate)} M ids/s per core; "
            f"{median(secs):.2f} s summed; largest peak RSS {_mib(peak)} (baseline "
            f"{_mib(base)}, growth {_mib(growth)}"
        )
        if step == "reduce":
            sets = max(x["set_bytes"] for x in rs[0][step])
            line += (
                f" = {growth * 1024 / (with_id / buckets):.1f} B per id of its bucket; "
                f"largest id set {sets / MiB:,.0f} MiB"
            )
        lines.append(line + ")")
    lookup = [r["lookup"] for r in rs]
    shards = rs[0]["shards"]
    lines.append(
        f"    publish look-ups ({shards} shards): {median([with_id / t / 1e6 for t in lookup]):.2f}"
        f" M ids/s ({spread(lookup)} s, {median(lookup) / shards * 1e3:.2f} ms per shard: its"
        " block's index and one ranged read)"
    )
    files = rs[0]["files"]
    lines.append(
        "    files: "
        + "; ".join(
            f"{kind} {data / MiB:,.1f} MiB + index {index / 1024:,.1f} KiB"
            for kind, (data, index) in files.items()
        )
    )
    total = [
        pairs / (stage + sum(x["seconds"] for step in STEPS for x in r[step]) + r["lookup"]) / 1e6
        for r in rs
    ]
    lines.append(
        f"    end to end (stage 1 + combine + reduce + split + look-ups): "
        f"{median(total):.2f} M ids/s per core"
    )
    return lines


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

        dedup.shard_ids(ids[:10])  # imports, untimed
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
                        f"{_mib(r['peak_kib'])} (growth {_mib(r['growth_kib'])}; set "
                        f"{r['set_bytes'] / MiB:,.0f} MiB), {r['distinct']:,} distinct"
                    )
                else:
                    r = shuffle(args, ids_dir, config)
                    dropped = r.pop("dropped")
                    line = f"shuffle {config:>2} buckets, {r['blocks']} blocks: " + "; ".join(
                        f"{step} {with_id / sum(x['seconds'] for x in r[step]) / 1e6:.2f} M "
                        f"ids/s, largest peak {_mib(max(x['peak_kib'] for x in r[step]))}"
                        for step in STEPS
                    )
                    line += f"; look-ups {r['lookup']:.3f} s"
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
            f"{_mib(median([r['peak_kib'] for r in results['single']]))} incl. the "
            f"{args.pairs * 16 / MiB:,.0f} MiB id array; growth "
            f"{_mib(median([r['growth_kib'] for r in results['single']]))}; set "
            f"{s0['set_bytes'] / MiB:,.0f} MiB for {s0['distinct']:,} distinct "
            f"({s0['set_bytes'] / s0['distinct']:.1f} bytes each)"
        )
        for b in bucket_counts:
            print(f"  shuffle, {b} bucket{'s' if b > 1 else ''}, {results[b][0]['blocks']} blocks:")
            for line in _summary(results[b], with_id, args.pairs, median(stage), b):
                print(line)
        print(f"  dropped (shard, row) sets equal in every run: {'EQUAL' if equal else 'NO'}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine at the end: {machine_note()}")
    if not equal:
        sys.exit(1)


if __name__ == "__main__":
    main()
