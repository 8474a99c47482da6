#!/usr/bin/env python3
"""Driver (main process) peak RSS of ``match`` as the number of shards grows (issue 10).

Tiny shards: Parquet files of ``--groups-per-file`` row groups of ``--group-rows`` rows each,
and ``run_match(..., shard_rows=group_rows)`` so that every row group is one shard (the CLI has
no ``--shard-rows`` option, so the driver is a child process running ``run_match`` from Python).
The default 500,000-entry metadata, the local engine with 2 workers or the Ray engine joining a
local cluster (``ray start --head --num-cpus 2`` under a private ``RAY_TMPDIR``, stopped at the
end by its own process ids).

The child prints its VmHWM at the end (the driver's peak RSS), its VmHWM after loading the
metadata (the baseline every size shares), the RSS after each step (stage, de-duplicate,
publish) and each step's wall time. Printed: the curve, and the slope in bytes per shard between
consecutive sizes. Then, in the same driver, ``run_balance`` of that match (``--balance-t``),
with VmHWM reset to the RSS the match left (``/proc/self/clear_refs``): the balance stage's
own peak, by parts. ``--trace`` runs the driver under ``tracemalloc`` (a separate run: it costs
memory itself) and prints the top allocation sites alive when the stage finishes, so that what
grows with shards can be named.

    python benchmarks/bench_driver_memory.py \
        --runs local:1000,local:10000,ray:1000,ray:10000,local:1000:off:20000,local:50000:off:20000
"""

from __future__ import annotations

import argparse
import json
import os
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
from _common import generate_texts, machine_note  # noqa: E402


def _status() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmHWM", "VmRSS", "RssAnon", "RssShmem")):
                out[line.split(":")[0]] = int(line.split()[1])
    return out


def make_inputs(folder: Path, shards: int, group_rows: int, per_file: int, seed: int = 0) -> list:
    """``shards`` row groups of ``group_rows`` rows in files of ``per_file`` row groups."""
    rows = shards * group_rows
    texts = generate_texts(rows, seed)
    urls = [f"https://img{i % 997}.example.com/p/{i:x}.jpg" for i in range(rows)]
    table = pa.table({"url": urls, "text": texts})
    paths = []
    step = per_file * group_rows
    for i, start in enumerate(range(0, rows, step)):
        path = folder / f"tiny-{i:05d}.parquet"
        pq.write_table(table.slice(start, step), path, row_group_size=group_rows)
        paths.append(str(path))
    return paths


# ------------------------------------------------------------------------------------------
# The driver (child process)
# ------------------------------------------------------------------------------------------


