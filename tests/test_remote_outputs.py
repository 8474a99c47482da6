"""Run folders on an object store (issue 10), through a real S3 API server on 127.0.0.1 (moto's,
see conftest.py) configured the standard way (``AWS_ENDPOINT_URL`` and the keys).

The same commands as for a local folder give the same bytes; a killed run resumes from the
markers (a part without its marker is redone); one run at a time holds a prefix, through a lease
object, since an object store has no locks; and a failure is one line naming the URL.
"""

import json
import shutil
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import run_outputs, same_as_local, same_outputs
from test_faults import CURATE, Run, _command, _run, _write_pool
from typer.testing import CliRunner

from metacurate.cli import app
from metacurate.pipeline import dedup
from metacurate.writers import lease
from metacurate.writers.lock import LOCK

runner = CliRunner()


@pytest.fixture(scope="module")
def small_pool(tmp_path_factory) -> list[str]:
    """Three files of the bundled pool's texts; the third repeats pairs of the first, so
    de-duplication has work across files."""
    from importlib import resources

    with resources.as_file(resources.files("metacurate") / "data" / "sample_pool.parquet") as p:
        table = pq.read_table(p)
    folder = tmp_path_factory.mktemp("small_pool")
    slices = [table.slice(0, 6000), table.slice(6000, 6000), table.slice(2000, 6000)]
    paths = []
    for number, part in enumerate(slices):
        paths.append(str(folder / f"pool-{number}.parquet"))
        pq.write_table(part, paths[-1])
    return paths


def _invoke(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_curate_and_balance_into_a_bucket_give_the_bytes_of_a_local_run(
    s3_bucket, small_pool, tmp_path, monkeypatch
):
    # Several blocks and buckets, so every shuffle file is written to and read from the store.
    monkeypatch.setattr(dedup, "IDS_PER_BLOCK", 2500)
    monkeypatch.setattr(dedup, "IDS_PER_BUCKET", 4000)
    url, local = f"s3://{s3_bucket.name}/runs/a", tmp_path / "local"
    for out in (url, str(local)):
        _invoke(["curate", *small_pool, "--out", out, "--t", "10", "--workers", "2"])
        _invoke(["balance", out, "--t", "5"])
    summary = json.loads((local / "match_summary.json").read_text())
    assert summary["dedup"]["blocks"] > 1 and summary["dedup"]["buckets"] > 1
    assert summary["rows_duplicate"] > 0
    keys = s3_bucket.keys("runs/a/")
    assert not [k for k in keys if "/staging/" in k or k.endswith(LOCK)], keys
    got = s3_bucket.download("runs/a", tmp_path / "got")
    same_outputs(got, local, named=url)
    visible = lambda folder: sorted(p.name for p in folder.iterdir() if p.name[0] != ".")  # noqa: E731
    assert visible(got) == visible(local)  # the summaries too
    # export reads a curated folder in a bucket as it reads a local one
    for curated, target in (
        (f"{url}/curated-t5-seed0", "got.parquet"),
        (local / "curated-t5-seed0", "want.parquet"),
    ):
        _invoke(["export", str(curated), "--to", "img2dataset", str(tmp_path / target)])
    assert (tmp_path / "got.parquet").read_bytes() == (tmp_path / "want.parquet").read_bytes()


def test_a_run_in_a_bucket_resumes_and_refuses_a_different_run(s3_bucket, small_pool, tmp_path):
    url = f"s3://{s3_bucket.name}/run"
    args = ["curate", *small_pool, "--out", url, "--t", "10"]
    _invoke(args)
    first = s3_bucket.download("run", tmp_path / "first")
    # What a run killed while publishing leaves: the summary gone, a part uploaded whole but
    # its marker never written, and a curated part that never finished.
    client, name = s3_bucket.client, s3_bucket.name
    client.delete_object(Bucket=name, Key="run/match_summary.json")
    client.delete_object(Bucket=name, Key="run/curated-t10-seed0/datacard.json")
    client.delete_object(Bucket=name, Key="run/curated-t10-seed0/part-00000.json")
    client.put_object(Bucket=name, Key="run/curated-t10-seed0/part-00000.parquet", Body=b"cut")
    _invoke(args)
    assert run_outputs(s3_bucket.download("run", tmp_path / "again"), url) == run_outputs(
        first, url
    )
    # Another run into the same prefix is refused, and the first one's files are untouched.
    result = runner.invoke(app, ["curate", small_pool[0], "--out", url, "--t", "10"])
    assert result.exit_code == 2 and "holds a different run" in result.output, result.output
    assert f"{url} holds" in result.output
    assert run_outputs(s3_bucket.download("run", tmp_path / "after"), url) == run_outputs(
        first, url
    )


def test_a_run_at_the_root_of_a_bucket(s3_bucket, small_pool, tmp_path):
    """No prefix: the run's folder is the bucket itself; staging is dropped, and export still
    refuses to write over the match run's input."""
    url, pool = f"s3://{s3_bucket.name}", tmp_path / "in.parquet"
    shutil.copy(small_pool[0], pool)
    _invoke(["curate", str(pool), "--out", url, "--t", "10"])
    assert not [k for k in s3_bucket.keys("") if k.startswith("staging/")]
    curated = f"{url}/curated-t10-seed0"
    over_input = ["export", curated, "--to", "img2dataset", str(pool), "--overwrite"]
    result = runner.invoke(app, over_input)
    assert result.exit_code == 2 and "is an input or output of the run" in result.output
    _invoke(["curate", str(pool), "--out", str(tmp_path / "local"), "--t", "10"])
    got, want = tmp_path / "got.parquet", tmp_path / "want.parquet"
    _invoke(["export", curated, "--to", "img2dataset", str(got)])
    _invoke(["export", str(tmp_path / "local/curated-t10-seed0"), "--to", "img2dataset", str(want)])
    assert got.read_bytes() == want.read_bytes()


def test_an_input_inside_the_output_prefix_is_protected_however_spelled(s3_bucket, small_pool):
    url = f"s3://{s3_bucket.name}/out"
    _invoke(["match", small_pool[0], "--out", url])
    before = s3_bucket.keys("out/")
    part = f"S3://{s3_bucket.name}/out/matched/part-00000.parquet"  # the scheme in capitals
    result = runner.invoke(app, ["match", part, "--out", url + "/", "--overwrite"])
    assert result.exit_code == 2 and "is an input of this run and one of its outputs" in (
        result.output
    ), result.output
    assert s3_bucket.keys("out/") == before


def test_overwrite_in_a_bucket_replaces_only_what_the_earlier_run_wrote(
    s3_bucket, small_pool, tmp_path
):
    url = f"s3://{s3_bucket.name}/run"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key="run/notes.txt", Body=b"mine")
    _invoke(["curate", *small_pool, "--out", url, "--t", "10"])
    _invoke(["curate", small_pool[1], "--out", url, "--t", "10", "--overwrite"])
    _invoke(["curate", small_pool[1], "--out", str(tmp_path / "local"), "--t", "10"])
    got = s3_bucket.download("run", tmp_path / "got")
    assert (got / "notes.txt").read_bytes() == b"mine"
    (got / "notes.txt").unlink()
    same_outputs(got, tmp_path / "local", named=url)


