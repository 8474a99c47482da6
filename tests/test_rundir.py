"""Output folders (pipeline/rundir.py, writers/): --overwrite removes only what a run recorded
and never an input, the same input however spelled resumes, and every output a user cannot
write (read-only, a file in the way, a full disk) is one line naming it, after which the same
command finishes the run."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import same_outputs
from typer.testing import CliRunner
from wiki_fixtures import write_pageviews

from metacurate.cli import app
from metacurate.errors import OutputConflict
from metacurate.metadata import Metadata
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.match import run_match

runner = CliRunner()
WORDS = [f"word{i}" for i in range(3000)] + ["dog", "cat", "red", "photo", "the"]
METADATA = Metadata(["dog", "cat", "red", "photo", "the"], "test")


def _pool(path: Path, rows: int = 2000, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, 12)) + " dog" for _ in range(rows)]
    urls = [f"https://example.com/{seed}/{i}.jpg" for i in range(rows)]
    pq.write_table(pa.table({"url": urls, "text": texts}), path, row_group_size=rows // 4)
    return str(path)


def _metadata_file(path: Path, entries: list[str]) -> str:
    path.write_text("\n".join(entries) + "\n")
    return str(path)


def _cli(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def _one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()  # a progress bar may stand before the error
    assert lines[-1].startswith("error: "), result.output
    assert "Traceback" not in result.output and sum("error" in line for line in lines) == 1
    for fragment in fragments:
        assert fragment in " ".join(result.output.split()), result.output


# --- --overwrite and the run's inputs ---------------------------------------------------------


def test_extract_into_the_folder_of_its_inputs_is_refused_and_deletes_nothing(tmp_path):
    spark = tmp_path / "spark"
    spark.mkdir()
    part = Path(_pool(spark / "part-00000.parquet"))
    before = part.read_bytes()
    for flags in ([], ["--overwrite"]):
        result = _cli("extract", part, "--out", spark, *flags)
        _one_line_error(result, "part-00000.parquet is an input of this run and one of its outputs")
    assert part.read_bytes() == before
    assert sorted(p.name for p in spark.iterdir() if not p.name.startswith(".")) == [part.name]


def test_overwrite_never_deletes_an_input_of_the_new_run(tmp_path):
    out = tmp_path / "out"
    _cli("match", _pool(tmp_path / "p.parquet"), "--out", out, "--metadata",
         _metadata_file(tmp_path / "m.txt", ["dog"]))  # fmt: skip
    matched = sorted((out / "matched").glob("part-*.parquet"))
    before = {p: p.read_bytes() for p in matched}
    other = _metadata_file(tmp_path / "other.txt", ["cat"])
    result = _cli("match", *matched, "--out", out, "--metadata", other, "--overwrite")
    _one_line_error(result, "is an input of this run")
    assert {p: p.read_bytes() for p in matched} == before
    assert (out / "match_summary.json").exists()


def test_overwrite_removes_only_the_files_the_earlier_run_wrote(tmp_path):
    out = tmp_path / "out"
    inputs = [_pool(tmp_path / "p.parquet")]
    run_match(inputs, out, METADATA, shard_rows=500)
    assert _cli("balance", out, "--t", "100").exit_code == 0
    mine = [out / "curated-t100-seed0/README.md", out / "matched/my_extra.txt"]
    for path in mine:
        path.write_text("the user's")
    (out / "curated-t5-seed9").write_text("a user's file with a name like a run's")
    old_parts = sorted((out / "curated-t100-seed0").glob("part-*"))
    assert old_parts

    summary = run_match(inputs, out, Metadata(["cat"], "other"), shard_rows=500, overwrite=True)
    assert summary["entries_matched"] == 1
    assert all(path.read_text() == "the user's" for path in mine)
    assert (out / "curated-t5-seed9").read_text().startswith("a user's file")
    assert not any(path.exists() for path in old_parts)
    assert not (out / "curated-t100-seed0/datacard.json").exists()
    assert sorted(p.name for p in (out / "curated-t100-seed0").iterdir()) == [
        ".metacurate.lock",
        "README.md",
    ]


def test_overwrite_removes_a_dependent_run_folder_it_empties(tmp_path):
    out = tmp_path / "out"
    inputs = [_pool(tmp_path / "p.parquet")]
    run_match(inputs, out, METADATA)
    assert _cli("balance", out, "--t", "100").exit_code == 0
    run_match(inputs, out, Metadata(["cat"], "other"), overwrite=True)
    assert not (out / "curated-t100-seed0").exists()


def test_overwrite_replaces_a_dependent_run_reached_through_a_link(tmp_path):
    """A curated folder that is a link to elsewhere (moved to a bigger disk) is still the
    match run's dependent: --overwrite removes its files, never the link's target folder."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    inputs = [_pool(tmp_path / "p.parquet")]
    run_match(inputs, out, METADATA)
    assert _cli("balance", out, "--t", "100").exit_code == 0
    shutil.move(out / "curated-t100-seed0", elsewhere)
    (out / "curated-t100-seed0").symlink_to(elsewhere)
    run_match(inputs, out, Metadata(["cat"], "other"), overwrite=True)
    assert elsewhere.is_dir() and list(elsewhere.iterdir()) == []  # its files gone, it stays


