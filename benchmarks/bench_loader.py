#!/usr/bin/env python3
"""The online-balancing loader's own cost: ``BalancedDataset`` vs a plain webdataset pipeline
decoding the same img2dataset-like shards.

``--samples`` JPEGs (64-256 px a side, a gradient with noise) in ``--shards`` tar files, each
with a ``.json`` of 1-3 texts whose entry ids (1-3 a text) are drawn Zipf-like over 2,000
entries; written out of key order, as img2dataset does. Every pipeline decodes with PIL, resizes
to 64x64 and makes a uint8 tensor (torchvision), through a DataLoader (batch 64) with 1 and 2
workers; a pass includes starting the workers. Measured, median over ``--repeats`` passes:

- ``webdataset``: ``WebDataset(...).decode("pil")``: every sample decoded;
- ``ours, keep all``: ``BalancedDataset`` with t above every count (p_e = 1), so it decodes the
  same samples: the ratio to ``webdataset`` is the loader's own cost;
- ``ours, t=--t``: a realistic threshold; the samples dropped are never decoded;
- in the main process, no decoding: webdataset's ``tarfile_samples`` alone vs ``balanced_samples``
  (reading, parsing the json, drawing): the loader's cost per sample read, in microseconds.

    python benchmarks/bench_loader.py --samples 4000 --shards 16 --repeats 5
"""

from __future__ import annotations

import os

os.environ["NUMBA_NUM_THREADS"] = "1"  # before numba is imported anywhere

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, median, spread  # noqa: E402

ENTRIES = 2_000
BATCH = 64


def write_shards(folder: Path, samples: int, shards: int, seed: int) -> tuple[str, np.ndarray]:
    """(brace pattern of the shards, entry counts of their texts)."""
    import webdataset as wds
    from PIL import Image

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, ENTRIES + 1) ** 1.1
    weights /= weights.sum()
    counts = np.zeros(ENTRIES, np.uint64)
    for s in range(shards):
        with wds.TarWriter(str(folder / f"{s:05d}.tar")) as tar:
            for i in rng.permutation(np.arange(s, samples, shards)):
                w, h = rng.integers(64, 257, size=2)
                gradient = np.add.outer(np.arange(h), np.arange(w))[..., None] * [1, 2, 3]
                pixels = (gradient + rng.integers(0, 40, (h, w, 3))) % 256
                jpeg = io.BytesIO()
                Image.fromarray(pixels.astype(np.uint8)).save(jpeg, format="JPEG", quality=90)
                n_texts = int(rng.integers(1, 4))
                ids = [
                    sorted({int(e) for e in rng.choice(ENTRIES, rng.integers(1, 4), p=weights)})
                    for _ in range(n_texts)
                ]
                for text_ids in ids:
                    counts[text_ids] += 1
                record = {
                    "url": f"https://img.example/{i}.jpg",
                    "texts": [f"alt text {j} of image {i}" for j in range(n_texts)],
                    "entry_ids": ids,
                }
                tar.write({"__key__": f"{i:09d}", "jpg": jpeg.getvalue(), "json": record})
    return str(folder / f"{{00000..{shards - 1:05d}}}.tar"), counts


def _transform():
    from torchvision import transforms

    return transforms.Compose([transforms.Resize((64, 64)), transforms.PILToTensor()])


def plain_webdataset(pattern: str):
    import webdataset as wds

    transform = _transform()
    return (
        wds.WebDataset(pattern, shardshuffle=False, empty_check=False)
        .decode("pil")
        .to_tuple("jpg", "json")
        .map_tuple(transform, lambda meta: meta["texts"][0])
    )


def ours(pattern: str, counts: np.ndarray, t: float):
    from metacurate.loader.torch import BalancedDataset

    return BalancedDataset(pattern, counts, t, seed=0, transform=_transform())


