"""export: a curated folder made by the real pipeline -> img2dataset Parquet / MetaCLIP JSON."""

import io
import json
import re
import shlex
import shutil
import tarfile
from collections import defaultdict

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import concat_parts
from typer.testing import CliRunner

from metacurate.cli import app
from metacurate.errors import InputError, OutputConflict
from metacurate.metadata import Metadata
from metacurate.pipeline import export
from metacurate.pipeline.balance import run_balance
from metacurate.pipeline.export import run_export
from metacurate.pipeline.match import run_match
from metacurate.readers.base import image_uuid

META = Metadata(["dog", "cat", "red", "photo", "black dog"], "test")
WORDS = ["dog", "cat", "red", "photo", "black", "a", "of", "zzz"]
TEXT = "alt"  # not the default "text": export must find the column from the data card


def _texts(image: int) -> list[str]:
    """Three distinct texts per image, most of them matching something."""
    return [f"{WORDS[(image + k) % 7]} {WORDS[(image * 3 + k) % 8]} number {k}" for k in range(3)]


def _pool(images: int, no_url_every: int = 0) -> pa.Table:
    """Row k of every image comes after all rows k-1: an image's texts span several parts."""
    rows = [(image, _texts(image)[k]) for k in range(3) for image in range(images)]
    no_url = {i for i in range(images) if no_url_every and i % no_url_every == 0}
    return pa.table(
        {
            "url": [None if i in no_url else f"https://img.test/{i}.jpg" for i, _ in rows],
            TEXT: [text for _, text in rows],
            "lang": ["en"] * len(rows),
        }
    )


def _curate(tmp_path, pool: pa.Table, t: int = 100):
    pq.write_table(pool, tmp_path / "pool.parquet", row_group_size=100)
    out = tmp_path / "out"
    run_match([str(tmp_path / "pool.parquet")], out, META, text_column=TEXT, shard_rows=100)
    run_balance(out, t=t, seed=1)
    (curated,) = out.glob("curated-t*-seed*")
    return curated


@pytest.fixture(scope="module")
def curated(tmp_path_factory):
    folder = _curate(tmp_path_factory.mktemp("curate"), _pool(300))
    assert len(list(folder.glob("part-*.parquet"))) > 3
    return folder


def _rows(table: pa.Table, text_column: str) -> list[tuple]:
    cols = ["url", text_column, "entry_ids", "keep_prob"]
    return sorted(zip(*(table[c].to_pylist() for c in cols), strict=True))


def _image_rows(table: pa.Table, lists: tuple[str, ...]) -> list[tuple]:
    """One image-per-row table back to (url, text, *aligned values) per text."""
    return sorted(
        (image["url"], text, *(image[name][k] for name in lists))
        for image in table.to_pylist()
        for k, text in enumerate(image["texts"])
    )


def test_img2dataset_has_one_row_per_image_with_all_its_texts(curated, tmp_path):
    out = tmp_path / "export" / "pairs.parquet"
    summary = run_export(curated, "img2dataset", out)
    table = pq.read_table(out)
    expected = concat_parts(curated)
    assert table.column_names == [
        *("url", "caption", "uuid", "texts", "entry_ids", "keep_prob", "langs")
    ]
    assert table.schema.field("entry_ids").type == pa.list_(pa.list_(pa.int32()))
    assert table.schema.field("keep_prob").type == pa.list_(pa.float64())
    urls = table["url"].to_pylist()
    assert len(urls) == len(set(urls)) == summary["images"] == len(set(expected["url"].to_pylist()))
    assert any(len(texts) > 1 for texts in table["texts"].to_pylist())  # from several parts
    assert summary["rows"] == summary["rows_in"] == len(expected)
    assert _image_rows(table, ("entry_ids", "keep_prob")) == _rows(expected, TEXT)
    assert table["caption"].to_pylist() == [texts[0] for texts in table["texts"].to_pylist()]
    assert table["uuid"].to_pylist() == [image_uuid(u) for u in urls]
    assert summary["files"] == 1 and summary["paths"] == [str(out)]
    assert summary["skipped"] == {}
    command = shlex.split(summary["next"])
    assert command[command.index("--save_additional_columns") + 1] == (
        '["uuid","texts","entry_ids","keep_prob","langs"]'
    )
    assert command[command.index("--output_format") + 1] == "webdataset"
    assert command[command.index("--output_folder") + 1] == str(out.with_suffix("")) + "-shards"
    assert [p.name for p in out.parent.iterdir()] == ["pairs.parquet"]  # no temporary left


