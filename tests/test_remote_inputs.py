"""Inputs from anywhere: brace ranges, globs and .paths listings; ``s3://`` through a real S3 API
server (moto) and ``http://`` through a range-capable HTTP server, both on 127.0.0.1 (fixtures in
conftest.py). A remote run gives the same parts, counts and summary as the same files read
locally; a dropped connection is retried; a file that keeps failing is a counted reject and the
run goes on; a missing object, a bad credential or an unreachable host is a one-line error."""

import gzip
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from helpers import read_tables
from typer.testing import CliRunner

from metacurate.cli import app
from metacurate.errors import InputError
from metacurate.metadata import Metadata
from metacurate.pipeline.match import run_match
from metacurate.pipeline.rundir import COUNTS, MATCHED
from metacurate.readers import plan_shards, sources
from metacurate.readers.expand import expand_braces, expand_inputs
from metacurate.readers.sources import input_identity

ENTRIES = ["dog", "cat", "red", "the", "a", "of", "photo", "logo"]
METADATA = Metadata(ENTRIES, "test")
WORDS = ["dog", "cat", "red", "the", "a", "of", "photo", "black", "zzz"]
WARCS = [
    "allenai-dolma__sample-0000.warc.gz",
    "resiliparse__warcfile.warc.gz",
    "resiliparse__clipped.warc.gz",  # a cut gzip member: the damage check re-reads the file
    "ccwhirlwind__whirlwind.warc.wat.gz",
]
TABLES = ["pool.parquet", "pool.jsonl.gz", "pool.csv", "shard.tar"]
NAMES = TABLES + WARCS


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """Retries as many, with pauses short enough for a test."""
    monkeypatch.setattr(sources, "RETRY_BACKOFF_S", (0.01, 0.01, 0.01))


def _texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(1, 6))) for _ in range(n)]