def timed_pass(dataset, workers: int) -> tuple[float, int]:
    """(seconds, samples) of one pass through a DataLoader."""
    from torch.utils.data import DataLoader

    start = time.perf_counter()
    n = 0
    for batch in DataLoader(dataset, batch_size=BATCH, num_workers=workers):
        n += len(batch[0] if isinstance(batch, list | tuple) else batch["image"])
    return time.perf_counter() - start, n


def core_costs(pattern: str, counts: np.ndarray, t: float, repeats: int) -> tuple[list, list, int]:
    """Per pass, seconds for reading the samples alone and for ``balanced_samples``."""
    from webdataset.tariterators import tarfile_samples

    from metacurate.loader import OnlineBalance, balanced_samples, expand_shards

    shards = expand_shards(pattern)
    balance = OnlineBalance(counts, t)
    read, drawn, n = [], [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        n = sum(1 for _ in tarfile_samples([{"url": s} for s in shards]))
        read.append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in balanced_samples(balance, shards, 0):
            pass
        drawn.append(time.perf_counter() - start)
    return read, drawn, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=4000)
    ap.add_argument("--shards", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--t", type=float, default=10, help="the realistic balancing threshold")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    print(f"command: python {' '.join(sys.argv)}")
    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pattern, counts = write_shards(Path(tmp), args.samples, args.shards, args.seed)
        size = sum(f.stat().st_size for f in Path(tmp).iterdir())
        print(
            f"shards: {args.samples:,} samples in {args.shards} tars, {size / 2**20:.1f} MiB;"
            f" {int((counts >= args.t).sum())} of {ENTRIES} entries at or above t={args.t:g};"
            f" written in {time.perf_counter() - t0:.1f} s"
        )
        keep_all = float(counts.max()) + 1
        expected = ours(pattern, counts, args.t).expected_epoch_size()
        print(f"t={args.t:g}: expected epoch size {expected:,.0f} of {args.samples:,}")
        pipelines = {
            "webdataset": lambda: plain_webdataset(pattern),
            "ours, keep all": lambda: ours(pattern, counts, keep_all),
            f"ours, t={args.t:g}": lambda: ours(pattern, counts, args.t),
        }
        rates: dict[tuple[str, int], list[float]] = {}
        yielded: dict[tuple[str, int], int] = {}
        timed_pass(ours(pattern, counts, args.t), 0)  # load the compiled kernels once
        for rep in range(args.repeats):
            for workers in (1, 2):
                for name, make in pipelines.items():
                    seconds, n = timed_pass(make(), workers)
                    rates.setdefault((name, workers), []).append(args.samples / seconds)
                    yielded[name, workers] = n
            print(f"repeat {rep + 1} done")
        read, drawn, n_read = core_costs(pattern, counts, args.t, args.repeats)

    print()
    print(f"Results ({args.samples:,} samples, batch {BATCH}, median of {args.repeats} passes)")
    header = (
        f"{'pipeline':<20} {'workers':>7} {'samples out':>11} {'samples read/s':>15}"
        f" {'vs webdataset':>14}"
    )
    print(header)
    print("-" * len(header))
    for workers in (1, 2):
        base = median(rates["webdataset", workers])
        for name in pipelines:
            rate = median(rates[name, workers])
            print(
                f"{name:<20} {workers:>7} {yielded[name, workers]:>11,} {rate:>15,.0f}"
                f" {rate / base:>13.2f}x"
            )
    print()
    for (name, workers), values in rates.items():
        print(f"  {name}, {workers} worker(s), samples read/s: {spread(values)}")
    per_read = (median(drawn) - median(read)) / n_read * 1e6
    print(
        f"  main process, no decoding: tarfile_samples {median(read) / n_read * 1e6:.1f} us/sample,"
        f" balanced_samples {median(drawn) / n_read * 1e6:.1f} us/sample:"
        f" the loader's own cost {per_read:.1f} us per sample read"
    )


if __name__ == "__main__":
    main()