def test_a_run_killed_after_its_summary_drops_its_staging_when_run_again(tmp_path):
    out = tmp_path / "out"
    inputs = [_pool(tmp_path / "p.parquet")]
    run_match(inputs, out, METADATA)
    (out / "staging").mkdir()  # what a kill between the summary and dropping staging leaves
    shutil.copy(out / "matched" / "part-00000.parquet", out / "staging" / "part-00000.parquet")
    run_match(inputs, out, METADATA)
    assert not (out / "staging").exists()


def test_the_same_input_spelled_another_way_resumes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _pool(tmp_path / "p.parquet")
    first = run_match(["p.parquet"], Path("out"), METADATA)
    outputs = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and p.name[0] != "."]
    written = {p: p.stat().st_mtime_ns for p in outputs}
    for spelling in (
        "./p.parquet",
        str(tmp_path / "p.parquet"),
        "../" + tmp_path.name + "/p.parquet",
    ):
        assert run_match([spelling], Path("out"), METADATA) == first
    assert {p: p.stat().st_mtime_ns for p in written} == written


def test_a_different_run_is_still_refused_without_overwrite(tmp_path):
    inputs = [_pool(tmp_path / "p.parquet")]
    run_match(inputs, tmp_path / "out", METADATA)
    with pytest.raises(OutputConflict, match="differs in: metadata_sha256"):
        run_match(inputs, tmp_path / "out", Metadata(["cat"], "other"))


def test_a_seed_past_64_bits_is_refused_before_any_folder_is_made(tmp_path):
    result = _cli("curate", _pool(tmp_path / "p.parquet"), "--out", tmp_path / "out",
                  "--seed", 2**64)  # fmt: skip
    _one_line_error(result, "--seed must be between 0 and 2**64 - 1")
    assert not (tmp_path / "out").exists()


# --- outputs that cannot be written -----------------------------------------------------------


def test_an_out_that_is_a_file_or_under_one_is_one_line(tmp_path):
    pool = _pool(tmp_path / "p.parquet")
    (tmp_path / "file").write_text("x")
    _one_line_error(
        _cli("match", pool, "--out", tmp_path / "file"), "file: a file is in the way of the output"
    )
    _one_line_error(
        _cli("match", pool, "--out", tmp_path / "file/out"),
        "cannot create the output folder (Not a directory)",
    )