def child(args) -> dict:
    import tracemalloc

    import metacurate.pipeline.match as match_mod
    import metacurate.pipeline.shards as shards_mod
    from metacurate.engine import LocalEngine, RayEngine
    from metacurate.metadata import Metadata, default_metadata
    from metacurate.pipeline import rundir
    from metacurate.pipeline.balance import run_balance

    inputs = json.loads(Path(args.inputs).read_text())
    if args.traced:
        tracemalloc.start(12)
        import metacurate.engine.local as local_mod

        serve = local_mod._serve

        def untraced_serve(*a, **kw):  # forked workers inherit tracing: only the driver's counts
            tracemalloc.stop()
            return serve(*a, **kw)

        local_mod._serve = untraced_serve
    steps: dict[str, dict] = {}
    original = shards_mod.run_step

    def timed_step(engine, worker, tasks, done, on_done, description, *rest, **kw):
        t0 = time.perf_counter()
        result = original(engine, worker, tasks, done, on_done, description, *rest, **kw)
        steps[description] = {"seconds": time.perf_counter() - t0, **_status()}
        steps[description]["done_at"] = time.perf_counter() - started[0]
        return result

    shards_mod.run_step = timed_step
    snapshot = {}
    original_finish = match_mod.finish
    original_remove = rundir.remove

    def traced_finish(summary_path, summary, config):
        if args.traced:
            snapshot["config_json_bytes"] = len(json.dumps(config))
            snapshot["summary_json_bytes"] = len(json.dumps(summary))
        return original_finish(summary_path, summary, config)

    def traced_remove(folder, layout, config):
        # finish() removes the staged files: everything the stage holds is alive here (the
        # shards, the run's record, the totals and the summary).
        if args.traced:
            snapshot["top"] = _top(tracemalloc.take_snapshot(), args.trace_top)
            snapshot["traced_current"], snapshot["traced_peak"] = tracemalloc.get_traced_memory()
        return original_remove(folder, layout, config)

    match_mod.finish = traced_finish
    rundir.remove = traced_remove

    peak_rss = [0]
    stop = threading.Event()

    peak_anon, peak_shmem = [0], [0]

    def sample():
        while not stop.is_set():
            status = _status()
            peak_rss[0] = max(peak_rss[0], status["VmRSS"])
            peak_anon[0] = max(peak_anon[0], status["RssAnon"])
            peak_shmem[0] = max(peak_shmem[0], status["RssShmem"])
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    started = [time.perf_counter()]
    metadata = default_metadata()
    if args.entries:  # the most frequent wordfreq unigrams: the synthetic texts' words
        start = next(src.start for src in metadata.sources if src.name == "wordfreq")
        metadata = Metadata(
            metadata.entries[start : start + args.entries],
            f"default metadata, {args.entries} most frequent wordfreq entries",
        )
    base = _status()
    engine = LocalEngine(2) if args.engine == "local" else RayEngine("auto")
    t0 = started[0] = time.perf_counter()
    with engine:
        summary = match_mod.run_match(
            inputs, Path(args.out), metadata, engine=engine, shard_rows=args.group_rows or None,
            dedup=not args.no_dedup,
        )  # fmt: skip
        wall = time.perf_counter() - t0
        end = _status()
        anon_match = peak_anon[0]
        # The balance stage's own peak: VmHWM reset to the RSS the match left.
        Path("/proc/self/clear_refs").write_text("5")
        peak_anon[0] = 0
        balance_base = _status()
        t1 = time.perf_counter()
        run_balance(Path(args.out), t=args.balance_t, engine=engine)
        balance_wall = time.perf_counter() - t1
    stop.set()
    balance_end = _status()
    return {
        "balance_wall": balance_wall,
        "balance_hwm_kib": balance_end["VmHWM"],
        "balance_base_rss_kib": balance_base["VmRSS"],
        "balance_anon_peak_kib": peak_anon[0],
        "wall": wall,
        "shards": summary["shards"],
        "rows_read": summary["rows_read"],
        "rows_written": summary["rows_written"],
        "buckets": (summary.get("dedup") or {}).get("buckets", 0),
        "hwm_kib": end["VmHWM"],
        "rss_end_kib": end["VmRSS"],
        "anon_peak_kib": anon_match,
        "shmem_peak_kib": peak_shmem[0],
        "base_anon_kib": base["RssAnon"],
        "base_hwm_kib": base["VmHWM"],
        "base_rss_kib": base["VmRSS"],
        "steps": steps,
        **snapshot,
    }


def _top(snap, n: int) -> list[str]:
    import tracemalloc

    snap = snap.filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    stats = snap.statistics("traceback")
    lines = []
    for stat in stats[:n]:
        frames = list(stat.traceback)  # outermost first
        # the allocating frame, and the innermost frame of our package above it
        ours = [f for f in frames if "/metacurate/" in f.filename]
        where = f"{frames[-1].filename.split('site-packages/')[-1]}:{frames[-1].lineno}"
        via = (
            f" via {ours[-1].filename.split('/metacurate/')[-1]}:{ours[-1].lineno}"
            if ours and ours[-1] is not frames[-1]
            else ""
        )
        lines.append(f"{stat.size / 2**20:8.2f} MiB {stat.count:>9,} blocks  {where}{via}")
    return lines