def _lease(bucket, key: str, host: str, pid: int) -> None:
    holder = f"pid {pid} on {host} since then: metacurate curate"
    lease = {"holder": holder, "host": host, "pid": pid, "token": "theirs"}
    bucket.client.put_object(Bucket=bucket.name, Key=key, Body=json.dumps(lease).encode())


def test_a_prefix_held_by_a_live_lease_is_refused_and_a_lapsed_one_taken_over(
    s3_bucket, small_pool, monkeypatch
):
    monkeypatch.setattr(lease, "LEASE_S", 3.0)
    url = f"s3://{s3_bucket.name}/run"
    args = ["match", small_pool[0], "--out", url]
    _lease(s3_bucket, f"run/{LOCK}", "elsewhere", 123)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "is in use by another metacurate run (pid 123 on elsewhere" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert s3_bucket.keys("run/") == [f"run/{LOCK}"]  # nothing written
    time.sleep(lease.LEASE_S + 1)  # not renewed: by the store's clock, a killed run's lease
    _invoke(args)
    assert f"run/{LOCK}" not in s3_bucket.keys("run/")  # and the run's own goes with it


def test_a_local_lock_file_copied_up_is_not_a_lease_forever(s3_bucket, small_pool, monkeypatch):
    monkeypatch.setattr(lease, "LEASE_S", 3.0)
    body = b"pid 7 on laptop since 2026-11-29 10:00:00: metacurate curate\n"
    s3_bucket.client.put_object(Bucket=s3_bucket.name, Key=f"run/{LOCK}", Body=body)
    result = runner.invoke(app, ["match", small_pool[0], "--out", f"s3://{s3_bucket.name}/run"])
    assert result.exit_code == 2 and "is not a metacurate lease" in result.output, result.output
    time.sleep(lease.LEASE_S + 1)
    _invoke(["match", small_pool[0], "--out", f"s3://{s3_bucket.name}/run"])


@pytest.fixture(scope="module")
def pool(tmp_path_factory) -> list[str]:
    return _write_pool(tmp_path_factory.mktemp("remote_faults") / "pool")