def _write_inputs(folder: Path, warc_dir: Path) -> Path:
    """One small file of every input format, and real web archives, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    urls = [f"https://example.com/{i}.jpg" for i in range(3000)]
    # A random column makes the file larger than the footer read (64 KiB): a fault in its first
    # row groups is met while reading rows, not while planning.
    rng = np.random.default_rng(9)
    ids = [rng.bytes(24).hex() for _ in range(3000)]
    table = pa.table({"url": urls, "text": _texts(3000, 0), "id": ids})
    pq.write_table(table, folder / "pool.parquet", row_group_size=500)
    with gzip.open(folder / "pool.jsonl.gz", "wt", encoding="utf-8") as f:
        for i, text in enumerate(_texts(5000, 1)):
            row = {"url": f"https://example.org/{i}.png", "text": text, "id": rng.bytes(24).hex()}
            f.write(json.dumps(row) + "\n")
    pacsv.write_csv(pa.table({"url": urls[:500], "text": _texts(500, 2)}), folder / "pool.csv")
    with tarfile.open(folder / "shard.tar", "w") as tar:
        for i, text in enumerate(_texts(300, 3)):
            _add_member(tar, f"{i:05d}.jpg", b"\xff\xd8 not really an image " * 20)
            _add_member(tar, f"{i:05d}.txt", text.encode())
            _add_member(tar, f"{i:05d}.json", json.dumps({"url": f"https://x.net/{i}"}).encode())
    for name in WARCS:
        shutil.copy(warc_dir / name, folder / name)
    return folder


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, __import__("io").BytesIO(data))


def _parts(folder: Path) -> dict[str, pa.Table]:
    """The output parts by name (their columns differ with the input's format)."""
    return {p.name: pq.read_table(p) for p in sorted(folder.glob("part-*.parquet"))}


def _match(inputs: list[str], out: Path) -> tuple[dict, dict[str, pa.Table], bytes]:
    summary = run_match(inputs, out, METADATA, lang="none", shard_rows=1000)
    return summary, _parts(out / MATCHED), (out / COUNTS).read_bytes()


def _same_run(remote: tuple, local: tuple, remote_prefix: str, local_prefix: str) -> None:
    """Equal parts and counts, and equal summaries once the remote inputs' prefix is the local
    folder's (rejects name their file and offset)."""
    summary = json.loads(json.dumps(remote[0]).replace(remote_prefix, local_prefix))
    assert summary == local[0]
    assert remote[1].keys() == local[1].keys()
    for name, table in local[1].items():
        assert remote[1][name].equals(table), name
    assert remote[2] == local[2]


def _one_line_error(message: str, *words: str) -> None:
    assert "\n" not in message
    for word in words:
        assert word in message


# --- object storage and HTTP give the local run ---------------------------------------------


def test_s3_inputs_give_the_same_run_as_local(tmp_path, s3_bucket, warc_dir):
    local = _write_inputs(tmp_path / "in", warc_dir)
    urls = [s3_bucket.put(local / name, f"pool/{name}") for name in NAMES]
    want = _match([str(local / name) for name in NAMES], tmp_path / "local")
    got = _match(urls, tmp_path / "remote")
    assert got[0]["rows_read"] > 5000 and got[0]["rejected"]["corrupt_gzip"] == 1
    _same_run(got, want, f"s3://{s3_bucket.name}/pool/", f"{local}/")
    # The manifest knows a remote input by its URL, size and version.
    identity = input_identity(urls[0])
    assert identity["path"] == urls[0] and identity["bytes"] == (local / NAMES[0]).stat().st_size
    assert "mtime_ns" in identity


def test_http_inputs_give_the_same_run_as_local(tmp_path, http_server, warc_dir):
    local = _write_inputs(tmp_path / "in", warc_dir)
    _write_inputs(http_server.root, warc_dir)
    want = _match([str(local / name) for name in NAMES], tmp_path / "local")
    got = _match([http_server.url + name for name in NAMES], tmp_path / "remote")
    _same_run(got, want, http_server.url, f"{local}/")
    identity = input_identity(http_server.url + "pool.csv")
    assert identity["bytes"] == (local / "pool.csv").stat().st_size and "etag" in identity


def test_a_server_without_byte_ranges_is_read_as_a_stream(tmp_path, http_server, warc_dir):
    """Many HTTP servers ignore Range headers: every format still reads the same rows (a
    Parquet file from the start too), and a connection dropped mid-file starts it again."""
    http_server.ranges = False
    local = _write_inputs(tmp_path / "in", warc_dir)
    _write_inputs(http_server.root, warc_dir)
    http_server.fail(NAMES[0], 3000)
    want = _match([str(local / name) for name in NAMES], tmp_path / "local")
    got = _match([http_server.url + name for name in NAMES], tmp_path / "remote")
    _same_run(got, want, http_server.url, f"{local}/")


def test_local_identity_is_what_earlier_runs_recorded(tmp_path):
    """Run folders made before URLs were read must still resume: same keys, same values."""
    path = tmp_path / "a.csv"
    path.write_text("text\nx\n")
    stat = path.stat()
    want = {"path": str(path.resolve()), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    assert json.dumps(input_identity(str(path))) == json.dumps(want)


def test_paths_listing_with_a_base_through_the_cli(tmp_path, http_server, warc_dir):
    local = _write_inputs(tmp_path / "in", warc_dir)
    _write_inputs(http_server.root / "crawl-data" / "CC-TEST", warc_dir)
    lines = "".join(f"crawl-data/CC-TEST/{name}\n\n" for name in WARCS + TABLES)
    (http_server.root / "wat.paths.gz").write_bytes(gzip.compress(lines.encode()))
    (tmp_path / "metadata.json").write_text(json.dumps(ENTRIES))
    args = ["match", http_server.url + "wat.paths.gz", "--out", str(tmp_path / "remote")]
    args += ["--paths-base", http_server.url, "--metadata", str(tmp_path / "metadata.json")]
    result = CliRunner().invoke(app, [*args, "--lang", "none", "--workers", "2"])
    assert result.exit_code == 0, result.output
    want = run_match(
        [str(local / n) for n in WARCS + TABLES], tmp_path / "local", METADATA, lang="none"
    )
    got, want_parts = _parts(tmp_path / "remote" / MATCHED), _parts(tmp_path / "local" / MATCHED)
    assert got.keys() == want_parts.keys()
    assert all(got[name].equals(table) for name, table in want_parts.items())
    assert (
        json.loads((tmp_path / "remote" / "match_summary.json").read_text())["rows_read"]
        == want["rows_read"]
    )


def test_brace_range_of_s3_urls_with_forked_workers(tmp_path, s3_bucket):
    """Worker processes forked after the driver planned over S3 read through their own
    filesystem objects."""
    for i in range(3):
        path = tmp_path / f"part-{i}.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in _texts(200, i)))
        s3_bucket.put(path, f"texts/part-{i:03d}.jsonl")
    (tmp_path / "metadata.json").write_text(json.dumps(ENTRIES))
    spec = f"s3://{s3_bucket.name}/texts/part-{{000..002}}.jsonl"
    args = ["match", spec, "--out", str(tmp_path / "out"), "--workers", "2"]
    result = CliRunner().invoke(app, [*args, "--metadata", str(tmp_path / "metadata.json")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "match_summary.json").read_text())
    assert summary["rows_read"] == 600 and summary["shards"] == 3


# --- failures ----------------------------------------------------------------------------------


def test_dropped_connection_is_retried_and_the_output_is_unchanged(
    tmp_path, http_server, warc_dir, monkeypatch
):
    monkeypatch.setattr(sources, "REMOTE_BUFFER_BYTES", 16 << 10)  # many requests per file
    local = _write_inputs(tmp_path / "in", warc_dir)
    _write_inputs(http_server.root, warc_dir)
    for name in NAMES:  # each file's connection drops once, in the middle
        http_server.fail(name, (local / name).stat().st_size // 2)
    want = _match([str(local / name) for name in NAMES], tmp_path / "local")
    got = _match([http_server.url + name for name in NAMES], tmp_path / "remote")
    _same_run(got, want, http_server.url, f"{local}/")
    name = "allenai-dolma__sample-0000.warc.gz"
    ranges = [r for n, r in http_server.requests if n == name]
    retried = [r for r in set(ranges) if ranges.count(r) > 1 and not r.startswith("0-")]
    assert retried, ranges  # the same range again, from the offset where it stopped


@pytest.mark.parametrize("name", [*TABLES, "allenai-dolma__sample-0000.warc.gz"])
def test_file_that_keeps_failing_keeps_the_rows_read_before_it(
    tmp_path, http_server, warc_dir, monkeypatch, name
):
    monkeypatch.setattr(sources, "REMOTE_BUFFER_BYTES", 4 << 10)
    local = _write_inputs(tmp_path / "in", warc_dir)
    _write_inputs(http_server.root, warc_dir)
    size = (local / name).stat().st_size
    want, _ = read_tables(local / name)
    # Parquet reads its last 64 KiB (the footer) when planning; gzip reads 128 KiB at a time.
    offset = size // 3 if name == "pool.parquet" else size * 9 // 10
    http_server.fail(name, offset, times=float("inf"))
    url = http_server.url + name
    got, rejects = read_tables(url)
    assert rejects.by_reason["input_read_failed"] == 1
    (example,) = [e for e in rejects.examples if "input_read_failed" in e]
    assert example.startswith(f"{url}:") and "tried 4 times" in example
    want = pa.concat_tables(want)
    got = pa.concat_tables(got) if got else want.slice(0, 0)
    assert got.equals(want.slice(0, len(got)))  # what was read is kept, nothing else
    if name in ("pool.jsonl.gz", "allenai-dolma__sample-0000.warc.gz", "shard.tar"):
        assert 0 < len(got) < len(want)  # batched readers keep the rows they held


def test_run_with_a_failing_file_completes_and_counts_it(tmp_path, http_server, warc_dir):
    _write_inputs(http_server.root, warc_dir)
    bad = "resiliparse__warcfile.warc.gz"
    http_server.fail(bad, 0, times=float("inf"))
    inputs = [http_server.url + name for name in ("pool.parquet", bad, "pool.csv")]
    summary = run_match(inputs, tmp_path / "out", METADATA, lang="none")
    assert summary["rejected"] == {"input_read_failed": 1}
    assert any(e.startswith(f"{http_server.url}{bad}:0") for e in summary["reject_examples"])
    assert summary["rows_read"] == 3000 + 500


def test_missing_object_is_a_one_line_error(tmp_path, s3_bucket, http_server):
    for url in (
        f"s3://{s3_bucket.name}/no/such.parquet",
        f"{http_server.url}no/such.warc.gz",
    ):
        with pytest.raises(InputError) as err:
            plan_shards([url])
        assert str(err.value) == f"{url}: file not found"
    result = CliRunner().invoke(
        app, ["match", f"s3://{s3_bucket.name}/gone.jsonl", "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    _one_line_error(result.output.strip(), "gone.jsonl: file not found")


def test_unreachable_host_is_a_one_line_error():
    url = "http://127.0.0.1:9/pool.parquet"  # the discard port: nothing listens
    with pytest.raises(InputError) as err:
        plan_shards([url])
    _one_line_error(str(err.value), url, "tried 4 times")


def test_bad_credentials_are_a_one_line_error(monkeypatch, s3_auth):
    key_id, secret, url = s3_auth
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    assert read_tables(url)[0][0]["text"].to_pylist() == ["a red dog"]  # the right key reads
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(InputError) as err:
        plan_shards([url])
    _one_line_error(str(err.value), url, "access denied", "AWS_SECRET_ACCESS_KEY")


# --- what the user typed -> the files --------------------------------------------------------


def test_numeric_ranges_keep_their_zero_padding():
    assert expand_braces("pool/{00000..00003}.parquet") == [
        f"pool/{i:05d}.parquet" for i in range(4)
    ]
    assert expand_braces("{8..11}") == ["8", "9", "10", "11"]
    assert expand_braces("{3..1}") == ["3", "2", "1"]
    assert expand_braces("{0..10..5}") == ["0", "5", "10"]
    assert expand_braces("{a..c}") == ["a", "b", "c"]


def test_alternatives_nested_and_adjacent_braces_expand_in_order():
    assert expand_braces("x/{a,b}.tar") == ["x/a.tar", "x/b.tar"]
    assert expand_braces("{a,{b,c}d}") == ["a", "bd", "cd"]
    assert expand_braces("{a,b}{1..2}") == ["a1", "a2", "b1", "b2"]
    assert expand_braces("s3://b/{x,y}/{000..001}.warc.gz") == [
        "s3://b/x/000.warc.gz",
        "s3://b/x/001.warc.gz",
        "s3://b/y/000.warc.gz",
        "s3://b/y/001.warc.gz",
    ]
    assert expand_braces("{,a}b") == ["b", "ab"]


def test_braces_that_expand_to_nothing_stay_as_written():
    for literal in ("{x}", "{}", "a{b", "a}b", "{1..}", "plain.parquet"):
        assert expand_braces(literal) == [literal]
    assert expand_braces("{x{a,b}}") == ["{xa}", "{xb}"]


def test_globs_are_sorted_and_one_that_matches_nothing_is_an_error(tmp_path, monkeypatch):
    for name in ("b.parquet", "a.parquet", "c.csv", "a{1,2}.csv"):
        (tmp_path / name).write_text("")
    monkeypatch.chdir(tmp_path)
    assert expand_inputs(["*.parquet", "c.csv"]) == ["a.parquet", "b.parquet", "c.csv"]
    assert expand_inputs(["{b,a}.parquet"]) == ["b.parquet", "a.parquet"]  # order as written
    assert expand_inputs(["a{1,2}.csv"]) == ["a{1,2}.csv"]  # a file of that name is that file
    assert expand_inputs(["missing.parquet"]) == ["missing.parquet"]  # planning reports it
    with pytest.raises(InputError) as err:
        expand_inputs(["*.jsonl"])
    assert str(err.value) == "*.jsonl: no file matches this pattern"
    with pytest.raises(InputError, match="wildcards are not expanded in URLs"):
        expand_inputs(["s3://bucket/*.parquet"])


def test_paths_listings_plain_and_gzip(tmp_path):
    lines = "crawl-data/a.wat.gz\n\n  crawl-data/b.wat.gz  \ns3://other/c.wat.gz\n/abs/d.wat.gz\n"
    (tmp_path / "x.paths").write_text(lines)
    (tmp_path / "y.paths.gz").write_bytes(gzip.compress(lines.encode()))
    want = [
        "https://data.commoncrawl.org/crawl-data/a.wat.gz",
        "https://data.commoncrawl.org/crawl-data/b.wat.gz",
        "s3://other/c.wat.gz",
        "/abs/d.wat.gz",
    ]
    assert expand_inputs([str(tmp_path / "x.paths")]) == want
    assert expand_inputs([str(tmp_path / "y.paths.gz")]) == want
    based = expand_inputs([str(tmp_path / "x.paths")], paths_base="s3://commoncrawl")
    assert based[:2] == [
        "s3://commoncrawl/crawl-data/a.wat.gz",
        "s3://commoncrawl/crawl-data/b.wat.gz",
    ]
    local = expand_inputs([str(tmp_path / "x.paths")], paths_base=str(tmp_path))
    assert local[0] == str(tmp_path / "crawl-data" / "a.wat.gz")
    (tmp_path / "empty.paths").write_text("\n\n")
    with pytest.raises(InputError, match="names no file"):
        expand_inputs([str(tmp_path / "empty.paths")])
    with pytest.raises(InputError, match="file not found"):
        expand_inputs([str(tmp_path / "gone.paths")])


def test_a_gzipped_listing_at_a_url_with_a_query_is_read(http_server):
    """A presigned listing URL ends in its query, not in .gz: its name decides."""
    (http_server.root / "WAT.PATHS.GZ").write_bytes(gzip.compress(b"crawl-data/a.wat.gz\n"))
    url = http_server.url + "WAT.PATHS.GZ?X-Amz-Signature=abc"
    assert expand_inputs([url]) == ["https://data.commoncrawl.org/crawl-data/a.wat.gz"]
