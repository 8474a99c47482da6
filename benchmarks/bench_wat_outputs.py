#!/usr/bin/env python3
"""What one WAT file turns into: rows at each step, shuffle ids and bytes written (issue 10's
projection to CommonCrawl).

Builds ``bench_ingest.py``'s CommonCrawl-layout WAT file (``--mb`` MB uncompressed, from the real
pages in ``../shared/data/warc``) and runs ``run_match([wat], --lang en)`` on one core, keeping
the staging folder's sizes before they are removed: the rows read, matched, of another language,
staged (= pair ids written to the de-duplication shuffle, 24 bytes each), duplicate and written,
the bytes of the staged parts, the id files and the final parts, per MB of WAT. The projection in
``RESULTS.md`` scales these per-MB figures to 1.2 GB WAT files.

    python benchmarks/bench_wat_outputs.py --mb 240
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import machine_note  # noqa: E402
from bench_ingest import build_wat  # noqa: E402

import metacurate.pipeline.shards as shards_mod  # noqa: E402
from metacurate.engine import LocalEngine  # noqa: E402
from metacurate.metadata import default_metadata  # noqa: E402
from metacurate.pipeline.match import run_match  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=240)
    ap.add_argument("--lang", default="en")
    args = ap.parse_args()
    print(f"machine: {machine_note()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench_wat_outputs_"))
    try:
        wat = tmp / "CC-MAIN-bench.warc.wat.gz"
        records, size = build_wat(wat, args.mb)
        mb = size / 1e6
        print(
            f"WAT: {records:,} records, {mb:,.1f} MB uncompressed, {wat.stat().st_size / 1e6:,.1f} MB gzip"
        )
        staged: dict[str, int] = {}
        original = shards_mod.run_step

        def measured(engine, worker, tasks, done, on_done, description, *rest, **kw):
            if description == "de-duplicate":  # the staging folder is complete here
                for path in (tmp / "out" / "staging").iterdir():
                    kind = "ids" if path.name.endswith(".ids.npy") else path.suffix
                    staged[kind] = staged.get(kind, 0) + path.stat().st_size
            return original(engine, worker, tasks, done, on_done, description, *rest, **kw)

        shards_mod.run_step = measured
        t0 = time.perf_counter()
        summary = run_match(
            [str(wat)], tmp / "out", default_metadata(), engine=LocalEngine(1), lang=args.lang
        )
        seconds = time.perf_counter() - t0
        final = sum(p.stat().st_size for p in (tmp / "out" / "matched").glob("*.parquet"))
        rows = {k[5:]: v for k, v in summary.items() if k.startswith("rows_")}
        print(f"run_match(--lang {args.lang}, 1 process): {seconds:.2f} s")
        print("rows: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))
        print(
            f"staging: parts {staged.get('.parquet', 0) / 1e6:.2f} MB, id files "
            f"{staged.get('ids', 0) / 1e6:.2f} MB ({staged.get('ids', 0) / max(rows['staged'], 1):.1f}"
            f" bytes per staged row); final parts {final / 1e6:.2f} MB "
            f"({final / max(rows['written'], 1):.0f} bytes per written row)"
        )
        per_mb = {k: v / mb for k, v in rows.items()}
        print(
            "per MB of uncompressed WAT: "
            + ", ".join(f"{k} {v:,.1f}" for k, v in per_mb.items())
            + f"; staged parts {staged.get('.parquet', 0) / size * 1e6:,.0f} B, ids "
            f"{staged.get('ids', 0) / size * 1e6:,.0f} B, final parts {final / size * 1e6:,.0f} B"
        )
        print(
            f"scaled to a 1.2 GB WAT file (x{1200 / mb:.2f}): "
            + ", ".join(f"{k} {v * 1200:,.0f}" for k, v in per_mb.items())
            + f"; ids {staged.get('ids', 0) / size * 1.2e9 / 1e6:,.1f} MB, final parts "
            f"{final / size * 1.2e9 / 1e6:,.1f} MB"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
