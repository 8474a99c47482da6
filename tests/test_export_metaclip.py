"""export --to metaclip: img2dataset shards of an exported pool -> MetaCLIP's training layout,
read back the way MetaCLIP's loader (facebookresearch/MetaCLIP src/training/data_metaclip.py)
reads it."""

import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_faults import Run
from typer.testing import CliRunner

from metacurate.cli import app
from metacurate.metadata import Metadata
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.export import run_export
from metacurate.pipeline.match import run_match

META = Metadata(["dog", "cat", "red", "photo", "black dog"], "test")
WORDS = ["dog", "cat", "red", "photo", "black", "a", "of", "zzz"]
SHARDS = 3
T = 3


def _pool(images: int) -> pa.Table:
    rows = [
        (i, f"{WORDS[(i + k) % 7]} {WORDS[(i * 3 + k) % 8]} no {k}")
        for i in range(images)
        for k in range(3)
    ]
    return pa.table(
        {
            "url": [f"https://img.test/{i}.jpg" for i, _ in rows],
            "alt": [text for _, text in rows],
            "source": ["json:texts:alt" if k % 2 else "html:img" for k in range(len(rows))],
        }
    )


def _download(export: pa.Table, shards_dir, broken_every: int = 0) -> dict[str, bytes]:
    """img2dataset's WebDataset shards of an exported Parquet file, as its ``--save_additional_
    columns`` writes them (key.jpg, key.json, key.txt; keys not sorted); image bytes by uuid."""
    shards_dir.mkdir()
    rows = export.to_pylist()
    images = {}
    for shard in range(SHARDS):
        with tarfile.open(shards_dir / f"{shard:05d}.tar", "w") as tar:
            for n, row in enumerate(rows[shard::SHARDS][::-1]):
                key = f"{shard:05d}{n:04d}"
                picture = os.urandom(200 + n)
                meta = {**row, "key": key, "status": "success", "error_message": None}
                extension = "webp" if broken_every and n % broken_every == 1 else "jpg"
                if extension == "jpg":
                    images[row["uuid"]] = picture
                for name, data in (
                    (f"{key}.{extension}", picture),
                    (f"{key}.json", json.dumps(meta).encode()),
                    (f"{key}.txt", row["caption"].encode()),
                ):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return images


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """A match run, its pool exported for img2dataset and 'downloaded' into 3 shards."""
    root = tmp_path_factory.mktemp("metaclip")
    pq.write_table(_pool(60), root / "pool.parquet", row_group_size=50)
    run = root / "run"
    run_match([str(root / "pool.parquet")], run, META, text_column="alt", shard_rows=50)
    run_export(run, "img2dataset", root / "pool-export.parquet")
    images = _download(pq.read_table(root / "pool-export.parquet"), root / "shards", broken_every=7)
    return run, root / "shards", images


def _convert(args: list[str]):
    return CliRunner().invoke(app, ["export", *args])


def metaclip_samples(tar_path) -> list[tuple[str, dict, bytes]]:
    """(uuid, text json, image) as MetaCLIP's loader pairs them: walking the members in order,
    a ``.json`` then a ``.jpeg`` of the same uuid make one sample."""
    samples = []
    json_uuid = img_uuid = None
    with tarfile.open(tar_path) as tar:
        for member in tar.getmembers():
            if member.name.endswith(".json"):
                json_uuid = member.name[: -len(".json")].removeprefix("./")
                text_json = json.load(tar.extractfile(member))
            if member.name.endswith(".jpeg"):
                img_uuid = member.name[: -len(".jpeg")].removeprefix("./")
                img = tar.extractfile(member).read()
            if img_uuid != json_uuid or img_uuid is None or json_uuid is None:
                continue
            samples.append((json_uuid, text_json, img))
            json_uuid = img_uuid = None
    return samples


def _metaclip_prob(ids: list[int], counts: np.ndarray, t: float) -> float:
    """MetaCLIP's curate.py: 1 - prod(1 - min(1, t / count)) over the text's entries."""
    return 1.0 - math.prod(1.0 - min(1.0, t / float(counts[e])) for e in ids)