def test_the_whole_matched_pool_is_exported_for_online_balancing(curated, tmp_path):
    run = curated.parent
    matched = concat_parts(run / "matched")
    summary = run_export(run, "img2dataset", tmp_path / "pool.parquet")
    table = pq.read_table(tmp_path / "pool.parquet")
    assert "keep_prob" not in table.column_names  # nothing is drawn yet
    assert summary["rows"] == summary["rows_in"] == len(matched) > len(concat_parts(curated))
    assert summary["images"] == len(table) == len(set(matched["url"].to_pylist()))
    expected = sorted(
        zip(*(matched[c].to_pylist() for c in ("url", TEXT, "entry_ids")), strict=True)
    )
    assert _image_rows(table, ("entry_ids",)) == expected
    summary = run_export(run, "webdataset-json", tmp_path / "json")
    images = _read_jsonl(tmp_path / "json")
    assert sum(len(i["texts"]) for i in images) == len(matched)
    assert all("keep_prob" not in i for i in images)


def test_an_incomplete_match_run_is_not_exported(curated, tmp_path):
    run = _copy_run(curated, tmp_path).parent
    (run / "match_summary.json").unlink()
    with pytest.raises(InputError, match="no completed match stage"):
        run_export(run, "img2dataset", tmp_path / "pool.parquet")
    with pytest.raises(OutputConflict, match="inside the folder it exports"):
        run_export(curated.parent, "img2dataset", curated.parent / "pool.parquet")


def test_img2dataset_skips_and_counts_rows_without_url(tmp_path):
    curated = _curate(tmp_path, _pool(100, no_url_every=4))
    expected = concat_parts(curated)
    without_url = expected["url"].null_count
    assert without_url > 0
    summary = run_export(curated, "img2dataset", tmp_path / "pairs.parquet")
    table = pq.read_table(tmp_path / "pairs.parquet")
    assert summary["skipped"] == {"no_url": without_url}
    assert sum(len(t) for t in table["texts"].to_pylist()) == summary["rows"]
    assert summary["rows"] == len(expected) - without_url
    assert table["url"].null_count == 0


def _read_jsonl(folder) -> list[dict]:
    return [
        json.loads(line)
        for shard in sorted(folder.glob("texts-*.jsonl"))
        for line in shard.read_text("utf-8").splitlines()
    ]


def test_webdataset_json_groups_all_texts_of_a_uuid(curated, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "ROWS_PER_BUCKET", 50)  # several shards from a small set
    out = tmp_path / "wds-json"
    summary = run_export(curated, "webdataset-json", out)
    images = _read_jsonl(out)
    expected = concat_parts(curated)
    assert summary["files"] == len(list(out.glob("texts-*.jsonl"))) > 1
    assert summary["rows"] == len(expected) == sum(len(i["texts"]) for i in images)
    uuids = [i["uuid"] for i in images]
    assert len(uuids) == len(set(uuids)) == summary["uuids"]  # one object per uuid, all shards
    by_url = defaultdict(list)
    for row in expected.to_pylist():
        by_url[row["url"]].append((TEXT, row[TEXT], row["keep_prob"], row["entry_ids"]))
    got = {
        i["url"]: sorted(
            (kind, text, p, ids)
            for (kind, text), p, ids in zip(i["texts"], i["keep_prob"], i["entry_ids"], strict=True)
        )
        for i in images
    }
    assert got == {url: sorted(rows) for url, rows in by_url.items()}
    assert all(i["uuid"] == image_uuid(i["url"]) for i in images)
    assert any(len(i["texts"]) > 1 for i in images)  # texts of one image from several parts
    assert json.loads((out / "export.json").read_text())["uuids"] == len(images)
    assert not list(out.glob(".*"))  # no spill or temporary left


def _metaclip_tar(path, images: int) -> None:
    with tarfile.open(path, "w") as tar:
        for i in range(images):
            uuid = f"{i:024x}"
            texts = {"texts": [["alt", t] for t in _texts(i)] + [["title", f"red photo {i}"]]}
            for name, data in (
                (f"{uuid}.json", json.dumps(texts).encode()),
                (f"{uuid}.jpeg", b"x"),
            ):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


