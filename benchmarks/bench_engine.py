#!/usr/bin/env python3
"""``metacurate curate`` on the local engine vs the Ray engine, same pool, same run (issue 10).

Three configurations, run alternately (the order rotates every repeat), each into a fresh
output folder:

- ``local``:  ``--workers 2`` (the local engine, forked workers);
- ``joined``: ``--engine ray --ray-address auto``, joining a local Ray cluster started once
  before the repeats with ``ray start --head --num-cpus 2`` (as a user's cluster is running);
- ``own``:    ``--engine ray --workers 2`` without an address: the command starts a local Ray of
  its own and stops it. ``own - joined`` is the cost of starting Ray inside a run.

The pool is ``bench_curate.make_pool``'s synthetic pool (files of 125,000 rows), written once at
the largest ``--rows``; a smaller size takes the first files. Reported per size: median wall time
(min - max), the ratio of medians ray/local (target: joined within 1.25x of local at 16M rows),
the median of the per-repeat ratios, peak RSS (VmHWM sampled every 50 ms) of the driver, the
workers and every Ray process (gcs_server, raylet, agents, workers: found in the driver's process
tree and, for the joined runs, in the cluster's), their CPU seconds, the time ``ray start`` took
and a fresh driver's join + first task. Every run's outputs are fingerprinted (parts, their
markers, ``entry_counts.npy``, ``metadata.json``, the data card's and the match summary's figures
less ``created_utc``, ``command``, paths and the engine's name) and compared with the first local
run's: printed as IDENTICAL or the files that differ. ``--dup-rows`` adds a check on a pool with
20% duplicate pairs (the de-duplication shuffle drops rows, so publishing rewrites parts).

The cluster lives under a private ``RAY_TMPDIR`` and is stopped at the end, also on failure, by
its own process ids (not ``ray stop``, which would stop other people's Ray too).

    python benchmarks/bench_engine.py --rows 8000000,16000000 --repeats 3 --dup-rows 2000000
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, median, mib, spread  # noqa: E402
from _ray_cluster import LocalCluster, Sampler, cmdline, ray_role  # noqa: E402
from bench_curate import make_pool  # noqa: E402

FILE_ROWS = 125_000
RATIO_TARGET = 1.25
CONFIGS = ("local", "joined", "own")
RAY_ROLES = (
    "gcs_server", "raylet", "ray_worker", "dashboard_agent", "runtime_env_agent",
    "dashboard_head", "monitor", "log_monitor",
)  # fmt: skip


def command(config: str, inputs: list[str], out: Path, t: int) -> list[str]:
    exe = shutil.which("metacurate")
    base = [*([exe] if exe else [sys.executable, "-m", "metacurate"]), "curate", *inputs]
    base += ["--out", str(out), "--t", str(t), "--overwrite"]
    if config == "local":
        return [*base, "--workers", "2"]
    if config == "joined":
        return [*base, "--engine", "ray", "--ray-address", "auto"]
    return [*base, "--engine", "ray", "--workers", "2"]


def run_once(config: str, inputs: list[str], out: Path, t: int, cluster: LocalCluster) -> dict:
    cmd = command(config, inputs, out, t)
    env = {**cluster.env}  # RAY_TMPDIR: 'auto' finds our cluster; own Rays stay in our folder
    before = set(cluster.root_pids())
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    sampler = Sampler(proc.pid, cluster.pids if config == "joined" else None)
    sampler.start()
    output = proc.communicate()[0].decode(errors="replace")
    wall = time.perf_counter() - t0
    sampler.stop()
    if proc.returncode != 0:
        raise RuntimeError(
            f"{config} failed ({proc.returncode}): {' '.join(cmd)}\n{output[-4000:]}"
        )
    # Nothing of an own Ray may outlive its run: its processes carry our RAY_TMPDIR too.
    leftover = [p for p in cluster.root_pids() if p not in before]
    if leftover:  # give a stopping Ray a moment
        time.sleep(3)
        leftover = [p for p in cluster.root_pids() if p not in before]
    return {"wall": wall, "roles": sampler.by_role(), "leftover": leftover, "cmd": cmd}


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _figures(path: Path, out: Path) -> str:
    data = json.loads(path.read_text("utf-8"))
    data.pop("created_utc", None)
    data.pop("command", None)
    data.pop("engine", None)  # match_summary: {"engine": "ray" | "local", "workers": ...}
    text = json.dumps(data, sort_keys=True).replace(str(out), "<out>")
    return hashlib.sha256(text.encode()).hexdigest()


def fingerprint(out: Path) -> dict[str, str]:
    prints = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if path.name in ("datacard.json", "match_summary.json"):
            prints[rel + " (figures)"] = _figures(path, out)
        elif path.name in ("entry_counts.npy", "metadata.json") or (
            path.name.startswith("part-") and path.suffix in (".parquet", ".json")
        ):
            prints[rel] = _sha(path)
    return prints


def compare(reference: dict[str, str], other: dict[str, str]) -> str:
    if reference == other:
        return f"IDENTICAL ({len(reference)} files)"
    keys = sorted(set(reference) | set(other))
    bad = [k for k in keys if reference.get(k) != other.get(k)]
    return f"DIFFERENT: {len(bad)} of {len(keys)} files: {', '.join(bad[:8])}"


def make_dup_pool(folder: Path, rows: int, share: float, seed: int = 1) -> list[str]:
    """make_pool's rows, with ``share`` of them replaced by copies of earlier rows (url and
    text), spread over later files too."""
    paths = make_pool(folder, rows, max(1, rows // FILE_ROWS), "synthetic", seed)
    table = pq.read_table(paths)
    rng = np.random.default_rng(seed)
    n = len(table)
    targets = np.sort(rng.choice(np.arange(1, n), size=int(n * share), replace=False))
    sources = (rng.random(len(targets)) * targets).astype(np.int64)  # an earlier row
    index = np.arange(n)
    index[targets] = sources
    while True:  # a source may itself be a copy: follow it to an original
        again = index[index] != index
        if not again.any():
            break
        index = index[index]
    table = table.take(pa.array(index))
    for i, path in enumerate(paths):
        pq.write_table(table.slice(i * FILE_ROWS, FILE_ROWS), path, compression="zstd")
    return paths


def summarise(size: int, results: dict[str, list[dict]], target_here: bool) -> None:
    walls = {c: [r["wall"] for r in results[c]] for c in CONFIGS}
    med = {c: median(walls[c]) for c in CONFIGS}
    print()
    print(f"== {size:,} rows, {len(walls['local'])} repeats ==")
    for c in CONFIGS:
        print(f"  {c:<7} wall s: median {med[c]:.2f}  ({spread(walls[c])})")
    ratio = med["joined"] / med["local"]
    per_rep = [j / lo for j, lo in zip(walls["joined"], walls["local"], strict=True)]
    start_costs = [o - j for o, j in zip(walls["own"], walls["joined"], strict=True)]
    verdict = "met" if ratio <= RATIO_TARGET else "NOT met"
    print(
        f"  joined/local: {ratio:.3f}x (median of per-repeat ratios {median(per_rep):.3f}x, "
        f"{min(per_rep):.3f}-{max(per_rep):.3f})"
        + (f"; target <= {RATIO_TARGET}x: {verdict}" if target_here else "")
    )
    print(f"  own/local: {med['own'] / med['local']:.3f}x")
    print(
        f"  start cost inside a run (own - joined, per repeat): median {median(start_costs):.2f} s "
        f"({min(start_costs):.2f} - {max(start_costs):.2f})"
    )
    print(
        "  peak RSS (largest VmHWM of the role's processes, over repeats; its largest sampled"
        " RssAnon = private and RssShmem = shared, e.g. Ray's object store) and CPU s (median):"
    )
    for c in CONFIGS:
        roles: dict[str, list] = {}
        for r in results[c]:
            for role, e in r["roles"].items():
                roles.setdefault(role, []).append(e)
        parts = []
        order = ["driver", "worker", *RAY_ROLES, "resource_tracker", "other"]
        for role in [x for x in order if x in roles] + sorted(set(roles) - set(order)):
            es = roles[role]
            peak = max(e["peak_kib"] for e in es)
            anon = max(e.get("anon_kib", 0) for e in es)
            shmem = max(e.get("shmem_kib", 0) for e in es)
            procs = max(e["processes"] for e in es)
            cpu = median([e["cpu_s"] for e in es])
            parts.append(
                f"{role} x{procs} {mib(peak)} (anon {mib(anon)}, shm {mib(shmem)}) {cpu:.1f} s"
            )
        print(f"    {c:<7} " + "; ".join(parts))
    for c in CONFIGS:
        cpu = [sum(e["cpu_s"] for e in r["roles"].values()) for r in results[c]]
        print(f"  {c:<7} CPU s of all sampled processes: median {median(cpu):.1f} ({spread(cpu)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="8000000,16000000", help="comma-separated sizes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--t", type=int, default=1_000)
    ap.add_argument("--dup-rows", type=int, default=2_000_000, help="0: no duplicate-pool check")
    ap.add_argument("--dup-share", type=float, default=0.2)
    ap.add_argument("--workdir", default=None, help="where the pool and outputs go (a temp dir)")
    args = ap.parse_args()
    sizes = sorted(int(x) for x in args.rows.split(","))

    print(f"machine: {machine_note()}")
    cluster = LocalCluster(cpus=2)
    tmp = Path(tempfile.mkdtemp(prefix="bench_engine_", dir=args.workdir))
    try:
        t0 = time.perf_counter()
        files = -(-sizes[-1] // FILE_ROWS)
        pool = make_pool(tmp, files * FILE_ROWS, files, "synthetic", 0)
        print(f"pool: {files * FILE_ROWS:,} rows in {files} files, written in "
              f"{time.perf_counter() - t0:.0f} s")  # fmt: skip

        start_s = cluster.start()
        first_task = cluster.first_task_seconds()
        daemons = {p: ray_role(cmdline(p)) or "other" for p in cluster.pids()}
        print(
            f"cluster: `ray start --head --num-cpus 2 --include-dashboard=false` took "
            f"{start_s:.2f} s; a fresh driver's ray.init(address='auto') + first task "
            f"{first_task:.2f} s; {len(daemons)} processes: "
            + ", ".join(sorted(set(daemons.values())))
        )

        if args.dup_rows:
            dup_dir = tmp / "dup"
            dup_dir.mkdir()
            dup_pool = make_dup_pool(dup_dir, args.dup_rows, args.dup_share)
            prints = {}
            for config in CONFIGS:
                out = tmp / f"dup-out-{config}"
                r = run_once(config, dup_pool, out, args.t, cluster)
                card = json.loads(next(out.glob("curated-*/datacard.json")).read_text())
                prints[config] = fingerprint(out)
                print(
                    f"duplicate pool ({args.dup_rows:,} rows, {args.dup_share:.0%} copies) "
                    f"{config}: {r['wall']:.2f} s, rows_duplicate "
                    f"{card['matching']['rows_duplicate']:,}, rows_kept "
                    f"{card['balancing']['rows_kept']:,}; vs local: "
                    f"{compare(prints['local'], prints[config])}"
                )
                shutil.rmtree(out)

        for size in sizes:
            inputs = pool[: -(-size // FILE_ROWS)]
            results: dict[str, list[dict]] = {c: [] for c in CONFIGS}
            reference = None
            for rep in range(args.repeats):
                order = CONFIGS[rep % 3 :] + CONFIGS[: rep % 3]
                for config in order:
                    out = tmp / f"out-{size}-{config}-{rep}"
                    r = run_once(config, inputs, out, args.t, cluster)
                    prints = fingerprint(out)
                    reference = reference or prints
                    card = json.loads(next(out.glob("curated-*/datacard.json")).read_text())
                    shutil.rmtree(out)
                    results[config].append(r)
                    peaks = ", ".join(
                        f"{role} {mib(e['peak_kib'])}" for role, e in sorted(r["roles"].items())
                        if role in ("driver", "worker", "ray_worker", "raylet", "gcs_server")
                    )  # fmt: skip
                    print(
                        f"{size:,} rows, repeat {rep + 1}, {config:<6}: {r['wall']:6.2f} s; "
                        f"{peaks}; kept {card['balancing']['rows_kept']:,}; "
                        f"outputs vs first run: {compare(reference, prints)}"
                        + (f"; LEFTOVER Ray processes {r['leftover']}" if r["leftover"] else "")
                    )
            print("  commands:", *(" ".join(results[c][0]["cmd"][:2]) + " <pool> " +
                                   " ".join(results[c][0]["cmd"][2 + len(inputs):])
                                   for c in CONFIGS), sep="\n    ")  # fmt: skip
            summarise(size, results, size >= 16_000_000)
    finally:
        killed = cluster.stop()
        print(f"cluster stopped{' (SIGKILL needed for ' + str(killed) + ')' if killed else ''}")
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine at the end: {machine_note()}")


if __name__ == "__main__":
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    main()
