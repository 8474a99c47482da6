#!/usr/bin/env python3
"""End to end: ``metacurate curate`` (match + count + balance) with 1 and 2 worker processes.

A synthetic pool of ``--rows`` rows is written once as ``--files`` Parquet files into a
temporary folder; then ``metacurate curate`` runs as a subprocess, alternating ``--workers 1``
and ``--workers 2``, ``--repeats`` times each, each run into a fresh output folder. Reported:
median wall time per worker count, the speedup (target >= 1.7x with 2 workers), the CPU time
of the process tree per run, and the peak RSS of every process in the tree (VmHWM sampled
from /proc every 50 ms; target <= 1 GB per worker with the 500k-entry default metadata).

    python benchmarks/bench_curate.py --rows 400000 --files 8 --repeats 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import generate_texts, machine_note, median, mib, proc_status_kib, spread  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RSS_TARGET_KIB = 1024 * 1024  # 1 GiB per worker
SPEEDUP_TARGET = 1.7


def make_pool(folder: Path, rows: int, files: int, kind: str, seed: int) -> list[str]:
    if kind == "sample":  # the project's CommonCrawl-like generator (shorter texts, ~18 chars)
        spec = importlib.util.spec_from_file_location(
            "make_sample_pool", REPO / "scripts" / "make_sample_pool.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        table = module.generate_pool(rows, seed)
    else:
        texts = generate_texts(rows, seed)
        urls = [f"https://img{i % 997}.example.com/p/{i:x}.jpg" for i in range(rows)]
        table = pa.table({"url": pa.array(urls), "text": pa.array(texts)})
    paths = []
    per_file = -(-rows // files)
    for i in range(files):
        path = folder / f"pool-{i:02d}.parquet"
        pq.write_table(table.slice(i * per_file, per_file), path, compression="zstd")
        paths.append(str(path))
    return paths


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _role(pid: int, root: int) -> str:
    if pid == root:
        return "main"
    try:
        cmd = _cmdline(pid)
        # Forked workers keep the main process's command line; spawned ones run spawn_main.
        forked = cmd == _cmdline(root)
    except OSError:
        return "?"
    if "resource_tracker" in cmd:
        return "resource_tracker"
    if forked or "spawn_main" in cmd or "forkserver" in cmd:
        return "worker"
    return "other"


class TreeSampler(threading.Thread):
    """Samples VmHWM/VmRSS of a process and all its descendants every ``interval`` seconds."""

    def __init__(self, root: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak: dict[int, int] = {}
        self.role: dict[int, str] = {}
        self.tree_rss_peak = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            todo, total = [self.root], 0
            while todo:
                pid = todo.pop()
                status = proc_status_kib(pid)
                if status:
                    if pid not in self.role:
                        self.role[pid] = _role(pid, self.root)
                    self.peak[pid] = max(self.peak.get(pid, 0), status["VmHWM"])
                    total += status["VmRSS"]
                todo.extend(_children(pid))
            self.tree_rss_peak = max(self.tree_rss_peak, total)
            time.sleep(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def run_once(inputs: list[str], out: Path, workers: int, t: int) -> dict:
    exe = shutil.which("metacurate")
    cmd = [
        *([exe] if exe else [sys.executable, "-c", "from metacurate.cli import app; app()"]),
        "curate",
        *inputs,
        "--out",
        str(out),
        "--t",
        str(t),
        "--workers",
        str(workers),
        "--overwrite",
    ]
    env = {**os.environ, "NUMBA_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    sampler = TreeSampler(proc.pid)
    sampler.start()
    output = proc.communicate()[0].decode(errors="replace")
    wall = time.perf_counter() - t0
    sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"curate failed ({proc.returncode}):\n{output}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    card_path = next(out.glob("curated-t*-seed*/datacard.json"), None)
    card = json.loads(card_path.read_text()) if card_path else {}
    bal = card.get("balancing", {})
    roles: dict[str, list[int]] = {}
    for pid, role in sampler.role.items():
        roles.setdefault(role, []).append(sampler.peak[pid])
    return {
        "wall": wall,
        "cpu": cpu,
        "roles": roles,
        "tree_rss_peak": sampler.tree_rss_peak,
        "rows_kept": bal.get("rows_kept"),
        "rows_matched": card.get("matching", {}).get("rows_matched"),
        "matches_kept": bal.get("matches_kept"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--t", type=int, default=1_000)
    ap.add_argument("--pool", choices=["synthetic", "sample"], default="synthetic")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    print(f"machine: {machine_note()}")
    with tempfile.TemporaryDirectory(prefix="bench_curate_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        inputs = make_pool(tmp, args.rows, args.files, args.pool, args.seed)
        size = sum(Path(p).stat().st_size for p in inputs)
        texts = pq.read_table(inputs, columns=["text"])["text"]
        mean_chars = pa.compute.mean(pa.compute.utf8_length(texts)).as_py()
        print(
            f"pool ({args.pool}): {args.rows:,} rows in {args.files} Parquet files "
            f"({size / 2**20:.1f} MiB), mean text {mean_chars:.1f} characters; "
            f"written in {time.perf_counter() - t0:.1f} s"
        )
        results: dict[int, list[dict]] = {1: [], 2: []}
        for rep in range(args.repeats):
            for workers in (1, 2):
                out = tmp / f"out-w{workers}-r{rep}"
                r = run_once(inputs, out, workers, args.t)
                shutil.rmtree(out)
                results[workers].append(r)
                worker_peak = max(r["roles"].get("worker", [0]))
                print(
                    f"repeat {rep + 1} workers={workers}: {r['wall']:.2f} s wall, "
                    f"{r['cpu']:.2f} s CPU ({r['cpu'] / r['wall']:.2f} cores busy), "
                    f"main peak {mib(max(r['roles']['main']))}, "
                    f"worker peak {mib(worker_peak) if worker_peak else '-'} "
                    f"({len(r['roles'].get('worker', []))} worker processes seen), "
                    f"kept {r['rows_kept']:,} of {r['rows_matched']:,} matched rows"
                )

    kept = {r["rows_kept"] for rs in results.values() for r in rs}
    w1 = [r["wall"] for r in results[1]]
    w2 = [r["wall"] for r in results[2]]
    speedup = median(w1) / median(w2)
    # Worker count 1 runs everything in the main process: that is its only worker.
    peak_w1 = max(max(r["roles"]["main"]) for r in results[1])
    peak_w2 = max(max(r["roles"].get("worker", [0])) for r in results[2])
    main_w2 = max(max(r["roles"]["main"]) for r in results[2])
    tree_w2 = max(r["tree_rss_peak"] for r in results[2])
    print()
    print(f"Results ({args.rows:,} rows, {args.files} files, t={args.t:,}, {args.repeats} repeats)")
    header = (
        f"{'workers':<8} {'wall s (median)':>16} {'CPU s (median)':>15} {'peak RSS/process':>17}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{1:<8} {median(w1):>16.2f} {median([r['cpu'] for r in results[1]]):>15.2f} "
        f"{mib(peak_w1):>17}"
    )
    print(
        f"{2:<8} {median(w2):>16.2f} {median([r['cpu'] for r in results[2]]):>15.2f} "
        f"{mib(peak_w2):>17}"
    )
    print()
    print(f"  workers=1 wall s: {spread(w1)}")
    print(f"  workers=2 wall s: {spread(w2)}")
    print(
        f"  speedup workers=2 vs 1: {speedup:.2f}x (target >= {SPEEDUP_TARGET}x: "
        f"{'met' if speedup >= SPEEDUP_TARGET else 'NOT met'})"
    )
    print(
        f"  peak RSS: workers=1 main process {mib(peak_w1)}; workers=2 worker processes "
        f"{mib(peak_w2)}, main process {mib(main_w2)}, whole tree (sampled sum) {mib(tree_w2)} "
        f"(target <= 1 GiB per worker: "
        f"{'met' if max(peak_w1, peak_w2) <= RSS_TARGET_KIB else 'NOT met'})"
    )
    print(f"  rows kept identical across all runs and worker counts: {len(kept) == 1} ({kept})")


if __name__ == "__main__":
    main()