def test_metaclip_shard_round_trips_to_metaclip_texts(tmp_path):
    _metaclip_tar(tmp_path / "0.tar", 50)
    out = tmp_path / "out"
    run_match([str(tmp_path / "0.tar")], out, META)
    run_balance(out, t=10**6)  # every matched pair kept
    (curated,) = out.glob("curated-t*-seed*")
    summary = run_export(curated, "webdataset-json", tmp_path / "json")
    images = {i["uuid"]: i for i in _read_jsonl(tmp_path / "json")}
    assert summary["rows"] == len(concat_parts(curated))
    first = images[f"{0:024x}"]
    assert first["url"] is None
    assert ["title", "red photo 0"] in first["texts"]
    assert all(kind in ("alt", "title") for i in images.values() for kind, _ in i["texts"])
    assert all(p == 1.0 for i in images.values() for p in i["keep_prob"])
    # The reader gives a url column (all null here): nothing img2dataset could download.
    summary = run_export(curated, "img2dataset", tmp_path / "x.parquet")
    assert summary["rows"] == 0
    assert summary["skipped"] == {"no_url": len(concat_parts(curated))}


def test_existing_outputs_conflict_unless_overwrite(curated, tmp_path):
    pairs = tmp_path / "pairs.parquet"
    run_export(curated, "img2dataset", pairs)
    with pytest.raises(OutputConflict, match="already exists; use --overwrite"):
        run_export(curated, "img2dataset", pairs)
    first = pq.read_table(pairs)
    assert run_export(curated, "img2dataset", pairs, overwrite=True)["images"] == len(first)
    assert pq.read_table(pairs).equals(first)

    folder = tmp_path / "json"
    run_export(curated, "webdataset-json", folder)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(OutputConflict, match="already holds an export"):
        run_export(curated, "webdataset-json", folder)
    before = _read_jsonl(folder)
    run_export(curated, "webdataset-json", folder, overwrite=True)
    assert _read_jsonl(folder) == before
    assert (folder / "notes.txt").read_text() == "mine"  # overwrite removes only export files

    with pytest.raises(OutputConflict, match="is a folder"):
        run_export(curated, "img2dataset", folder)
    with pytest.raises(OutputConflict, match="is a file"):
        run_export(curated, "webdataset-json", pairs)


def test_a_killed_export_is_replaced_without_overwrite(curated, tmp_path):
    folder = tmp_path / "json"
    folder.mkdir()
    (folder / "texts-00000-of-00009.jsonl").write_text('{"half": ')
    (folder / ".texts-00001-of-00009.jsonl.tmp-123").write_text("partial")
    (folder / ".spill-abc").mkdir()
    summary = run_export(curated, "webdataset-json", folder)
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["export.json", *(p.rsplit("/", 1)[-1] for p in summary["paths"])]
    )


def test_a_killed_downloads_export_leaves_no_spill_behind_once_run_again(curated, tmp_path):
    from metacurate.writers.lock import lock

    out = tmp_path / "pairs.parquet"
    killed = tmp_path / ".pairs.parquet.spill-abc"  # what a killed export left
    killed.mkdir()
    (killed / "0.arrow").write_bytes(b"half")
    running = tmp_path / ".pairs.parquet.spill-def"  # another export of it, still running
    running.mkdir()
    theirs = tmp_path / ".other.parquet.spill-ghi"  # not this output's
    theirs.mkdir()
    with lock(running):
        run_export(curated, "img2dataset", out)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["pairs.parquet", running.name, theirs.name]
    )


def test_input_errors(curated, tmp_path):
    with pytest.raises(InputError, match="nope: no such folder"):
        run_export(tmp_path / "nope", "img2dataset", tmp_path / "a.parquet")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a curated folder"):
        run_export(tmp_path / "empty", "img2dataset", tmp_path / "a.parquet")
    with pytest.raises(InputError, match="unknown export format 'csv'"):
        run_export(curated, "csv", tmp_path / "a.csv")