def test_the_layout_metaclip_reads_with_online_curation(pool, tmp_path):
    run, shards, images = pool
    out = tmp_path / "metaclip"
    result = _convert(
        [
            str(run),
            str(out),
            "--to",
            "metaclip",
            "--shards",
            f"{shards}/{{00000..00002}}.tar",
            "--t",
            str(T),
        ]
    )
    assert result.exit_code == 0, result.output
    export = {
        row["uuid"]: row for row in pq.read_table(run.parent / "pool-export.parquet").to_pylist()
    }
    counts = np.load(run / "entry_counts.npy")
    seen = {}
    expected = 0.0
    for shard_id in range(SHARDS):
        samples = metaclip_samples(out / "data" / str(shard_id % 100) / f"{shard_id}.tar")
        curation = json.loads(
            (out / "online_curation" / str(shard_id % 100) / f"{shard_id}.json").read_text()
        )
        assert sorted(curation) == sorted(uuid for uuid, _, _ in samples)  # only this shard's
        for uuid, text_json, img in samples:
            assert uuid not in seen
            seen[uuid] = img
            row = export[uuid]
            assert [text for _, text in text_json["texts"]] == row["texts"]
            assert [kind for kind, _ in text_json["texts"]] == [
                s.removeprefix("json:texts:") for s in row["sources"]
            ]
            assert text_json["entry_ids"] == row["entry_ids"]
            want = [
                [text, _metaclip_prob(ids, counts, T)]
                for text, ids in zip(row["texts"], row["entry_ids"], strict=True)
            ]
            assert [text for text, _ in curation[uuid]] == [text for text, _ in want]
            assert np.allclose([p for _, p in curation[uuid]], [p for _, p in want], rtol=1e-12)
            expected += np.mean([p for _, p in want])
    assert seen == images  # every downloaded JPEG, once, byte for byte
    summary = json.loads((out / "export.json").read_text())
    assert summary["images"] == len(images)
    assert summary["skipped"] == {"not_jpeg": len(export) - len(images)}
    assert summary["metaclip_config"] == {
        "train_data": f"{out}/data/{{0..{SHARDS}}}.tar",
        "train_num_samples": round(expected),
        "online_curation": f"{out}/online_curation",
    }
    assert "skipped: not_jpeg" in result.output and "online_curation=" in result.output


def test_a_rerun_resumes_and_rebuilds_a_damaged_shard_to_the_same_bytes(pool, tmp_path):
    run, shards, _ = pool
    out = tmp_path / "metaclip"
    args = [str(run), str(out), "--to", "metaclip", "--shards", f"{shards}/*.tar", "--t", str(T)]
    assert _convert(args).exit_code == 0
    first = _files(out)
    # A killed conversion of shard 1: its tar cut short, no marker (written last).
    tar = out / "data" / "1" / "1.tar"
    tar.write_bytes(tar.read_bytes()[:1000])
    (out / "data" / "1" / "1.stats.json").unlink()
    (out / "export.json").unlink()
    untouched = (out / "data" / "0" / "0.tar").stat().st_mtime_ns
    again = _convert(args)
    assert again.exit_code == 0, again.output
    assert "(resumed)" in again.output
    assert (out / "data" / "0" / "0.tar").stat().st_mtime_ns == untouched  # not redone
    assert _files(out) == first