@pytest.fixture
def mount_point(tmp_path):
    """Mount a tmpfs (root only: these tests need a real read-only or full file system)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", point], check=True)
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", point], check=False)


def test_a_read_only_out_is_one_line(tmp_path, mount_point):
    read_only = mount_point("ro", "ro,size=1m")
    pool = _pool(tmp_path / "p.parquet")
    _one_line_error(
        _cli("match", pool, "--out", read_only / "out"),
        "out: cannot create the output folder (Read-only file system)",
    )
    _one_line_error(
        _cli("match", pool, "--out", read_only), "cannot write in the output folder (Read-only"
    )


def test_export_to_a_read_only_path_is_one_line(tmp_path, mount_point):
    out = tmp_path / "out"
    assert _cli("curate", _pool(tmp_path / "p.parquet"), "--out", out, "--t", "100").exit_code == 0
    read_only = mount_point("ro", "ro,size=1m")
    curated = out / "curated-t100-seed0"
    _one_line_error(
        _cli("export", curated, read_only / "x.parquet", "--to", "img2dataset"),
        "x.parquet: cannot write (Read-only file system)",
    )
    _one_line_error(
        _cli("export", curated, read_only, "--to", "webdataset-json"),
        "cannot write in the output folder (Read-only file system)",
    )


def test_a_full_disk_is_one_line_and_the_same_command_resumes(tmp_path, mount_point):
    inputs = [_pool(tmp_path / f"p{i}.parquet", rows=20_000, seed=i) for i in range(3)]
    metadata = _metadata_file(tmp_path / "m.txt", ["dog", "cat", "red", "photo", "the"])
    args = ["curate", *inputs, "--metadata", metadata, "--t", "100"]
    assert _cli(*args, "--out", tmp_path / "clean").exit_code == 0
    disk = mount_point("disk", "size=1m")
    result = _cli(*args, "--out", disk / "out")
    _one_line_error(result, "cannot write (No space left on device)", "run the same command again")
    subprocess.run(["mount", "-o", "remount,size=64m", disk], check=True)
    assert _cli(*args, "--out", disk / "out").exit_code == 0
    same_outputs(disk / "out", tmp_path / "clean")
    shutil.rmtree(disk / "out")


def test_balance_refuses_a_match_folder_that_lost_a_part(tmp_path):
    out = tmp_path / "out"
    run_match([_pool(tmp_path / "p.parquet")], out, METADATA, shard_rows=500)
    (out / "matched/part-00002.parquet").unlink()
    _one_line_error(
        _cli("balance", out, "--t", "100"),
        "matched/part-00002.parquet: listed in match_summary.json but missing",
    )
    assert not (out / "curated-t100-seed0").exists()


# --- metadata build and export: outputs that are someone's data -------------------------------


def test_metadata_build_never_writes_over_its_input_or_a_users_file(tmp_path):
    views = write_pageviews(tmp_path, "pageviews-20220101-000000.gz", ["en Red_Fox 100 0"])
    before = views.read_bytes()
    build = ["metadata", "build", "--pageviews", views, "--workers", "1"]
    _one_line_error(_cli(*build, "--out", views), "is an input of this build")
    assert views.read_bytes() == before

    mine = tmp_path / "metadata.json"
    mine.write_text('["my", "precious", "list"]')
    _one_line_error(_cli(*build, "--out", mine), "metadata.json exists and was not written by")
    assert mine.read_text() == '["my", "precious", "list"]'
    assert _cli(*build, "--out", mine, "--overwrite").exit_code == 0
    assert "Red Fox" in json.loads(mine.read_text())
    assert _cli(*build, "--out", mine).exit_code == 0  # a list it wrote: replaced, as a re-run


def test_export_never_writes_over_the_run_it_exports(tmp_path):
    out = tmp_path / "out"
    assert _cli("curate", _pool(tmp_path / "p.parquet"), "--out", out, "--t", "100").exit_code == 0
    curated = out / "curated-t100-seed0"
    files = {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")}
    pool = tmp_path / "p.parquet"
    for target in (curated / "part-00000.parquet", out / "matched/part-00000.parquet", pool):
        for flags in ([], ["--overwrite"]):
            result = _cli("export", curated, target, "--to", "img2dataset", *flags)
            _one_line_error(result, "choose another path")
    _one_line_error(
        _cli("export", curated, curated / "texts", "--to", "webdataset-json"),
        "is inside the folder it exports",
    )
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.parquet")} == files
    assert _cli("export", curated, out / "x.parquet", "--to", "img2dataset").exit_code == 0


def test_export_of_a_damaged_part_is_one_line(tmp_path):
    out = tmp_path / "out"
    assert _cli("curate", _pool(tmp_path / "p.parquet"), "--out", out, "--t", "100").exit_code == 0
    part = out / "curated-t100-seed0/part-00000.parquet"
    part.write_bytes(part.read_bytes()[:300])
    _one_line_error(
        _cli("export", part.parent, tmp_path / "x.parquet", "--to", "img2dataset"),
        "part-00000.parquet: not a readable Parquet file",
        "remove it and run the balance command again",
    )


def test_part_names_sort_in_input_order_past_99999_parts():
    from metacurate.pipeline.rundir import MATCH
    from metacurate.readers.base import Shard

    count = 123_456
    names = [
        Shard(i, "x.parquet", "parquet", of=count).name for i in (0, 99_999, 100_000, count - 1)
    ]
    assert names == sorted(names) == ["part-000000", "part-099999", "part-100000", "part-123455"]
    assert Shard(3, "x.parquet", "parquet", of=10).name == "part-00003"  # small runs as before
    # The run record says how many shards (metacurate 0.3 listed them: still replaced).
    for config in ({"shards": count}, {"shards": [["x", None]] * count}):
        for name in (
            "matched/part-123455.parquet",
            "staging/part-100000.ids.npy",
            "staging/dups-00007.json",
        ):
            assert MATCH.owner(config)(name), name
        for name in (
            "matched/part-123456.parquet",
            "matched/part-00003.parquet",
            "staging/notes.txt",
        ):
            assert not MATCH.owner(config)(name), name


def test_a_folder_of_another_metacurate_version_is_not_resumed(tmp_path, dog_cat_metadata):
    """Staging files change format between versions: an interrupted run of another version is
    refused (or replaced with --overwrite), never resumed with files it cannot read."""
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"url": ["u1", "u2"], "text": ["a dog", "a cat"]}), pool)
    run_match([str(pool)], tmp_path / "out", dog_cat_metadata)
    manifest = tmp_path / "out" / "match_run.json"
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**record, "metacurate_version": "0.0.9"}))
    with pytest.raises(OutputConflict, match="differs in: metacurate_version"):
        run_match([str(pool)], tmp_path / "out", dog_cat_metadata)
    summary = run_match([str(pool)], tmp_path / "out", dog_cat_metadata, overwrite=True)
    assert summary["rows_written"] == 2


def test_a_folder_of_metacurate_0_3_is_replaced_with_overwrite(tmp_path, dog_cat_metadata):
    """0.3 run records listed every shard and every balanced part (0.4 counts them): such a
    folder is refused, and ``--overwrite`` still removes exactly the files that run wrote."""
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"url": ["u1", "u2"], "text": ["a dog", "a cat"]}), pool)
    out = tmp_path / "out"
    run_match([str(pool)], out, dog_cat_metadata)
    card = run_balance(out, t=1)
    curated = Path(card["outputs"]["folder"])
    match_record, balance_record = out / "match_run.json", curated / "balance_run.json"
    record = json.loads(match_record.read_text())
    del record["plan_sha256"]
    record.update(metacurate_version="0.3.0", shards=[[str(pool), [0]]])
    match_record.write_text(json.dumps(record))
    record = json.loads(balance_record.read_text())
    del record["shards"], record["parts_sha256"]
    record.update(metacurate_version="0.3.0", parts=card["outputs"]["parquet"])
    balance_record.write_text(json.dumps(record))
    (curated / "notes.txt").write_text("the user's")
    with pytest.raises(OutputConflict, match="differs in: metacurate_version, plan_sha256, shards"):
        run_match([str(pool)], out, dog_cat_metadata)
    run_match([str(pool)], out, dog_cat_metadata, overwrite=True)
    left = sorted(p.name for p in curated.iterdir() if p.name != ".metacurate.lock")
    assert left == ["notes.txt"]  # the balance run's files are gone, the user's file stays
    assert sorted(p.name for p in (out / "matched").iterdir()) == [
        "part-00000.json",
        "part-00000.parquet",
    ]