def test_text_column_from_the_data_card(tmp_path):
    curated = _curate(tmp_path, _pool(30))
    assert run_export(curated, "img2dataset", tmp_path / "a.parquet")["text_column"] == TEXT
    card = json.loads((curated / "datacard.json").read_text())
    del card["inputs"]["text_column"]
    (curated / "datacard.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="cannot tell the text column"):
        run_export(curated, "img2dataset", tmp_path / "b.parquet")


def test_missing_text_column_names_the_part(tmp_path):
    curated = _curate(tmp_path, _pool(30))
    part = sorted(curated.glob("part-*.parquet"))[0]
    table = pq.read_table(part)
    pq.write_table(
        table.rename_columns([n.replace(TEXT, "other") for n in table.column_names]), part
    )
    with pytest.raises(InputError, match=rf"{part.name}: no column 'alt'; columns found"):
        run_export(curated, "webdataset-json", tmp_path / "json")


def _copy_run(curated, tmp_path):
    """The curated folder of a copy of the fixture's whole run, free to damage."""
    shutil.copytree(curated.parent, tmp_path / "run")
    return tmp_path / "run" / curated.name


def _kill_balance(folder, parts_done: int) -> tuple[dict, list[str]]:
    """Leave ``folder`` as a balance killed after ``parts_done`` parts leaves it: no card, the
    next part written but not marked, the rest not started. The card and its listed parts."""
    card = json.loads((folder / "datacard.json").read_text())
    listed = card["outputs"]["parquet"]
    assert len(listed) > parts_done + 1
    (folder / "datacard.json").unlink()
    (folder / listed[parts_done]).with_suffix(".json").unlink()
    for name in listed[parts_done + 1 :]:
        (folder / name).unlink()
        (folder / name).with_suffix(".json").unlink()
    return card, listed


def test_export_refuses_a_killed_balance_and_names_the_command(curated, tmp_path):
    folder = _copy_run(curated, tmp_path)
    manifest = json.loads((folder / "balance_run.json").read_text())
    card, listed = _kill_balance(folder, 2)
    out = tmp_path / "pairs.parquet"
    with pytest.raises(InputError) as refused:
        run_export(folder, "img2dataset", out)
    assert str(refused.value) == (
        f"{folder}: balancing is not complete (2 of {len(listed)} parts, no datacard.json);"
        f" run `metacurate balance {folder.parent} --t {manifest['t']} --seed {manifest['seed']}`"
        " to finish it"
    )
    assert not out.exists()
    run_balance(folder.parent, t=manifest["t"], seed=manifest["seed"])
    summary = run_export(folder, "img2dataset", out)
    rows = card["outputs"]["rows"]
    assert summary["rows"] == summary["rows_in"] == rows
    assert summary["images"] == len(pq.read_table(out))


def test_export_reads_only_the_parts_the_data_card_lists(curated, tmp_path):
    folder = _copy_run(curated, tmp_path)
    card = json.loads((folder / "datacard.json").read_text())
    listed = card["outputs"]["parquet"]
    assert pq.read_metadata(folder / listed[0]).num_rows > 0
    shutil.copy(folder / listed[0], folder / "part-99999.parquet")  # the user's, not balance's
    summary = run_export(folder, "img2dataset", tmp_path / "a.parquet")
    assert summary["rows_in"] == summary["rows"] == card["outputs"]["rows"]

    # A part lost after its marker was written: the command named must bring it back.
    (folder / listed[1]).unlink()
    manifest = json.loads((folder / "balance_run.json").read_text())
    with pytest.raises(InputError) as refused:
        run_export(folder, "webdataset-json", tmp_path / "json")
    assert str(refused.value) == (
        f"{folder}: balancing is not complete ({len(listed) - 1} of {len(listed)} parts);"
        f" run `metacurate balance {folder.parent} --t {manifest['t']} --seed {manifest['seed']}`"
        " to finish it"
    )
    assert not (tmp_path / "json").exists()
    run_balance(folder.parent, t=manifest["t"], seed=manifest["seed"])
    assert run_export(folder, "webdataset-json", tmp_path / "json")["rows"] == summary["rows"]


def test_cli_export_refuses_a_killed_balance_until_its_command_ran(curated, tmp_path):
    folder = _copy_run(curated, tmp_path)
    card, _ = _kill_balance(folder, 1)
    runner = CliRunner()
    export_args = ["export", str(folder), str(tmp_path / "x.parquet"), "--to", "img2dataset"]
    refused = runner.invoke(app, export_args)
    assert refused.exit_code == 2
    assert refused.output.startswith("error: ") and refused.output.count("\n") == 1
    command = shlex.split(re.search(r"run `(.+)` to finish it", refused.output).group(1))
    assert command[:2] == ["metacurate", "balance"]
    finished = runner.invoke(app, command[1:])
    assert finished.exit_code == 0, finished.output
    exported = runner.invoke(app, export_args)
    assert exported.exit_code == 0, exported.output
    rows = card["outputs"]["rows"]
    assert f"{rows:,} of {rows:,}" in exported.output


def test_img2dataset_command_quotes_a_path_with_spaces(curated, tmp_path):
    out = tmp_path / "my exports" / "pairs for 'download'.parquet"
    summary = run_export(curated, "img2dataset", out)
    command = shlex.split(summary["next"])
    assert command[0] == "img2dataset"
    assert command[command.index("--url_list") + 1] == str(out)
    assert command[command.index("--output_folder") + 1] == str(out.with_suffix("")) + "-shards"