def test_another_t_is_refused_then_replaced_with_overwrite(pool, tmp_path):
    run, shards, _ = pool
    out = tmp_path / "metaclip"
    base = [str(run), str(out), "--to", "metaclip", "--shards", f"{shards}/*.tar"]
    assert _convert([*base, "--t", str(T)]).exit_code == 0
    (out / "notes.txt").write_text("mine")
    refused = _convert([*base, "--t", "1"])
    assert refused.exit_code == 2 and refused.output.startswith("error: ")
    assert "differs in: t" in refused.output
    replaced = _convert([*base, "--t", "1", "--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    counts = np.load(run / "entry_counts.npy")
    curation = json.loads((out / "online_curation" / "0" / "0.json").read_text())
    for uuid, text_json, _ in metaclip_samples(out / "data" / "0" / "0.tar"):
        probs = [p for _, p in curation[uuid]]
        assert probs == pytest.approx(
            [_metaclip_prob(ids, counts, 1) for ids in text_json["entry_ids"]]
        )
    assert (out / "notes.txt").read_text() == "mine"  # a file no run wrote is kept


def test_a_curated_folder_has_no_online_curation_and_refuses_t(tmp_path):
    pq.write_table(_pool(30), tmp_path / "pool.parquet")
    run = tmp_path / "run"
    run_match([str(tmp_path / "pool.parquet")], run, META, text_column="alt")
    run_balance(run, t=2, seed=0)
    (curated,) = run.glob("curated-t*")
    run_export(curated, "img2dataset", tmp_path / "subset.parquet")
    images = _download(pq.read_table(tmp_path / "subset.parquet"), tmp_path / "shards")
    out = tmp_path / "metaclip"
    base = [str(curated), str(out), "--to", "metaclip", "--shards", f"{tmp_path}/shards/*.tar"]
    refused = _convert([*base, "--t", "2"])
    assert refused.exit_code == 2 and "balanced already" in refused.output
    done = _convert(base)
    assert done.exit_code == 0, done.output
    assert not (out / "online_curation").exists()
    got = {
        uuid: img
        for p in sorted((out / "data").rglob("*.tar"))
        for uuid, _, img in metaclip_samples(p)
    }
    assert got == images
    assert json.loads((out / "export.json").read_text())["metaclip_config"][
        "train_num_samples"
    ] == len(images)


def test_a_pool_without_t_and_a_truncated_shard_are_one_line_errors(pool, tmp_path):
    run, shards, _ = pool
    out = tmp_path / "metaclip"
    no_t = _convert([str(run), str(out), "--to", "metaclip", "--shards", f"{shards}/*.tar"])
    assert no_t.exit_code == 2 and no_t.output.count("\n") == 1 and "--t" in no_t.output
    cut = tmp_path / "cut"
    cut.mkdir()
    for p in shards.glob("*.tar"):
        (cut / p.name).write_bytes(p.read_bytes())
    damaged = cut / "00001.tar"
    damaged.write_bytes(damaged.read_bytes()[:3000])
    args = [str(run), str(out), "--to", "metaclip", "--shards", f"{cut}/*.tar", "--t", str(T)]
    result = _convert(args)
    assert result.exit_code == 2, result.output
    last = result.output.splitlines()[-1]  # after the progress bar's line
    assert last.startswith("error: ") and result.output.count("error") == 1
    assert "00001.tar: cannot be converted (unexpected end of data)" in last
    assert (out / "data" / "0" / "0.stats.json").exists()  # the shard before it is kept
    assert not (out / "data" / "1" / "1.tar").exists() and not (out / "export.json").exists()
    damaged.write_bytes((shards / "00001.tar").read_bytes())  # downloaded again
    assert _convert(args).exit_code == 0
    assert (out / "export.json").exists()


def test_ctrl_c_mid_export_is_one_line_and_the_same_command_finishes_it(pool, tmp_path):
    run, shards, _ = pool
    fed = tmp_path / "shards"
    shutil.copytree(shards, fed)
    pattern = f"{fed}/{{00000..00002}}.tar"

    def args(out):
        return ["export", str(run), str(out), "--to", "metaclip", "--shards", pattern, "--t", "3"]

    assert _convert(args(tmp_path / "clean")[1:]).exit_code == 0
    # Shard 2 becomes a pipe nobody writes to yet: the export waits on it, mid-run, however fast
    # the machine is.
    blocked = fed / "00002.tar"
    real = blocked.read_bytes()
    blocked.unlink()
    os.mkfifo(blocked)
    out = tmp_path / "out"
    interrupted = Run(args(out), tmp_path / "log")
    deadline = time.monotonic() + 120
    while not (out / "data" / "1" / "1.stats.json").exists():
        assert interrupted.process.poll() is None, interrupted.stderr
        assert time.monotonic() < deadline, "shard 1 was not converted within 120 s"
        time.sleep(0.01)
    time.sleep(0.3)  # now opening shard 2
    os.killpg(interrupted.process.pid, signal.SIGINT)
    assert interrupted.ends() == 130
    assert interrupted.error_line().startswith("error: interrupted (Ctrl-C)")
    assert not (out / "export.json").exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]  # no half file left
    blocked.unlink()
    blocked.write_bytes(real)  # downloaded again
    again = subprocess.run(
        [sys.executable, "-m", "metacurate", *args(out)], capture_output=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    assert _files(out) == _files(tmp_path / "clean")


def _files(folder) -> dict:
    """Every file a user reads (not the lock), export.json with its folder's name made neutral."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            data = path.read_bytes()
            files[str(path.relative_to(folder))] = data.replace(str(folder).encode(), b"OUT")
    return files


def test_two_workers_write_the_same_bytes_as_one(pool, tmp_path):
    run, shards, _ = pool
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        args = [str(run), str(out), "--to", "metaclip", "--shards", f"{shards}/*.tar"]
        result = _convert([*args, "--t", str(T), "--workers", str(workers)])
        assert result.exit_code == 0, result.output
        outs[workers] = _files(out)
    assert outs[1] == outs[2] and len(outs[1]) == 2 + 3 * SHARDS
    refused = _convert(
        [str(run), str(tmp_path / "x.parquet"), "--to", "img2dataset", "--workers", "2"]
    )
    assert refused.exit_code == 2 and "are options of --to metaclip" in refused.output
