"""The paper's chain end to end, through the commands a user runs: curate a pool whose images
are served on 127.0.0.1, export the matched pool, download it with img2dataset (the printed
command, for real), read the shards with the online-balancing loader, train a tiny open_clip
model on them, resume, and evaluate zero-shot."""

import json
import os
import shlex
import subprocess
import sys
import tarfile

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import concat_parts
from imagegen import COLOURS, image, write_image_folder
from typer.testing import CliRunner

from metacurate.cli import app
from metacurate.loader import OnlineBalance, balanced_samples, expand_shards
from metacurate.pipeline.export import run_export

CONCEPTS = list(COLOURS)
IMAGES = 48


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory):
    """A match run over a pool of served images (two texts each; one 404, one broken image),
    its export, and img2dataset's shards of it."""
    import random

    root = tmp_path_factory.mktemp("chain")
    www = root / "www"
    www.mkdir()
    from conftest import RangeServer

    server = RangeServer(www)
    rng = random.Random(0)
    urls, texts = [], []
    for i in range(IMAGES):
        concept = CONCEPTS[i % len(CONCEPTS)]
        picture, shape = image(concept, rng)
        picture.save(www / f"{i}.jpg")
        urls += [f"{server.url}{i}.jpg"] * 2
        texts += [f"a {concept} {shape}", f"the colour {concept}"]
    (www / "broken.jpg").write_bytes(b"not an image at all")
    urls += [f"{server.url}missing.jpg", f"{server.url}broken.jpg"]
    texts += ["a red square", "a blue circle"]
    pq.write_table(pa.table({"url": urls, "text": texts}), root / "pool.parquet")
    metadata = root / "metadata.txt"
    metadata.write_text("\n".join([*CONCEPTS, "square", "circle", "colour"]) + "\n")
    runner = CliRunner()
    out = root / "run"
    ran = runner.invoke(
        app, ["match", str(root / "pool.parquet"), "--out", str(out), "--metadata", str(metadata)]
    )
    assert ran.exit_code == 0, ran.output
    summary = run_export(out, "img2dataset", root / "pool-export.parquet")
    command = shlex.split(summary["next"])  # the command export prints, run as it is
    command[command.index("--image_size") + 1] = "32"
    command += ["--processes_count", "1", "--thread_count", "4", "--timeout", "5"]
    # img2dataset's console script, run by this interpreter wherever pip put the script
    command[:1] = [sys.executable, "-c", "import img2dataset; img2dataset.main()"]
    env = {**os.environ, "NO_ALBUMENTATIONS_UPDATE": "1", "WANDB_MODE": "disabled"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr[-3000:]
    shards = root / "pool-export-shards"
    return out, shards


def test_img2dataset_downloads_the_export_and_counts_what_failed(downloaded):
    out, shards = downloaded
    stats = [json.loads(p.read_text()) for p in shards.glob("*_stats.json")]
    assert sum(s["successes"] for s in stats) == IMAGES
    assert sum(s["count"] for s in stats) == IMAGES + 2  # one row per image, not per text
    failed = sum(s["failed_to_download"] + s["failed_to_resize"] for s in stats)
    assert failed == 2  # the 404 and the broken image: counted, not fatal
    sample = json.loads(next(iter(_jsons(shards))))
    assert {"uuid", "texts", "entry_ids", "caption", "url"} <= set(sample)
    assert len(sample["texts"]) == len(sample["entry_ids"]) == 2


def _jsons(shards):
    for tar_path in sorted(shards.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            for member in tar:
                if member.name.endswith(".json"):
                    yield tar.extractfile(member).read()


def test_epoch_0_of_the_downloaded_shards_is_the_balance_subset(downloaded, tmp_path):
    out, shards = downloaded
    ran = CliRunner().invoke(app, ["balance", str(out), "--t", "3", "--seed", "7"])
    assert ran.exit_code == 0, ran.output
    curated = concat_parts(out / "curated-t3-seed7")
    served = {url for url in curated["url"].to_pylist() if "missing" not in url}
    served.discard(next((u for u in served if u.endswith("broken.jpg")), None))
    want = sorted(
        (url, text)
        for url, text in zip(curated["url"].to_pylist(), curated["text"].to_pylist(), strict=True)
        if url in served
    )
    balance = OnlineBalance(np.load(out / "entry_counts.npy"), t=3, seed=7)
    used = list(balanced_samples(balance, expand_shards(str(shards / "*.tar")), epoch=0))
    got = sorted((s["json"]["url"], text) for s in used for text in s["kept_texts"])
    assert got == want
    assert all(s["text"] in s["kept_texts"] for s in used)
    later = list(balanced_samples(balance, expand_shards(str(shards / "*.tar")), epoch=1))
    assert sorted((s["json"]["url"], s["text"]) for s in later) != sorted(
        (s["json"]["url"], s["text"]) for s in used
    )


def test_the_expected_epoch_size_reads_img2datasets_parquet_files_as_the_tars_say(downloaded):
    out, shards = downloaded
    from metacurate.loader import shard_expected_size, shard_records

    (tar,) = expand_shards(str(shards / "*.tar"))
    assert tar.endswith(".tar") and os.path.exists(tar[:-4] + ".parquet")  # img2dataset's
    balance = OnlineBalance(np.load(out / "entry_counts.npy"), t=3, seed=0)
    from_tar = list(shard_records(tar))
    assert len(from_tar) == IMAGES  # the failed rows are in the Parquet file, not the tar
    assert shard_expected_size(balance, tar) == pytest.approx(balance.expected_size(from_tar))


def test_train_resume_and_evaluate_through_the_commands(downloaded, tmp_path):
    out, shards = downloaded
    folder = write_image_folder(tmp_path / "zeroshot", CONCEPTS, per_class=3, seed=1)
    run = tmp_path / "clip"
    args = [
        *("train", "--data", str(shards / "{00000..00000}.tar"), "--counts", str(out)),
        *("--t", "10", "--model", "metacurate-tiny-vit", "--epochs", "2", "--batch-size", "8"),
        *("--out", str(run), "--zeroshot", str(folder)),
    ]
    runner = CliRunner()
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["epoch_1.pt", "epoch_2.pt"]
    scores = json.loads((run / "zeroshot.json").read_text())
    assert scores["images"] == 3 * len(CONCEPTS) and 0 <= scores["top1"] <= scores["top5"] <= 1
    lines = (run / "log.jsonl").read_text().splitlines()

    again = runner.invoke(app, args)  # the same command: the run is complete, nothing retrained
    assert again.exit_code == 0, again.output
    assert "resumed from" in again.output
    assert (run / "log.jsonl").read_text().splitlines() == lines

    evaluated = runner.invoke(
        app,
        [
            *("eval", str(run / "checkpoints" / "epoch_2.pt"), "--zeroshot", str(folder)),
            *("--templates", "simple", "--json", str(tmp_path / "scores.json")),
        ],
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert "top-1" in evaluated.output
    assert json.loads((tmp_path / "scores.json").read_text())["templates"] == 1


def test_train_refuses_counts_of_another_run(downloaded, tmp_path):
    _, shards = downloaded
    np.save(tmp_path / "entry_counts.npy", np.ones(3, np.uint64))  # too few entries
    result = CliRunner().invoke(
        app,
        [
            *("train", "--data", str(shards / "*.tar"), "--counts", str(tmp_path)),
            *("--t", "10", "--model", "metacurate-tiny-vit", "--batch-size", "4"),
            *("--out", str(tmp_path / "clip")),
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and "outside the entry counts" in result.output


def test_train_names_a_missing_shard_in_one_line(downloaded, tmp_path):
    out, shards = downloaded
    result = CliRunner().invoke(
        app,
        [
            *("train", "--data", str(shards / "{00000..00002}.tar"), "--counts", str(out)),
            *("--t", "10", "--model", "metacurate-tiny-vit", "--out", str(tmp_path / "clip")),
        ],
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1
    assert "00001.tar: no such shard file (and 1 more)" in " ".join(result.output.split())


def test_metaclip_layout_of_the_downloaded_shards(downloaded, tmp_path):
    from test_export_metaclip import metaclip_samples

    out, shards = downloaded
    result = CliRunner().invoke(
        app,
        [
            *("export", str(out), str(tmp_path / "metaclip"), "--to", "metaclip"),
            *("--shards", str(shards / "*.tar"), "--t", "10"),
        ],
    )
    assert result.exit_code == 0, result.output
    got = {
        uuid: (texts["texts"], image)
        for tar in (tmp_path / "metaclip" / "data").rglob("*.tar")
        for uuid, texts, image in metaclip_samples(tar)
    }
    want = {}
    for tar_path in sorted(shards.glob("*.tar")):
        with tarfile.open(tar_path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}
        for name, data in members.items():
            if name.endswith(".json"):
                meta = json.loads(data)
                image = members[name.replace(".json", ".jpg")]
                want[meta["uuid"]] = ([["text", text] for text in meta["texts"]], image)
    assert len(got) == IMAGES and got == want
    curation = {}
    for path in (tmp_path / "metaclip" / "online_curation").rglob("*.json"):
        curation.update(json.loads(path.read_text()))
    assert sorted(curation) == sorted(want)
