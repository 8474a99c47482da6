#!/usr/bin/env python3
"""``metacurate curate`` into a local folder vs into an S3 prefix, same pool, same run (issue 10).

The S3 API server is moto's (``python -m moto.server``) on 127.0.0.1 in a process of its own, so
what is timed is metacurate's store path (uploads from memory, listings, ranged reads of the
shuffle's files, the lease) plus a local server's work, not a network: a real store adds
latency per request, which is why the requests are counted too. Each run writes into a fresh
folder or prefix; the order rotates every repeat. Reported: median wall time (min - max), the
ratio store/local, the server's requests per run by method (from its access log) and per shard,
and whether every file of the store run equals the local run's (the data card less its time
and folder).

moto 5.2 cannot complete pyarrow 26's multipart uploads (boto3's work), so every object must
stay under pyarrow's single-request size (about 10 MB): the de-duplication block file holds
32 bytes per row, which keeps a run at about 300,000 rows. Real stores take multipart uploads;
this measures the store path's fixed and per-shard costs, not throughput at scale.

    python benchmarks/bench_store_outputs.py --rows 250000 --files 8 --repeats 5
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_note, median, spread  # noqa: E402
from bench_curate import make_pool  # noqa: E402

REQUEST = re.compile(rb'"(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP/1\.1" (\d+)')
CARD_NOISE = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(endpoint: str) -> dict:
    return dict(
        os.environ,
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )


def _curate(pool: list[str], out: str, env: dict, t: int) -> float:
    command = [sys.executable, "-m", "metacurate", "curate", *pool, "--out", out]
    command += ["--t", str(t), "--workers", "2"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{out}: curate failed: {done.stderr.strip().splitlines()[-1]}")
    return time.perf_counter() - started


def _files(root: Path, named: str) -> dict[str, bytes]:
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            if path.name.startswith("datacard."):
                data = CARD_NOISE.sub(b"TIME", data).replace(named.encode(), b"OUT")
            files[str(path.relative_to(root))] = data
    return files


def _download(client, bucket: str, prefix: str, folder: Path) -> Path:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
    for page in pages:
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/"):
                target = folder / item["Key"].removeprefix(prefix + "/")
                target.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, item["Key"], str(target))
    return folder


def _requests(log: Path, since: int) -> tuple[collections.Counter, int]:
    """Requests the server logged after byte ``since`` of its log, by method; the log's end."""
    data = log.read_bytes()
    found = collections.Counter(m[1].decode() for m in REQUEST.finditer(data[since:]))
    return found, len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=250_000)
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--t", type=int, default=1_000)
    args = ap.parse_args()
    print(machine_note())
    import boto3

    work = Path(tempfile.mkdtemp(prefix="bench_store_"))
    port = _free_port()
    log = work / "server.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "wb"),  # noqa: SIM115 (the server's, closed with it)
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        client = None
        for _ in range(100):
            try:
                client = boto3.client("s3", endpoint_url=endpoint, **_keys())
                client.create_bucket(Bucket="bench")
                break
            except Exception:  # the server is still starting
                time.sleep(0.1)
        (work / "pool").mkdir()
        pool = make_pool(work / "pool", args.rows, args.files, "parquet", 0)
        env = _env(endpoint)
        _curate(pool[:1], str(work / "warm"), env, args.t)  # imports and kernels cached, untimed
        times: dict[str, list[float]] = {"local": [], "store": []}
        requests: collections.Counter = collections.Counter()
        identical = True
        for repeat in range(args.repeats):
            for kind in ("local", "store") if repeat % 2 == 0 else ("store", "local"):
                if kind == "local":
                    out = work / f"local-{repeat}"
                    times[kind].append(_curate(pool, str(out), env, args.t))
                    local = out
                    continue
                _, mark = _requests(log, 0)
                url = f"s3://bench/run-{repeat}"
                times[kind].append(_curate(pool, url, env, args.t))
                found, _ = _requests(log, mark)
                requests += found
                stored = url
            got = _download(client, "bench", stored.removeprefix("s3://bench/"), work / "got")
            same = _files(got, stored) == _files(local, str(local))
            identical &= same
            shutil.rmtree(got)
        runs = args.repeats
        print(f"pool: {args.rows:,} rows in {args.files} files; curate --t {args.t} --workers 2")
        for kind, values in times.items():
            print(f"  {kind:>5}: {median(values):7.2f} s ({spread(values)})")
        ratio = median(times["store"]) / median(times["local"])
        per = [s / loc for s, loc in zip(times["store"], times["local"], strict=True)]
        print(f"  store / local: {ratio:.2f}x (per repeat {min(per):.2f}-{max(per):.2f}x)")
        total = sum(requests.values()) / runs
        methods = ", ".join(f"{m} {n / runs:,.0f}" for m, n in sorted(requests.items()))
        print(
            f"  requests per store run: {total:,.0f} ({methods}); {total / args.files:.1f} per shard"
        )
        print(
            f"  outputs: {'IDENTICAL' if identical else 'DIFFER'} (every file, card less time/folder)"
        )
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def _keys() -> dict:
    return {
        "aws_access_key_id": "bench",
        "aws_secret_access_key": "bench",
        "region_name": "us-east-1",
    }


if __name__ == "__main__":
    main()