@pytest.fixture(scope="module")
def clean(pool, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "out"
    _run([*CURATE, *pool, "--out", str(out)])
    return out


def test_a_killed_driver_writing_to_a_bucket_resumes_byte_identical(
    s3_bucket, pool, clean, tmp_path
):
    """SIGKILL leaves the lease behind: its holder, on this host, is gone, so the same command
    takes it over at once and finishes the run."""
    url = f"s3://{s3_bucket.name}/run"
    args = [*CURATE, *pool, "--out", url]
    run = Run(args, tmp_path / "log")
    run.wait_for_workers()
    run.process.kill()
    run.process.wait()
    run.no_process_left()
    assert f"run/{LOCK}" in s3_bucket.keys("run/")
    _run(args)
    same_outputs(s3_bucket.download("run", tmp_path / "got"), clean, named=url)


def test_a_second_run_into_a_bucket_prefix_is_refused_while_the_first_goes_on(
    s3_bucket, pool, clean, tmp_path
):
    url = f"s3://{s3_bucket.name}/run"
    args = [*CURATE, *pool, "--out", url]
    first = Run(args, tmp_path / "first.log")
    first.wait_for_workers()
    second = subprocess.run(_command(args), capture_output=True, text=True, timeout=60)
    assert second.returncode == 2, second.stderr
    assert "Traceback" not in second.stderr
    assert f"is in use by another metacurate run (pid {first.process.pid} on" in second.stderr
    assert first.process.wait(timeout=120) == 0, first.stderr
    same_outputs(s3_bucket.download("run", tmp_path / "got"), clean, named=url)


def test_a_missing_bucket_or_a_wrong_key_is_one_line(s3_auth, small_pool, monkeypatch):
    key_id, secret, object_url = s3_auth
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    result = runner.invoke(app, ["match", small_pool[0], "--out", "s3://no-such-bucket-x/run"])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: s3://no-such-bucket-x/run"), result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    url = object_url.rpartition("/")[0] + "/run"
    result = runner.invoke(app, ["match", small_pool[0], "--out", url])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {url}") and "access denied" in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


def test_a_ray_run_into_a_bucket_gives_the_bytes_of_a_local_run(s3_bucket, small_pool, tmp_path):
    pytest.importorskip("ray")
    url, local = f"s3://{s3_bucket.name}/ray", tmp_path / "local"
    _run(["curate", *small_pool, "--out", url, "--t", "10", "--engine", "ray", "--workers", "2"])
    _run(["curate", *small_pool, "--out", str(local), "--t", "10", "--workers", "2"])
    same_as_local(s3_bucket.download("ray", tmp_path / "got"), local, named=url)
    table = pq.read_table(tmp_path / "got" / "curated-t10-seed0" / "part-00000.parquet")
    assert isinstance(table, pa.Table) and len(table) > 0


# The command, with the lease renewed every 0.2 s so that a takeover is seen at once.
QUICK_RENEWAL = (
    "import sys; import metacurate.writers.lease as lease; lease.RENEW_S = 0.2;"
    " from metacurate.__main__ import main; sys.argv[0] = 'metacurate'; main()"
)


def test_a_run_whose_lease_is_taken_over_stops_in_one_line(s3_bucket, pool, tmp_path):
    """A run that was paused past its lease (a laptop asleep, a stalled store) finds another
    run holding the prefix: it stops at once, with one line, and leaves the other's lease."""
    url = f"s3://{s3_bucket.name}/run"
    with open(tmp_path / "log", "w") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-c", QUICK_RENEWAL, *CURATE, "--workers", "1", *pool, "--out", url],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 60
    while not [k for k in s3_bucket.keys("run/staging/") if k.endswith(".json")]:
        assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text()
        time.sleep(0.05)
    # The taker renews its lease as a run does: a renewal of ours that read our token just
    # before the takeover may write over it once, and the taker's next write then stands.
    taken = time.monotonic()
    while run.poll() is None and time.monotonic() - taken < 10:
        _lease(s3_bucket, f"run/{LOCK}", "elsewhere", 123)
        time.sleep(0.05)
    assert run.wait(timeout=30) == 2, (tmp_path / "log").read_text()
    assert time.monotonic() - taken < 10
    log = (tmp_path / "log").read_text()
    assert "Traceback" not in log, log
    last = log.strip().splitlines()[-1]
    taker = "pid 123 on elsewhere since then: metacurate curate"
    assert last == f"error: {url}: another run took this folder over ({taker}); stopped", last
    held = s3_bucket.client.get_object(Bucket=s3_bucket.name, Key=f"run/{LOCK}")
    assert json.loads(held["Body"].read())["token"] == "theirs"