# ------------------------------------------------------------------------------------------
# Parent
# ------------------------------------------------------------------------------------------


def run_driver(engine, inputs_file, out, args, env, no_dedup, entries, trace) -> dict:
    command = [sys.executable, __file__, "--child", "--engine", engine, "--inputs", inputs_file]
    command += ["--entries", str(entries)]
    command += ["--out", str(out), "--group-rows", str(args.group_rows)]
    command += ["--trace-top", str(args.trace_top), "--balance-t", str(args.balance_t)]
    command += ["--no-dedup"] if no_dedup else []
    command += ["--traced"] if trace else []
    t0 = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"driver failed: {' '.join(command)}\n{proc.stderr[-4000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall"] = time.perf_counter() - t0
    shutil.rmtree(out, ignore_errors=True)
    return result


def parse_runs(text: str, trace: bool = False) -> list[tuple]:
    """``engine:shards[:off[:entries]]`` -> (engine, shards, no_dedup, entries, trace)."""
    runs = []
    for item in filter(None, text.split(",")):
        engine, n, *rest = item.split(":")
        no_dedup = bool(rest) and rest[0] == "off"
        entries = int(rest[1]) if len(rest) > 1 else 0
        runs.append((engine, int(n), no_dedup, entries, trace))
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--runs",
        default="local:1000,local:10000,ray:1000,ray:10000",
        help="comma-separated engine:shards[:off[:entries]] (off: --no-dedup; entries: a metadata"
        " of that many of the default's most frequent wordfreq entries instead of all 500,000)",
    )
    ap.add_argument("--trace", default="", help="runs as in --runs, under tracemalloc")
    ap.add_argument("--trace-top", type=int, default=12)
    ap.add_argument("--balance-t", type=int, default=20, help="t of the balance run after match")
    ap.add_argument("--group-rows", type=int, default=4)
    ap.add_argument("--groups-per-file", type=int, default=100)
    ap.add_argument(
        "--pool",
        type=int,
        default=0,
        help="instead of tiny shards: bench_curate's pool of this many rows (files of 125,000"
        " rows, the default shard size); the sizes in --runs are then ignored",
    )
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--inputs", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--no-dedup", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--entries", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return
    trace_flag = args.trace

    plan = parse_runs(args.runs) + parse_runs(trace_flag, trace=True)
    print(f"machine: {machine_note()}")
    print(
        f"tiny shards: row groups of {args.group_rows} rows, {args.groups_per_file} per file, "
        f"shard_rows={args.group_rows} (one row group per shard); default metadata"
    )
    from _ray_cluster import LocalCluster

    cluster = LocalCluster(cpus=2) if any(e == "ray" for e, *_ in plan) else None
    tmp = Path(tempfile.mkdtemp(prefix="bench_driver_"))
    results = []
    try:
        if cluster:
            print(f"cluster: ray start took {cluster.start():.2f} s")
        env = {**(cluster.env if cluster else os.environ), "NUMBA_NUM_THREADS": "1"}
        most = max(n for _, n, *_ in plan)
        t0 = time.perf_counter()
        files = make_inputs(tmp, most, args.group_rows, args.groups_per_file)
        print(
            f"inputs: {most:,} row groups in {len(files)} files, {time.perf_counter() - t0:.0f} s"
        )
        for engine, n, no_dedup, entries, trace in plan:
            inputs_file = tmp / f"inputs-{n}.json"
            inputs_file.write_text(json.dumps(files[: -(-n // args.groups_per_file)]))
            out = tmp / "out"
            r = run_driver(engine, str(inputs_file), out, args, env, no_dedup, entries, trace)
            r.update(engine=engine, n=n, dedup=not no_dedup, entries=entries, trace=trace)
            results.append(r)
            steps = "; ".join(
                f"{k} {v['seconds']:.1f} s (RSS after {v['VmRSS'] / 1024:,.0f} MiB)"
                for k, v in r["steps"].items()
            )
            print(
                f"{engine:<5} {r['shards']:>6,} shards, dedup {'on ' if not no_dedup else 'off'}, "
                f"{'default metadata' if not entries else f'{entries:,} entries'}"
                f"{' TRACED' if trace else ''}: driver peak {r['hwm_kib'] / 1024:,.0f} MiB "
                f"(after metadata {r['base_hwm_kib'] / 1024:,.0f} MiB, growth "
                f"{(r['hwm_kib'] - r['base_hwm_kib']) / 1024:,.0f} MiB), RSS at end "
                f"{r['rss_end_kib'] / 1024:,.0f} MiB; sampled peaks: private (RssAnon) "
                f"{r['anon_peak_kib'] / 1024:,.0f} MiB (after metadata "
                f"{r['base_anon_kib'] / 1024:,.0f}), shared (RssShmem, e.g. Ray's object store) "
                f"{r['shmem_peak_kib'] / 1024:,.0f} MiB; {r['buckets']} buckets; wall "
                f"{r['wall']:.1f} s ({r['wall'] / r['shards'] * 1000:.1f} ms per shard): {steps}",
                flush=True,
            )
            print(
                f"      then balance --t {args.balance_t}: driver peak "
                f"{r['balance_hwm_kib'] / 1024:,.0f} MiB (from {r['balance_base_rss_kib'] / 1024:,.0f}"
                f" MiB left by match), private peak {r['balance_anon_peak_kib'] / 1024:,.0f} MiB,"
                f" wall {r['balance_wall']:.1f} s",
                flush=True,
            )
            if trace:
                print(
                    f"    tracemalloc when the staged files are removed: "
                    f"{r['traced_current'] / 2**20:,.1f} MiB current, "
                    f"{r['traced_peak'] / 2**20:,.1f} MiB peak; run record (match_run config) "
                    f"{r['config_json_bytes']:,} bytes of JSON, summary "
                    f"{r['summary_json_bytes']:,} bytes"
                )
                for line in r["top"]:
                    print(f"    {line}")
    finally:
        if cluster:
            killed = cluster.stop()
            print(f"cluster stopped{' (SIGKILL for ' + str(killed) + ')' if killed else ''}")
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("Curve (untraced runs): driver peak RSS (VmHWM) by shards; slope between sizes")
    groups: dict[tuple, list] = {}
    for r in results:
        if not r["trace"]:
            groups.setdefault((r["engine"], r["dedup"], r["entries"]), []).append(r)
    for (engine, dedup_on, entries), rs in groups.items():
        rs.sort(key=lambda r: r["n"])
        curve = ", ".join(
            f"{r['n']:,}: {r['hwm_kib'] / 1024:,.0f} MiB (private {r['anon_peak_kib'] / 1024:,.0f})"
            for r in rs
        )
        slopes = ", ".join(
            f"{a['n']:,}->{b['n']:,}: {(b['hwm_kib'] - a['hwm_kib']) * 1024 / (b['n'] - a['n']):,.0f}"
            f" B/shard (private {(b['anon_peak_kib'] - a['anon_peak_kib']) * 1024 / (b['n'] - a['n']):,.0f})"
            for a, b in zip(rs, rs[1:], strict=False)
        )
        what = f"{entries:,} entries" if entries else "default metadata"
        print(
            f"  {engine:<5} dedup {'on ' if dedup_on else 'off'}, {what}: {curve}; slope {slopes or '-'}"
        )
        balance = ", ".join(f"{r['n']:,}: {r['balance_hwm_kib'] / 1024:,.0f} MiB" for r in rs)
        balance_slopes = ", ".join(
            f"{a['n']:,}->{b['n']:,}: "
            f"{(b['balance_hwm_kib'] - a['balance_hwm_kib']) * 1024 / (b['n'] - a['n']):,.0f} B/part"
            for a, b in zip(rs, rs[1:], strict=False)
        )
        print(f"    then balance: {balance}; slope {balance_slopes or '-'}")
    print(f"machine at the end: {machine_note()}")


if __name__ == "__main__":
    main()
