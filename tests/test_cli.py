"""The commands as a user types them."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
from helpers import concat_parts
from typer.testing import CliRunner

from metacurate.cli import DEMO_T, app

runner = CliRunner()


def test_demo_curates_the_bundled_pool(tmp_path):
    result = runner.invoke(app, ["demo", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    curated = tmp_path / f"out/curated-t{DEMO_T}-seed0"
    card = json.loads((curated / "datacard.json").read_text())
    assert card["inputs"]["rows_read"] == pq.read_metadata(card["inputs"]["files"][0]).num_rows
    assert (
        0
        < card["balancing"]["rows_kept"]
        < card["matching"]["rows_matched"]
        < card["inputs"]["rows_read"]
    )
    card_md = (curated / "datacard.md").read_text()
    # The card says where the default metadata comes from and how it differs from the paper's.
    assert "WordNet 3.0 license" in card_md and "CC-BY-SA-4.0" in card_md
    assert "stand-in for the paper's metadata" in card_md
    kept = pq.read_table(curated / "part-00000.parquet")
    assert kept.num_rows == card["balancing"]["rows_kept"]
    assert {"url", "uuid", "text", "entry_ids", "keep_prob"} <= set(kept.column_names)
    # A second run resumes: nothing to redo, same result.
    again = runner.invoke(app, ["demo", str(tmp_path / "out")])
    assert again.exit_code == 0, again.output
    assert json.loads((curated / "datacard.json").read_text())["balancing"] == card["balancing"]


def test_curate_match_balance_and_explain(tmp_path):
    pool = tmp_path / "pool.parquet"
    texts = ["a black dog", "The dog", "cat photo", "nothing here", "New York at night", "dog"] * 50
    pq.write_table(pa.table({"url": [f"u{i}" for i in range(len(texts))], "text": texts}), pool)
    meta = tmp_path / "meta.txt"
    meta.write_text("dog\nblack dog\ncat\nphoto\nNew York\nNew\ne.g\n")
    out = tmp_path / "out"
    result = runner.invoke(app, ["match", str(pool), "--out", str(out), "--metadata", str(meta)])
    assert result.exit_code == 0, result.output
    assert "1 can never match" in result.output
    assert "never matchable, e.g. 'e.g'" in result.output
    result = runner.invoke(app, ["balance", str(out), "--tail-fraction", "0.2", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert list(out.glob("curated-t*-seed3"))
    result = runner.invoke(app, ["explain", "A black dog!", "--counts", str(out), "--t", "10"])
    assert result.exit_code == 0, result.output
    assert "' A black dog !  '" in result.output
    assert "'black dog'" in result.output and "'dog'" in result.output
    # p_e of 'dog' (150 matches) is 10/150; 'black dog' (50): keep = 1 - (1 - 1/15)(1 - .2)
    assert "0.0667" in result.output and "0.2000" in result.output
    assert "keep probability 1 - prod(1 - p_e) = 0.2533" in result.output


def test_errors_are_one_line_and_exit_non_zero(tmp_path):
    result = runner.invoke(
        app, ["curate", str(tmp_path / "missing.parquet"), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2
    assert "missing.parquet: file not found" in result.output
    result = runner.invoke(app, ["balance", str(tmp_path / "o"), "--t", "5"])
    assert result.exit_code == 2
    assert "run `metacurate match` first" in result.output


def test_export_hands_the_demo_to_img2dataset(tmp_path):
    assert runner.invoke(app, ["demo", str(tmp_path / "out")]).exit_code == 0
    curated = tmp_path / f"out/curated-t{DEMO_T}-seed0"
    target = tmp_path / "for_download.parquet"
    result = runner.invoke(app, ["export", str(curated), "--to", "img2dataset", str(target)])
    assert result.exit_code == 0, result.output
    assert "img2dataset --url_list" in result.output
    exported = pq.read_table(target)
    assert exported.column_names[:2] == ["url", "caption"]
    assert exported.num_rows == pq.read_metadata(curated / "part-00000.parquet").num_rows
    refused = runner.invoke(app, ["export", str(curated), "--to", "csv", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "unknown export format 'csv'" in refused.output


def test_curate_and_extract_read_web_archives(warc_dir, tmp_path):
    warcs = sorted(str(p) for p in warc_dir.glob("*.warc.gz"))
    extracted = runner.invoke(app, ["extract", *warcs, "--out", str(tmp_path / "pairs")])
    assert extracted.exit_code == 0, extracted.output
    summary = json.loads((tmp_path / "pairs/extract_summary.json").read_text())
    pairs = concat_parts(tmp_path / "pairs", "*.parquet")
    assert pairs.num_rows == summary["rows_written"] > 0
    assert set(pairs["lang"].to_pylist()) == {"en"}  # web archives default to the paper's English
    assert summary["rejected"]["corrupt_gzip"] >= 1  # the clipped sample, reported and survived
    assert "corrupt_gzip" in extracted.output

    curated = runner.invoke(
        app, ["curate", *warcs, "--out", str(tmp_path / "out"), "--t", "2", "--lang", "all"]
    )
    assert curated.exit_code == 0, curated.output
    kept = pq.read_table(next((tmp_path / "out/curated-t2-seed0").glob("part-*.parquet")))
    assert {"url", "text", "uuid", "page_url", "source", "crawl_file", "lang"} <= set(
        kept.column_names
    )
    card = json.loads((tmp_path / "out/curated-t2-seed0/datacard.json").read_text())
    assert card["matching"]["seen"]["records"] == summary["seen"]["records"]
    assert card["matching"]["rows_read"] == summary["rows_read"]  # --lang only filters later


def test_the_kept_share_is_of_the_rows_balancing_saw(tmp_path):
    """Duplicates are dropped before balancing: the share must not count them."""
    texts = [f"a dog number {i}" for i in range(50)]
    pool = pa.table({"url": [f"https://e.com/{i}.jpg" for i in range(50)] * 2, "text": texts * 2})
    pq.write_table(pool, tmp_path / "p.parquet")
    (tmp_path / "m.txt").write_text("dog\n")
    args = ["curate", str(tmp_path / "p.parquet"), "--out", str(tmp_path / "o"), "--t", "10"]
    result = runner.invoke(app, [*args, "--metadata", str(tmp_path / "m.txt")])
    assert result.exit_code == 0, result.output
    card = json.loads((tmp_path / "o/curated-t10-seed0/datacard.json").read_text())
    kept = card["balancing"]["rows_kept"]
    assert card["matching"]["rows_matched"] == 100 and card["matching"]["rows_written"] == 50
    assert f"{kept:,} ({kept / 50:.1%} of 50 matched rows)" in " ".join(result.output.split())


def test_engine_options_that_cannot_apply_are_one_line_errors(tmp_path):
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"text": ["a dog"]}), pool)
    cases = {
        ("--engine", "spark"): "--engine 'spark': expected one of local, ray",
        ("--ray-address", "auto"): "--ray-address needs --engine ray",
        ("--engine", "ray", "--ray-address", "auto", "--workers", "4"): "--workers sets",
    }
    for options, said in cases.items():
        result = runner.invoke(app, ["match", str(pool), "--out", str(tmp_path / "o"), *options])
        assert result.exit_code == 2 and said in result.output, result.output
        assert not (tmp_path / "o").exists()


def test_an_output_url_that_cannot_hold_one_is_refused_not_made_a_local_folder(
    tmp_path, monkeypatch
):
    """Run folders may be object-store prefixes; an export file, metadata or an HTTP URL may
    not: each is refused in one line, and no local folder named ``s3:`` appears."""
    monkeypatch.chdir(tmp_path)
    pool = tmp_path / "pool.parquet"
    pq.write_table(pa.table({"text": ["a cat"]}), pool)
    for args, said in (
        (["export", "curated", "s3://bucket/pool.parquet", "--to", "img2dataset"], "local"),
        (["metadata", "build", "--out", "gs://b/metadata.json"], "local"),
        (["match", str(pool), "--out", "https://example.com/out"], "only inputs"),
        (["match", str(pool), "--out", "s3://"], "give a bucket"),
        (["match", str(pool), "--metadata", "https://x.org/m.json", "--out", "o"], "not HTTP"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert said in result.output and "://" in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert list(tmp_path.iterdir()) == [pool]
